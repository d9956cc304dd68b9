"""Tests that each link between the component's resources carries the right kind of value.

Each test compares what a resource was sent with what its upstream resource returned in the same
offline deployment, and checks the value's format. Entra ID and ARM accept several IDs that look
alike (an application's resource path, its object ID, its client ID, a service principal's
object ID), and the service rejects the wrong one only at deployment time.
"""

from __future__ import annotations

import base64
import datetime
import posixpath
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from components import roles
from tests.mocks import (
    APPLICATION,
    BUNDLE,
    CREDENTIAL,
    DEPLOYER_OBJECT_ID,
    GUID,
    NAMESPACE,
    RANDOM_PASSWORD,
    RELEASE,
    RFC3339_WHOLE_SECONDS,
    ROLE_ASSIGNMENT,
    SECRET,
    SERVICE_PRINCIPAL,
    TLS_CERT,
    TLS_KEY,
    Deployment,
    Registration,
    is_secret_wrapped,
)

CONTRIBUTOR_GUID = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER_GUID = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
GET_CLIENT_CONFIG = "azuread:index/getClientConfig:getClientConfig"

DeployFederation = Callable[..., Deployment]

# Environment variable of the Coder container and the resource name of the secret it reads.
ENV_SECRETS = {
    "ARM_CLIENT_ID": "fed-client-id-secret",
    "ARM_TENANT_ID": "fed-tenant-id-secret",
    "ARM_SUBSCRIPTION_ID": "fed-subscription-id-secret",
    "ARM_CLIENT_CERTIFICATE_PASSWORD": "fed-password-secret",
}


def assert_accepted(deployment: Deployment) -> None:
    """Fail when a mocked service rejected a request that the real service would reject too."""
    assert deployment.mocks.rejections == [], (
        f"the mocked services rejected requests: {deployment.mocks.rejections}"
    )


def sent_as_secret(inputs: Mapping[str, Any], *path: str) -> bool:
    """Tell whether the input at `path`, or a map that contains it, was sent wrapped as a secret."""
    value: Any = inputs
    for key in path:
        if is_secret_wrapped(value):
            return True
        value = value[key]
    return is_secret_wrapped(value)


def sources(registration: Registration, input_name: str) -> list[str]:
    """Return the URNs of the resources whose outputs flowed into one input."""
    return registration.property_dependencies.get(input_name, [])


def all_dependencies(registration: Registration) -> set[str]:
    """Return the URNs a resource depends on, through `depends_on` or through its inputs."""
    found = set(registration.dependencies)
    for urns in registration.property_dependencies.values():
        found.update(urns)
    return found


def certificate_of(deployment: Deployment) -> x509.Certificate:
    """Parse the PEM certificate that the mocked SelfSignedCert returned."""
    pem = deployment.one(TLS_CERT).plain_outputs["certPem"]
    return x509.load_pem_x509_certificate(pem.encode())


def test_certificate_signed_with_generated_key(deployment: Deployment) -> None:
    key = deployment.one(TLS_KEY)
    cert = deployment.one(TLS_CERT)
    key_pem = key.plain_outputs["privateKeyPem"]

    assert cert.plain_inputs["privateKeyPem"] == key_pem, (
        "SelfSignedCert fed-cert was not sent the privateKeyPem of PrivateKey fed-key"
    )
    assert sent_as_secret(cert.inputs, "privateKeyPem"), (
        "SelfSignedCert fed-cert was sent the private key in plain text"
    )
    assert key.urn in sources(cert, "privateKeyPem"), (
        "SelfSignedCert fed-cert privateKeyPem does not depend on PrivateKey fed-key"
    )

    private_key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert certificate_of(deployment).public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) == private_key.public_key().public_bytes(serialization.Encoding.DER, spki), (
        "the certificate of SelfSignedCert fed-cert is not for the key of PrivateKey fed-key"
    )
    assert_accepted(deployment)


