"""Offline Pulumi runtime for the tests: realistic resource mocks and a recording monitor.

`FederationMocks` returns, for each resource type, what its provider would: real RSA keys and
X.509 certificates, Entra ID and ARM IDs in their real formats, Kubernetes objects with the API
server's defaults, and the PKCS#12 bundle built by running the dynamic provider itself. It also
checks each request the way the real service would (a certificate credential must name an
application by its resource path, a role assignment name must be a GUID, and so on) and records
a rejection instead of answering when a request would fail in Azure or Kubernetes.

`RecordingMonitor` records every registration with its parent, dependencies, provider and
options, and applies the two secrecy rules the engine applies and the stock mock monitor does
not: outputs named in `additional_secret_outputs` are secret, and so is any output whose input
of the same name was secret.

`deploy` runs a program under both and returns a `Deployment` for the assertions. Passing the
previous deployment as `prior` replays what the engine does on a second `pulumi up`: a resource
whose inputs did not change keeps its outputs, and the dynamic bundle is asked for its diff.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import logging
import os
import re
import runpy
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dill
import pulumi
import pulumi.runtime
from cryptography import x509
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from tests import certs

PROJECT = "coder-azure-federation"
ROOT = Path(__file__).resolve().parent.parent

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
DEPLOYER_OBJECT_ID = "5b2c1a3e-8f4d-4e6a-9b7c-0d1e2f3a4b5c"
DEPLOYER_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

SECRET_SIG = {rpc._special_sig_key: rpc._special_secret_sig}
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RFC3339_WHOLE_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

TLS_KEY = "tls:index/privateKey:PrivateKey"
TLS_CERT = "tls:index/selfSignedCert:SelfSignedCert"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
BUNDLE = "pulumi-python:dynamic/pkcs12:Bundle"
APPLICATION = "azuread:index/application:Application"
SERVICE_PRINCIPAL = "azuread:index/servicePrincipal:ServicePrincipal"
CREDENTIAL = "azuread:index/applicationCertificate:ApplicationCertificate"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
NAMESPACE = "kubernetes:core/v1:Namespace"
SECRET = "kubernetes:core/v1:Secret"
SECRET_PATCH = "kubernetes:core/v1:SecretPatch"
ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"
FEDERATED_CREDENTIAL = (
    "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential"
)
MOUNT_REFRESH_WAIT = "pulumi-python:dynamic/rotation:MountRefreshWait"
COMPONENT = "coder-azure-federation:index:CoderAzureFederation"
DYNAMIC_TYPES = (BUNDLE, MOUNT_REFRESH_WAIT)

RELEASE = "kubernetes:helm.sh/v3:Release"


CERTIFICATE_GRAPH_TYPES = {
    COMPONENT: 1,
    TLS_KEY: 1,
    TLS_CERT: 1,
    RANDOM_PASSWORD: 1,
    BUNDLE: 1,
    APPLICATION: 1,
    SERVICE_PRINCIPAL: 1,
    CREDENTIAL: 1,
    ROLE_ASSIGNMENT: 1,
    SECRET: 5,
    SECRET_PATCH: 2,
    MOUNT_REFRESH_WAIT: 1,
    RELEASE: 1,
}
"""Resource types, with counts, of a certificate-mode graph with one role and no namespace."""


COMPONENT_OUTPUTS = {
    "client_id",
    "tenant_id",
    "subscription_id",
    "application_object_id",
    "service_principal_object_id",
    "certificate_thumbprint",
    "certificate_expiry",
    "secret_names",
    "release_name",
    "namespace",
    "release_status",
}
"""Names of the outputs the component registers."""


def is_secret_wrapped(value: Any) -> bool:
    """Tell whether a deserialised property value is wrapped as a secret."""
    return isinstance(value, Mapping) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def unwrap(value: Any) -> Any:
    """Remove every secret wrapper from a deserialised property value."""
    if is_secret_wrapped(value):
        return unwrap(value["value"])
    if isinstance(value, Mapping):
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


def wrap_secret(value: Any) -> dict[str, Any]:
    """Wrap a value the way the engine marks a secret property."""
    return {**SECRET_SIG, "value": value}


@dataclass
class Registration:
    """One resource registration as the engine would receive it, with the mock's response."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str
    additional_secret_outputs: list[str]
    delete_before_replace: bool
    protect: bool
    import_id: str
    ignore_changes: list[str]
    replace_on_changes: list[str]
    replacement_trigger: Any
    """Value of the `replacement_trigger` option, or None."""
    inputs: dict[str, Any]
    """Inputs with secret wrappers kept, so tests can check what was sent as a secret."""
    id: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    """Outputs with secret wrappers, as the program receives them."""

    @property
    def plain_inputs(self) -> dict[str, Any]:
        """Return the inputs with secret wrappers removed."""
        return unwrap(self.inputs)

    @property
    def plain_outputs(self) -> dict[str, Any]:
        """Return the outputs with secret wrappers removed."""
        return unwrap(self.outputs)