def test_bundle_built_from_key_cert_password(deployment: Deployment) -> None:
    key = deployment.one(TLS_KEY)
    cert = deployment.one(TLS_CERT)
    password = deployment.one(RANDOM_PASSWORD)
    bundle = deployment.one(BUNDLE)
    inputs = bundle.plain_inputs

    assert inputs["private_key_pem"] == key.plain_outputs["privateKeyPem"], (
        "Bundle fed-bundle private_key_pem is not the privateKeyPem of PrivateKey fed-key"
    )
    assert inputs["certificate_pem"] == cert.plain_outputs["certPem"], (
        "Bundle fed-bundle certificate_pem is not the certPem of SelfSignedCert fed-cert"
    )
    assert inputs["password"] == password.plain_outputs["result"], (
        "Bundle fed-bundle password is not the result of RandomPassword fed-bundle-password"
    )
    assert sent_as_secret(bundle.inputs, "private_key_pem"), (
        "Bundle fed-bundle was sent the private key in plain text"
    )
    assert sent_as_secret(bundle.inputs, "password"), (
        "Bundle fed-bundle was sent the bundle password in plain text"
    )
    assert key.urn in sources(bundle, "private_key_pem"), (
        "Bundle fed-bundle private_key_pem does not depend on PrivateKey fed-key"
    )
    assert cert.urn in sources(bundle, "certificate_pem"), (
        "Bundle fed-bundle certificate_pem does not depend on SelfSignedCert fed-cert"
    )
    assert password.urn in sources(bundle, "password"), (
        "Bundle fed-bundle password does not depend on RandomPassword fed-bundle-password"
    )

    pfx = base64.b64decode(bundle.plain_outputs["pfx_base64"])
    bundled_key, bundled_certificate, _ = pkcs12.load_key_and_certificates(
        pfx, password.plain_outputs["result"].encode()
    )
    assert bundled_certificate == certificate_of(deployment), (
        "Bundle fed-bundle does not contain the certificate of SelfSignedCert fed-cert"
    )
    assert bundled_key is not None, "Bundle fed-bundle contains no private key"
    assert (
        bundled_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        == key.plain_outputs["privateKeyPem"]
    ), "Bundle fed-bundle does not contain the key of PrivateKey fed-key"
    assert_accepted(deployment)


def test_service_principal_uses_client_id(deployment: Deployment) -> None:
    application = deployment.one(APPLICATION)
    service_principal = deployment.one(SERVICE_PRINCIPAL)
    client_id = service_principal.plain_inputs["clientId"]

    assert client_id == application.plain_outputs["clientId"], (
        "ServicePrincipal fed-sp clientId is not the clientId of Application fed-app"
    )
    assert GUID.match(client_id), (
        f"ServicePrincipal fed-sp clientId {client_id!r} is not a bare GUID"
    )
    assert client_id != application.plain_outputs["objectId"], (
        "ServicePrincipal fed-sp was sent the object ID of Application fed-app, not its client ID"
    )
    assert application.urn in sources(service_principal, "clientId"), (
        "ServicePrincipal fed-sp clientId does not depend on Application fed-app"
    )
    assert_accepted(deployment)


def test_credential_uses_application_resource_path(deployment: Deployment) -> None:
    application = deployment.one(APPLICATION)
    credential = deployment.one(CREDENTIAL)
    application_id = credential.plain_inputs["applicationId"]
    object_id = application.plain_outputs["objectId"]

    assert application_id == application.plain_outputs["id"], (
        "ApplicationCertificate fed-credential applicationId is not the id of Application fed-app"
    )
    assert application_id == f"/applications/{object_id}", (
        f"ApplicationCertificate fed-credential applicationId {application_id!r} is not "
        "/applications/<object ID of Application fed-app>"
    )
    assert application.plain_outputs["clientId"] not in application_id, (
        "ApplicationCertificate fed-credential applicationId names the client ID of "
        "Application fed-app"
    )
    assert application.urn in sources(credential, "applicationId"), (
        "ApplicationCertificate fed-credential applicationId does not depend on Application fed-app"
    )
    assert_accepted(deployment)


def test_credential_carries_certificate_until_not_after(deployment: Deployment) -> None:
    cert = deployment.one(TLS_CERT)
    credential = deployment.one(CREDENTIAL)
    not_after = certificate_of(deployment).not_valid_after_utc
    end_date = credential.plain_inputs["endDate"]

    assert credential.plain_inputs["value"] == cert.plain_outputs["certPem"], (
        "ApplicationCertificate fed-credential value is not the certPem of SelfSignedCert fed-cert"
    )
    assert credential.plain_inputs["encoding"] == "pem", (
        "ApplicationCertificate fed-credential does not declare its value as PEM"
    )
    assert credential.plain_inputs["type"] == "AsymmetricX509Cert", (
        "ApplicationCertificate fed-credential is not an AsymmetricX509Cert"
    )
    assert RFC3339_WHOLE_SECONDS.match(end_date), (
        f"ApplicationCertificate fed-credential endDate {end_date!r} is not RFC 3339 "
        "in whole seconds"
    )

    end = datetime.datetime.strptime(end_date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    assert end == not_after, (
        f"ApplicationCertificate fed-credential endDate {end_date} is not the NotAfter "
        f"{not_after.isoformat()} of SelfSignedCert fed-cert"
    )
    assert end <= not_after, (
        "ApplicationCertificate fed-credential endDate is after the certificate's NotAfter"
    )
    assert end_date != cert.plain_outputs["validityEndTime"], (
        "ApplicationCertificate fed-credential endDate is the nanosecond validityEndTime of "
        "SelfSignedCert fed-cert, which Graph rejects"
    )
    assert cert.urn in sources(credential, "endDate"), (
        "ApplicationCertificate fed-credential endDate does not depend on SelfSignedCert fed-cert"
    )
    assert_accepted(deployment)


def test_role_assigned_to_service_principal(deployment: Deployment) -> None:
    application = deployment.one(APPLICATION)
    service_principal = deployment.one(SERVICE_PRINCIPAL)
    assignment = deployment.one(ROLE_ASSIGNMENT)
    principal_id = assignment.plain_inputs["principalId"]

    assert principal_id == service_principal.plain_outputs["objectId"], (
        "RoleAssignment fed-role principalId is not the objectId of ServicePrincipal fed-sp"
    )
    assert GUID.match(principal_id), (
        f"RoleAssignment fed-role principalId {principal_id!r} is not a bare GUID"
    )
    assert principal_id != application.plain_outputs["objectId"], (
        "RoleAssignment fed-role principalId is the object ID of Application fed-app"
    )
    assert principal_id != application.plain_outputs["clientId"], (
        "RoleAssignment fed-role principalId is the client ID of Application fed-app"
    )
    assert assignment.plain_inputs["principalType"] == "ServicePrincipal", (
        "RoleAssignment fed-role principalType is not ServicePrincipal"
    )
    assert service_principal.urn in sources(assignment, "principalId"), (
        "RoleAssignment fed-role principalId does not depend on ServicePrincipal fed-sp"
    )
    assert_accepted(deployment)


def test_role_definition_defaults_to_contributor(
    deployment: Deployment, deploy_federation: DeployFederation, subscription_id: str
) -> None:
    assignment = deployment.one(ROLE_ASSIGNMENT)
    principal_id = deployment.one(SERVICE_PRINCIPAL).plain_outputs["objectId"]
    inputs = assignment.plain_inputs
    scope = f"/subscriptions/{subscription_id}"
    name = inputs["roleAssignmentName"]

    assert inputs["roleDefinitionId"] == (
        f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization"
        f"/roleDefinitions/{CONTRIBUTOR_GUID}"
    ), f"RoleAssignment fed-role roleDefinitionId {inputs['roleDefinitionId']!r} is not Contributor"
    assert inputs["scope"] == scope, (
        f"RoleAssignment fed-role scope {inputs['scope']!r} is not the subscription"
    )
    assert GUID.match(name), f"RoleAssignment fed-role roleAssignmentName {name!r} is not a GUID"
    assert name == roles.assignment_name(scope, principal_id, CONTRIBUTOR_GUID), (
        "RoleAssignment fed-role roleAssignmentName is not derived from scope, principal and role"
    )
    assert_accepted(deployment)

    # A second `pulumi up` keeps the service principal, so it must keep the assignment name:
    # a new name would replace the assignment or fail with RoleAssignmentExists.
    second = deploy_federation(prior=deployment)
    assert second.one(SERVICE_PRINCIPAL).plain_outputs["objectId"] == principal_id, (
        "the second run replaced ServicePrincipal fed-sp, so the name comparison means nothing"
    )
    assert second.one(ROLE_ASSIGNMENT).plain_inputs["roleAssignmentName"] == name, (
        "RoleAssignment fed-role got another roleAssignmentName on the second run"
    )
    assert_accepted(second)

    assert roles.assignment_name(scope, principal_id, READER_GUID) != name, (
        "roleAssignmentName does not change with the role"
    )
    assert (
        roles.assignment_name(f"{scope}/resourceGroups/rg-coder", principal_id, CONTRIBUTOR_GUID)
        != name
    ), "roleAssignmentName does not change with the scope"


def test_bundle_secret_contains_bundle_bytes(deployment: Deployment) -> None:
    bundle = deployment.one(BUNDLE)
    secret = deployment.named("fed-bundle-secret")
    data = secret.plain_inputs["data"]

    assert set(data) == {"client.pfx"}, (
        f"Secret fed-bundle-secret data has keys {sorted(data)}, not only client.pfx"
    )
    assert base64.b64decode(data["client.pfx"], validate=True) == base64.b64decode(
        bundle.plain_outputs["pfx_base64"], validate=True
    ), "Secret fed-bundle-secret data[client.pfx] is not the pfx_base64 of Bundle fed-bundle"
    assert sent_as_secret(secret.inputs, "data", "client.pfx"), (
        "Secret fed-bundle-secret was sent the bundle in plain text"
    )
    assert bundle.urn in sources(secret, "data"), (
        "Secret fed-bundle-secret data does not depend on Bundle fed-bundle"
    )
    assert_accepted(deployment)


@pytest.mark.parametrize(
    ("secret_name", "key", "upstream_type", "output"),
    [
        pytest.param("fed-client-id-secret", "id", APPLICATION, "clientId", id="client-id"),
        pytest.param(
            "fed-tenant-id-secret", "id", SERVICE_PRINCIPAL, "applicationTenantId", id="tenant-id"
        ),
        pytest.param("fed-password-secret", "password", RANDOM_PASSWORD, "result", id="password"),
    ],
)
def test_secret_contains_upstream_output(
    deployment: Deployment, secret_name: str, key: str, upstream_type: str, output: str
) -> None:
    upstream = deployment.one(upstream_type)
    secret = deployment.named(secret_name)
    data = decoded_data(secret)

    assert data == {key: upstream.plain_outputs[output]}, (
        f"Secret {secret_name} data is not {{{key!r}: {output} of {upstream.name}}}"
    )
    assert sent_as_secret(secret.inputs, "data", key), (
        f"Secret {secret_name} was sent data[{key}] in plain text"
    )
    assert upstream.urn in sources(secret, "data"), (
        f"Secret {secret_name} data does not depend on {upstream.name}"
    )
    assert_accepted(deployment)


def decoded_data(secret: Registration) -> dict[str, str]:
    """Return a Secret's `data` input with each value decoded from base64 to text."""
    return {
        key: base64.b64decode(value, validate=True).decode()
        for key, value in secret.plain_inputs["data"].items()
    }


def test_tenant_secret_contains_tenant_guid(deployment: Deployment) -> None:
    application = deployment.one(APPLICATION)
    tenant_id = decoded_data(deployment.named("fed-tenant-id-secret"))["id"]

    assert GUID.match(tenant_id), f"Secret fed-tenant-id-secret contains {tenant_id!r}, not a GUID"
    assert tenant_id not in (
        application.plain_outputs["clientId"],
        application.plain_outputs["objectId"],
    ), "Secret fed-tenant-id-secret contains an ID of Application fed-app, not the tenant ID"
    assert_accepted(deployment)


def test_subscription_secret_contains_configured_id(
    deployment: Deployment, subscription_id: str
) -> None:
    secret = deployment.named("fed-subscription-id-secret")

    assert decoded_data(secret) == {"id": subscription_id}, (
        "Secret fed-subscription-id-secret data is not the configured subscription ID"
    )
    assert sent_as_secret(secret.inputs, "data", "id"), (
        "Secret fed-subscription-id-secret was sent the subscription ID in plain text"
    )
    assert_accepted(deployment)


def test_namespace_contains_secrets_and_release(namespaced_deployment: Deployment) -> None:
    namespace = namespaced_deployment.one(NAMESPACE)
    namespace_name = namespace.plain_outputs["metadata"]["name"]
    release = namespaced_deployment.one(RELEASE)
    secrets = namespaced_deployment.of_type(SECRET)

    assert len(secrets) == 5, f"expected five secrets, found {[item.name for item in secrets]}"
    for secret in secrets:
        assert secret.plain_inputs["metadata"]["namespace"] == namespace_name, (
            f"Secret {secret.name} is not in the namespace of Namespace fed-namespace"
        )
        assert namespace.urn in all_dependencies(secret), (
            f"Secret {secret.name} does not depend on Namespace fed-namespace"
        )
    assert release.plain_inputs["namespace"] == namespace_name, (
        "Release fed-release is not in the namespace of Namespace fed-namespace"
    )
    assert namespace.urn in all_dependencies(release), (
        "Release fed-release does not depend on Namespace fed-namespace"
    )
    assert_accepted(namespaced_deployment)


def test_release_reads_credential_secrets(deployment: Deployment) -> None:
    release = deployment.one(RELEASE)
    coder = release.plain_inputs["values"]["coder"]
    env: list[dict[str, Any]] = coder["env"]

    for variable, secret_name in ENV_SECRETS.items():
        secret = deployment.named(secret_name)
        matches = [item for item in env if item["name"] == variable]
        assert len(matches) == 1, f"Release fed-release sets {variable} {len(matches)} times"
        reference = matches[0]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret.plain_outputs["metadata"]["name"], (
            f"Release fed-release reads {variable} from secret {reference['name']!r}, "
            f"not from Secret {secret_name}"
        )
        assert reference["key"] in secret.plain_outputs["data"], (
            f"Release fed-release reads {variable} from key {reference['key']!r}, "
            f"which Secret {secret_name} does not have"
        )

    bundle_secret = deployment.named("fed-bundle-secret")
    volumes = coder["volumes"]
    mounts = coder["volumeMounts"]
    assert len(volumes) == 1, f"Release fed-release declares {len(volumes)} volumes, not one"
    assert len(mounts) == 1, f"Release fed-release declares {len(mounts)} mounts, not one"
    assert volumes[0]["secret"]["secretName"] == bundle_secret.plain_outputs["metadata"]["name"], (
        "Release fed-release does not mount Secret fed-bundle-secret"
    )
    assert mounts[0]["name"] == volumes[0]["name"], (
        "Release fed-release mounts another volume than the bundle volume"
    )
    (bundle_key,) = bundle_secret.plain_outputs["data"]
    paths = [item.get("value") for item in env if item["name"] == "ARM_CLIENT_CERTIFICATE_PATH"]
    assert paths == [posixpath.join(mounts[0]["mountPath"], bundle_key)], (
        f"Release fed-release ARM_CLIENT_CERTIFICATE_PATH is {paths}, not the bundle file "
        "in the mounted secret"
    )

    # The release waits for the credential and the role, not only for the secrets it reads.
    for secret in deployment.of_type(SECRET):
        assert secret.urn in release.dependencies, (
            f"Release fed-release does not depend on Secret {secret.name}"
        )
    assert deployment.one(CREDENTIAL).urn in release.dependencies, (
        "Release fed-release does not wait for ApplicationCertificate fed-credential"
    )
    assert deployment.one(ROLE_ASSIGNMENT).urn in release.dependencies, (
        "Release fed-release does not wait for RoleAssignment fed-role"
    )
    assert_accepted(deployment)


def test_owners_default_to_deployer(deployment: Deployment) -> None:
    tokens = [token for token, _ in deployment.monitor.invokes]

    assert tokens.count(GET_CLIENT_CONFIG) == 1, (
        f"expected one getClientConfig invoke, the invokes were {tokens}"
    )
    for resource_type in (APPLICATION, SERVICE_PRINCIPAL):
        registration = deployment.one(resource_type)
        assert registration.plain_inputs["owners"] == [DEPLOYER_OBJECT_ID], (
            f"{registration.name} owners are not the deploying principal's object ID"
        )
    assert_accepted(deployment)


def test_configured_owners_pass_through(deploy_federation: DeployFederation) -> None:
    owners = ["0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"]
    deployment = deploy_federation(owners=owners)
    tokens = [token for token, _ in deployment.monitor.invokes]

    assert GET_CLIENT_CONFIG not in tokens, (
        "the component looked up the deploying principal although owners were configured"
    )
    for resource_type in (APPLICATION, SERVICE_PRINCIPAL):
        registration = deployment.one(resource_type)
        assert registration.plain_inputs["owners"] == owners, (
            f"{registration.name} owners are not the configured owners"
        )
    assert_accepted(deployment)