class RecordingMonitor(MockMonitor):
    """Mock monitor that records registrations and applies the engine's secrecy rules."""

    def __init__(self, mocks: FederationMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.component_outputs: dict[str, dict[str, Any]] = {}
        self.invokes: list[tuple[str, dict[str, Any]]] = []
        self.invoke_providers: list[str] = []
        """Provider reference of each invoke, in the order of `invokes`."""

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        from pulumi.runtime.sync_await import _ensure_event_loop

        _ensure_event_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs = rpc.deserialize_properties(request.object)
        registration = Registration(
            type=request.type,
            name=request.name,
            urn=urn,
            parent=request.parent,
            custom=bool(request.custom),
            dependencies=list(request.dependencies),
            property_dependencies={
                key: list(value.urns) for key, value in request.propertyDependencies.items()
            },
            provider=request.provider,
            additional_secret_outputs=list(request.additionalSecretOutputs),
            delete_before_replace=bool(request.deleteBeforeReplace),
            protect=bool(request.protect),
            import_id=request.importId,
            ignore_changes=list(request.ignoreChanges),
            replace_on_changes=list(request.replaceOnChanges),
            replacement_trigger=_trigger_value(request),
            inputs=inputs,
        )
        self.registrations.append(registration)

        mocks: FederationMocks = self.mocks  # type: ignore[assignment]
        resource_args = MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=unwrap(inputs),
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
        )
        resource_id, state = mocks.answer(resource_args, registration)

        secret_keys = set(registration.additional_secret_outputs)
        secret_keys |= {key for key, value in inputs.items() if is_secret_wrapped(value)}
        outputs = {
            key: wrap_secret(value) if key in secret_keys and value is not None else value
            for key, value in state.items()
        }
        registration.id = resource_id or ""
        registration.outputs = outputs

        struct = _sync_await(rpc.serialize_properties(outputs, {}))
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, resource_id or "", outputs)
        from pulumi.runtime.proto import resource_pb2

        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id or "", object=struct)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        self.component_outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)

    def Invoke(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        self.invokes.append((request.tok, dict(rpc.deserialize_properties(request.args))))
        self.invoke_providers.append(request.provider)
        return super().Invoke(request)


def _trigger_value(request: Any) -> Any:
    """Return the plain value of a registration's replacement trigger, or None."""
    if not request.HasField("replacement_trigger"):
        return None
    from google.protobuf import json_format

    return unwrap(json_format.MessageToDict(request.replacement_trigger))


@dataclass
class PriorResource:
    """What a previous run left in state for one resource."""

    inputs: dict[str, Any]
    id: str
    outputs: dict[str, Any]
    trigger: Any = None
    generation: int = 0
    """How many times the resource was replaced, so a replaced key gets new material."""


# Inputs whose change makes each provider replace a resource instead of updating it. "*" means
# every input. Kubernetes Secrets replace on data changes because pulumi-kubernetes treats them
# as immutable unless its provider sets enableSecretMutable; patches always update in place.
FORCE_NEW: dict[str, tuple[str, ...]] = {
    TLS_KEY: ("*",),
    TLS_CERT: ("*",),
    RANDOM_PASSWORD: ("*",),
    CREDENTIAL: ("*",),
    FEDERATED_CREDENTIAL: ("applicationId",),
    SERVICE_PRINCIPAL: ("clientId",),
    ROLE_ASSIGNMENT: ("*",),
    ROLE_DEFINITION: ("scope", "roleDefinitionId"),
    NAMESPACE: ("metadata.name",),
    SECRET: ("data", "stringData", "type", "metadata.name", "metadata.namespace"),
    SECRET_PATCH: ("metadata.name", "metadata.namespace"),
}


class FederationMocks(pulumi.runtime.Mocks):
    """Provider behaviour for every resource type the component declares."""

    def __init__(
        self,
        prior: Mapping[tuple[str, str], PriorResource] | None = None,
        now: datetime.datetime | None = None,
        refresh: bool = True,
    ) -> None:
        self.prior = dict(prior or {})
        self.now = now or datetime.datetime.now(datetime.UTC)
        """The time the mocks take as now: certificates start then, renewals are judged by it."""
        self.refresh = refresh
        """Emulate `refresh: always`, under which pulumi-tls flags a certificate for renewal."""
        self.steps: list[tuple[str, str]] = []
        """(step, resource name) in the order the engine would run them: create, same, update,
        replace (create-before-delete), delete-replace (delete-before-replace), and at the end
        delete-replaced for each old resource a create-before-delete replacement leaves."""
        self.sleeps: list[float] = []
        self.rejections: list[str] = []
        self._generation = 0
        self.state: dict[tuple[str, str], PriorResource] = {}
        self.applications: dict[str, dict[str, Any]] = {}
        self.service_principals: dict[str, dict[str, Any]] = {}
        self.dynamic_calls: list[tuple[str, str]] = []

    # The runtime calls new_resource only through RecordingMonitor.answer.
    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        raise NotImplementedError("use RecordingMonitor, which calls answer()")

    def call(self, args: MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        if args.token == "azuread:index/getClientConfig:getClientConfig":
            return {
                "clientId": DEPLOYER_CLIENT_ID,
                "objectId": DEPLOYER_OBJECT_ID,
                "tenantId": TENANT_ID,
                "id": TENANT_ID,
            }, []
        self.rejections.append(f"unexpected invoke {args.token}")
        return {}, []

    def reject(self, registration: Registration, reason: str) -> None:
        """Record a request that the real service would refuse."""
        self.rejections.append(f"{registration.type} {registration.name}: {reason}")

    def answer(
        self, args: MockResourceArgs, registration: Registration
    ) -> tuple[str | None, dict[str, Any]]:
        """Return the ID and outputs for a registration, replaying prior state when unchanged."""
        key = (args.typ, args.name)
        prior = self.prior.get(key)
        inputs = dict(args.inputs)

        if args.typ.startswith("pulumi:providers:"):
            return str(uuid.uuid4()), inputs
        if not registration.custom:
            return "", {}

        generation = prior.generation if prior else 0
        if prior is not None and args.typ in DYNAMIC_TYPES:
            result = self._answer_dynamic_again(args, prior)
        elif prior is not None:
            step = self._plan_step(args, registration, prior)
            if step == "same":
                result = (prior.id, prior.outputs)
            else:
                generation += 1 if step != "update" else 0
                result = self._create(args, registration, generation)
                if step == "update":
                    result = (prior.id, result[1])
            self.steps.append((step, args.name))
        else:
            result = self._create(args, registration, generation)
            self.steps.append(("create", args.name))

        resource_id, outputs = result
        self.state[key] = PriorResource(
            inputs=inputs,
            id=resource_id,
            outputs=outputs,
            trigger=registration.replacement_trigger,
            generation=generation,
        )
        self._remember(args.typ, outputs)
        return resource_id, outputs

    def _create(
        self, args: MockResourceArgs, registration: Registration, generation: int
    ) -> tuple[str, dict[str, Any]]:
        handler = self._handlers().get(args.typ)
        if handler is None:
            self.reject(registration, "no mock for this resource type")
            return "", dict(args.inputs)
        self._generation = generation
        return handler(args, registration)

    def _plan_step(
        self, args: MockResourceArgs, registration: Registration, prior: PriorResource
    ) -> str:
        """Decide what the engine and provider would do with a resource that exists."""
        if registration.replacement_trigger != prior.trigger:
            return self._replace_step(registration)
        if args.typ == TLS_CERT and self.refresh and _renewal_due(prior.outputs, self.now):
            return self._replace_step(registration)

        ignored = set(registration.ignore_changes)
        changed = [
            field
            for field in set(args.inputs) | set(prior.inputs)
            if field not in ignored and args.inputs.get(field) != prior.inputs.get(field)
        ]
        if "metadata" in changed:
            old = prior.inputs.get("metadata") or {}
            new = args.inputs.get("metadata") or {}
            changed.remove("metadata")
            changed += [
                f"metadata.{name}" for name in set(old) | set(new) if old.get(name) != new.get(name)
            ]
        if not changed:
            return "same"
        force_new = FORCE_NEW.get(args.typ, ())
        if "*" in force_new or any(field in force_new for field in changed):
            return self._replace_step(registration)
        return "update"

    @staticmethod
    def _replace_step(registration: Registration) -> str:
        # pulumi-kubernetes deletes a named object before creating its replacement.
        named_kubernetes = registration.type in (SECRET, SECRET_PATCH, NAMESPACE)
        if registration.delete_before_replace or named_kubernetes:
            return "delete-replace"
        return "replace"

    def finish(self) -> None:
        """Append the deletions the engine runs at the end of an update."""
        for step, name in list(self.steps):
            if step == "replace":
                self.steps.append(("delete-replaced", name))

    def _remember(self, typ: str, outputs: dict[str, Any]) -> None:
        if typ == APPLICATION:
            self.applications[outputs["id"]] = outputs
        elif typ == SERVICE_PRINCIPAL:
            self.service_principals[outputs["objectId"]] = outputs

    def _handlers(self) -> dict[str, Callable[[MockResourceArgs, Registration], tuple[str, dict]]]:
        return {
            TLS_KEY: self._private_key,
            TLS_CERT: self._self_signed_cert,
            RANDOM_PASSWORD: self._random_password,
            BUNDLE: self._bundle,
            MOUNT_REFRESH_WAIT: self._bundle,
            SECRET_PATCH: self._secret,
            ROLE_DEFINITION: self._role_definition,
            FEDERATED_CREDENTIAL: self._federated_credential,
            APPLICATION: self._application,
            SERVICE_PRINCIPAL: self._service_principal,
            CREDENTIAL: self._credential,
            ROLE_ASSIGNMENT: self._role_assignment,
            NAMESPACE: self._namespace,
            SECRET: self._secret,
            RELEASE: self._release,
        }

    # tls and random

    def _private_key(self, args: MockResourceArgs, registration: Registration) -> tuple[str, dict]:
        inputs = args.inputs
        if inputs.get("algorithm") != "RSA":
            self.reject(registration, f"algorithm {inputs.get('algorithm')!r} is not RSA")
        bits = int(inputs.get("rsaBits", 2048))
        key = certs.rsa_key(f"{args.name}#{self._generation}", bits)
        public_der = key.public_key().public_bytes(
            certs.serialization.Encoding.DER,
            certs.serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        outputs = {
            **inputs,
            "privateKeyPem": certs.private_key_pem(key),
            "privateKeyPemPkcs8": key.private_bytes(
                certs.serialization.Encoding.PEM,
                certs.serialization.PrivateFormat.PKCS8,
                certs.serialization.NoEncryption(),
            ).decode(),
            "privateKeyOpenssh": "",
            "publicKeyPem": certs.public_key_pem(key),
            "publicKeyFingerprintSha256": "SHA256:"
            + base64.b64encode(hashlib.sha256(public_der).digest()).decode().rstrip("="),
        }
        return hashlib.sha1(public_der).hexdigest(), outputs

    def _self_signed_cert(
        self, args: MockResourceArgs, registration: Registration
    ) -> tuple[str, dict]:
        inputs = args.inputs
        key_pem = inputs.get("privateKeyPem", "")
        try:
            key = certs.serialization.load_pem_private_key(key_pem.encode(), password=None)
        except ValueError:
            self.reject(registration, "privateKeyPem is not a PEM private key")
            return "", inputs
        subject_input = inputs.get("subject") or {}
        subject = {
            certs_field: subject_input[camel]
            for camel, certs_field in _SUBJECT_FIELDS.items()
            if subject_input.get(camel)
        }
        issued = certs.self_signed_certificate(
            key,  # type: ignore[arg-type]
            subject,
            int(inputs["validityPeriodHours"]),
            list(inputs.get("allowedUses", [])),
            now=self.now,
        )
        outputs = {
            **inputs,
            "certPem": issued.pem,
            "validityStartTime": issued.validity_start_time,
            "validityEndTime": issued.validity_end_time,
            "readyForRenewal": False,
        }
        return str(issued.certificate.serial_number), outputs

    def _random_password(
        self, args: MockResourceArgs, registration: Registration
    ) -> tuple[str, dict]:
        import secrets
        import string

        inputs = args.inputs
        alphabet = string.ascii_letters + string.digits
        if inputs.get("special", True):
            alphabet += inputs.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?"
        result = "".join(secrets.choice(alphabet) for _ in range(int(inputs["length"])))
        return "none", {**inputs, "result": result, "bcryptHash": "$2a$10$" + "x" * 53}

    def _bundle(self, args: MockResourceArgs, registration: Registration) -> tuple[str, dict]:
        provider = _load_dynamic_provider(args.inputs)
        props = {key: value for key, value in args.inputs.items() if key != "__provider"}
        self.dynamic_calls.append(("create", args.name))
        try:
            result = self._call_dynamic(provider.create, props)
        except ValueError as error:
            self.reject(registration, f"create failed: {error}")
            return "", props
        return result.id, dict(result.outs or {})

    def _answer_dynamic_again(
        self, args: MockResourceArgs, prior: PriorResource
    ) -> tuple[str, dict]:
        provider = _load_dynamic_provider(args.inputs)
        props = {key: value for key, value in args.inputs.items() if key != "__provider"}
        diff = provider.diff(prior.id, prior.outputs, props)
        self.dynamic_calls.append(("diff", args.name))
        if not diff.changes:
            self.steps.append(("same", args.name))
            return prior.id, prior.outputs
        self.dynamic_calls.append(("update", args.name))
        self.steps.append(("update", args.name))
        update = self._call_dynamic(provider.update, prior.id, prior.outputs, props)
        return prior.id, dict(update.outs or {})

    def _call_dynamic(self, method: Callable[..., Any], *arguments: Any) -> Any:
        """Run a dynamic provider method, recording its sleeps instead of waiting."""
        from components import rotation

        original = rotation.time.sleep
        rotation.time.sleep = self.sleeps.append  # type: ignore[assignment]
        try:
            return method(*arguments)
        finally:
            rotation.time.sleep = original  # type: ignore[assignment]

    # Entra ID

    def _application(self, args: MockResourceArgs, registration: Registration) -> tuple[str, dict]:
        inputs = args.inputs
        if not inputs.get("displayName"):
            self.reject(registration, "displayName is required")
        for owner in inputs.get("owners") or []:
            if not GUID.match(str(owner)):
                self.reject(registration, f"owner {owner!r} is not an object ID")
        # An imported application keeps the object ID it was imported by.
        object_id = args.resource_id.rsplit("/", 1)[-1] if args.resource_id else str(uuid.uuid4())
        outputs = {
            **inputs,
            "id": f"/applications/{object_id}",
            "objectId": object_id,
            "clientId": str(uuid.uuid4()),
            "signInAudience": inputs.get("signInAudience", "AzureADMyOrg"),
            "publisherDomain": "contoso.onmicrosoft.com",
        }
        return outputs["id"], outputs

    def _service_principal(
        self, args: MockResourceArgs, registration: Registration
    ) -> tuple[str, dict]:
        inputs = args.inputs
        client_ids = {app["clientId"]: app for app in self.applications.values()}
        application = client_ids.get(inputs.get("clientId", ""))
        if application is None:
            self.reject(registration, f"clientId {inputs.get('clientId')!r} names no application")
            application = {"displayName": "", "objectId": ""}
        object_id = args.resource_id.rsplit("/", 1)[-1] if args.resource_id else str(uuid.uuid4())
        outputs = {
            **inputs,
            "id": f"/servicePrincipals/{object_id}",
            "objectId": object_id,
            "applicationTenantId": TENANT_ID,
            "displayName": application["displayName"],
            "type": "Application",
            "servicePrincipalNames": [inputs.get("clientId", "")],
        }
        return outputs["id"], outputs

    def _credential(self, args: MockResourceArgs, registration: Registration) -> tuple[str, dict]:
        inputs = args.inputs
        application_id = inputs.get("applicationId", "")
        if application_id not in self.applications:
            self.reject(
                registration,
                f"applicationId {application_id!r} is not the resource path of an application",
            )
        if inputs.get("type") != "AsymmetricX509Cert":
            self.reject(registration, f"type {inputs.get('type')!r} is not AsymmetricX509Cert")
        if inputs.get("encoding", "pem") != "pem":
            self.reject(registration, "the mock reads PEM values only")

        try:
            certificate = x509.load_pem_x509_certificate(inputs.get("value", "").encode())
        except ValueError:
            self.reject(registration, "value is not a PEM certificate")
            return "", inputs

        # Graph rejects an end date past the certificate's NotAfter.
        end_date = inputs.get("endDate")
        if end_date is not None:
            if not RFC3339_WHOLE_SECONDS.match(end_date):
                self.reject(registration, f"endDate {end_date!r} is not RFC 3339 in whole seconds")
            else:
                end = datetime.datetime.strptime(end_date, "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=datetime.UTC
                )
                if end > certificate.not_valid_after_utc:
                    self.reject(registration, "Key credential end date is invalid")

        key_id = str(uuid.uuid4())
        object_id = application_id.rsplit("/", 1)[-1]
        outputs = {
            **inputs,
            "keyId": key_id,
            "startDate": certificate.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDate": end_date or certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return f"{object_id}/certificate/{key_id}", outputs

    def _federated_credential(
        self, args: MockResourceArgs, registration: Registration
    ) -> tuple[str, dict]:
        inputs = args.inputs
        application_id = inputs.get("applicationId", "")
        if application_id not in self.applications:
            self.reject(registration, f"applicationId {application_id!r} names no application")
        if inputs.get("audiences") != ["api://AzureADTokenExchange"]:
            self.reject(registration, f"audiences {inputs.get('audiences')!r} are not Entra's")
        if not str(inputs.get("issuer", "")).startswith("https://"):
            self.reject(registration, "issuer is not an HTTPS URL")
        if not re.match(
            r"^system:serviceaccount:[a-z0-9-]+:[a-z0-9.-]+$", inputs.get("subject", "")
        ):
            self.reject(registration, f"subject {inputs.get('subject')!r} is no service account")
        credential_id = str(uuid.uuid4())
        object_id = application_id.rsplit("/", 1)[-1]
        outputs = {**inputs, "credentialId": credential_id}
        return f"{object_id}/federatedIdentityCredential/{credential_id}", outputs

    # Azure RBAC

    def _role_definition(
        self, args: MockResourceArgs, registration: Registration
    ) -> tuple[str, dict]:
        inputs = args.inputs
        guid = inputs.get("roleDefinitionId", "")
        if not GUID.match(guid):
            self.reject(registration, f"roleDefinitionId {guid!r} is not a GUID")
        permissions = inputs.get("permissions") or []
        if not permissions or not (
            permissions[0].get("actions") or permissions[0].get("dataActions")
        ):
            self.reject(registration, "a custom role needs at least one action")
        scope = inputs.get("scope", "")
        if scope not in (inputs.get("assignableScopes") or []):
            self.reject(registration, "the role's scope is not one of its assignable scopes")
        resource_id = f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
        outputs = {
            **inputs,
            "id": resource_id,
            "name": guid,
            "type": "Microsoft.Authorization/roleDefinitions",
        }
        return resource_id, outputs

    def _role_assignment(
        self, args: MockResourceArgs, registration: Registration
    ) -> tuple[str, dict]:
        inputs = args.inputs
        name = inputs.get("roleAssignmentName", "")
        scope = inputs.get("scope", "")
        if not GUID.match(name):
            self.reject(registration, f"roleAssignmentName {name!r} is not a GUID")
        if inputs.get("principalId") not in self.service_principals:
            self.reject(registration, "PrincipalNotFound: principalId is no service principal")
        if inputs.get("principalType") != "ServicePrincipal":
            self.reject(registration, f"principalType is {inputs.get('principalType')!r}")

        match = re.match(
            r"^/subscriptions/([0-9a-f-]{36})/providers/Microsoft\.Authorization"
            r"/roleDefinitions/([0-9a-f-]{36})$",
            inputs.get("roleDefinitionId", ""),
        )
        if not match:
            self.reject(registration, "roleDefinitionId is not in the subscription-scoped form")
        elif not scope.lower().startswith(f"/subscriptions/{match.group(1)}"):
            self.reject(registration, "roleDefinitionId names another subscription than scope")
        if not re.match(r"^/subscriptions/[0-9a-fA-F-]{36}(/.*)?$", scope):
            self.reject(registration, f"scope {scope!r} is not an Azure resource ID")

        resource_id = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
        outputs = {
            **inputs,
            "id": resource_id,
            "name": name,
            "type": "Microsoft.Authorization/roleAssignments",
            "createdOn": "2026-12-04T12:00:00.0000000Z",
            "azureApiVersion": "2022-04-01",
        }
        return resource_id, outputs

    # Kubernetes

    def _metadata(self, registration: Registration, metadata: Mapping[str, Any]) -> dict[str, Any]:
        name = metadata.get("name", "")
        if not DNS_SUBDOMAIN.match(name):
            self.reject(registration, f"metadata.name {name!r} is not a DNS-1123 subdomain")
        return {
            **metadata,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "1",
            "creationTimestamp": "2026-12-04T12:00:00Z",
        }

    def _namespace(self, args: MockResourceArgs, registration: Registration) -> tuple[str, dict]:
        metadata = self._metadata(registration, args.inputs.get("metadata") or {})
        outputs = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": metadata,
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
        return metadata["name"], outputs

    def _secret(self, args: MockResourceArgs, registration: Registration) -> tuple[str, dict]:
        inputs = args.inputs
        metadata = self._metadata(registration, inputs.get("metadata") or {})
        data: dict[str, str] = {}
        for key, value in (inputs.get("data") or {}).items():
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                self.reject(registration, f"data[{key!r}] is not base64")
            data[key] = value
        # The API server folds stringData into data and never returns stringData.
        for key, value in (inputs.get("stringData") or {}).items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        outputs = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": inputs.get("type", "Opaque"),
            "data": data,
            "immutable": inputs.get("immutable"),
        }
        namespace = metadata.get("namespace", "default")
        return f"{namespace}/{metadata['name']}", outputs

    def _release(self, args: MockResourceArgs, registration: Registration) -> tuple[str, dict]:
        inputs = args.inputs
        name = inputs.get("name", args.name)
        namespace = inputs.get("namespace", "default")
        if len(name) > 53:
            self.reject(registration, "release name is longer than 53 characters")
        outputs = {
            **inputs,
            "status": {
                "name": name,
                "namespace": namespace,
                "chart": inputs.get("chart"),
                "version": inputs.get("version"),
                "appVersion": inputs.get("version"),
                "revision": 1,
                "status": "deployed",
            },
        }
        return f"{namespace}/{name}", outputs


def _renewal_due(outputs: Mapping[str, Any], now: datetime.datetime) -> bool:
    """Tell whether pulumi-tls would report a certificate ready for renewal at `now`."""
    end_text = str(outputs.get("validityEndTime", "")).split(".")[0].rstrip("Z")
    if not end_text:
        return False
    end = datetime.datetime.strptime(end_text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
    early = datetime.timedelta(hours=float(outputs.get("earlyRenewalHours") or 0))
    return now >= end - early


_SUBJECT_FIELDS = {
    "commonName": "common_name",
    "organization": "organization",
    "organizationalUnit": "organizational_unit",
    "locality": "locality",
    "province": "province",
    "country": "country",
    "postalCode": "postal_code",
    "serialNumber": "serial_number",
}


def _load_dynamic_provider(inputs: Mapping[str, Any]) -> Any:
    """Unpickle the serialised dynamic provider, as Pulumi's dynamic provider host does."""
    return dill.loads(base64.b64decode(unwrap(inputs["__provider"])))


@dataclass
class Deployment:
    """Everything one offline run registered, returned, exported and logged."""

    mocks: FederationMocks
    monitor: RecordingMonitor
    logs: list[logging.LogRecord]
    exports: dict[str, Any]
    """Stack exports, resolved: name to (value, is_secret)."""
    result: Any = None

    @property
    def registrations(self) -> list[Registration]:
        """Return the registrations in the order the program made them."""
        return self.monitor.registrations

    @property
    def state(self) -> dict[tuple[str, str], PriorResource]:
        """Return what this run leaves in state, to pass as `prior` to the next run."""
        return self.mocks.state

    def of_type(self, typ: str) -> list[Registration]:
        """Return every registration of one resource type."""
        return [item for item in self.registrations if item.type == typ]

    def one(self, typ: str) -> Registration:
        """Return the only registration of a type, failing when there is not exactly one."""
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {[item.name for item in found]}"
        return found[0]

    def named(self, name: str) -> Registration:
        """Return the registration with a given resource name."""
        for item in self.registrations:
            if item.name == name:
                return item
        raise AssertionError(
            f"no resource named {name}; have {[r.name for r in self.registrations]}"
        )

    def by_urn(self, urn: str) -> Registration:
        """Return the registration with a given URN."""
        for item in self.registrations:
            if item.urn == urn:
                return item
        raise AssertionError(f"no resource with URN {urn}")

    def secret_data(self, secret_name: str) -> dict[str, bytes]:
        """Return a secret's data as the cluster would hold it after this run.

        A SecretPatch of the same name applies after the Secret, so its keys win.
        """
        data: dict[str, bytes] = {}
        found = False
        for typ in (SECRET, SECRET_PATCH):
            for registration in self.of_type(typ):
                outputs = registration.plain_outputs
                if outputs.get("metadata", {}).get("name") != secret_name:
                    continue
                found = True
                for key, value in (outputs.get("data") or {}).items():
                    data[key] = base64.b64decode(value)
        assert found, f"no secret named {secret_name}"
        return data

    def log_messages(self) -> Iterator[str]:
        """Yield every engine log message of the run."""
        for record in self.logs:
            yield record.getMessage()


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def stack_config(
    stack_file: str | Path, overrides: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Read a stack file's config as the CLI passes it to the program, with overrides applied.

    Keys without a namespace get the project's, and every value becomes a string, as in
    the configuration the CLI hands to the language host. Pulumi.yaml's defaults are not added:
    the program applies its own.
    """
    import yaml

    loaded = yaml.safe_load(Path(stack_file).read_text(encoding="utf-8")) or {}
    values = dict(loaded.get("config") or {})
    values.update(overrides or {})
    config: dict[str, str] = {}
    for key, value in values.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, (list, dict)):
            import json

            config[full_key] = json.dumps(value)
        elif isinstance(value, bool):
            config[full_key] = str(value).lower()
        else:
            config[full_key] = str(value)
    return config


def deploy(
    program: Callable[[], Any],
    config: Mapping[str, str] | None = None,
    stack: str = "dev",
    preview: bool = False,
    prior: Deployment | None = None,
    now: datetime.datetime | None = None,
    refresh: bool = True,
) -> Deployment:
    """Run `program` under the mocks and return what it registered and exported.

    `config` is the flat configuration the CLI would pass (`project:key` to a string). `now` is
    the time the mocks take as the present, and `refresh` emulates `refresh: always`.
    Raises whatever the program raises, after every registration it made has finished; the
    exception then carries the partial Deployment as its `deployment` attribute.
    """
    mocks = FederationMocks(prior.state if prior else None, now=now, refresh=refresh)
    monitor = RecordingMonitor(mocks)
    handler = _ListHandler()
    logger = logging.getLogger(f"pulumi-mock-{uuid.uuid4()}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)

    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=preview, logger=logger, monitor=monitor
    )
    pulumi.runtime.set_all_config(dict(config or {}))
    pulumi.runtime.settings.SETTINGS.rpc_manager.clear()
    pulumi.runtime.settings.SETTINGS.outputs.clear()

    holder: dict[str, Any] = {}

    def run() -> None:
        holder["result"] = program()

    # The component judges renewal by the clock too, so it reads the mocks' time.
    from components import rotation

    wall_clock = rotation.utc_now
    rotation.utc_now = lambda: mocks.now  # type: ignore[assignment]
    try:
        _sync_await(run_pulumi_func(run))
    except Exception as error:
        # Tests of failures check what was registered before the error, such as nothing.
        error.deployment = Deployment(  # type: ignore[attr-defined]
            mocks=mocks, monitor=monitor, logs=handler.records, exports={}
        )
        raise
    finally:
        rotation.utc_now = wall_clock  # type: ignore[assignment]

    mocks.finish()
    root = pulumi.runtime.settings.get_root_resource()
    exports: dict[str, Any] = {}
    for name, value in (getattr(root, "outputs", None) or {}).items():
        exports[name] = resolve_output(value)
    return Deployment(
        mocks=mocks,
        monitor=monitor,
        logs=handler.records,
        exports=exports,
        result=holder.get("result"),
    )


def resolve_output(value: Any) -> tuple[Any, bool]:
    """Return an output's value and whether it is secret, once the run has finished."""
    output = pulumi.Output.from_input(value)

    async def both() -> tuple[Any, bool]:
        return await output.future(), await output.is_secret()

    return _sync_await(both())


def run_main() -> None:
    """Run the project's `__main__.py` as the Python language host would, from the project."""
    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
    finally:
        os.chdir(previous)
