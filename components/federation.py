"""CoderAzureFederation: an Azure identity for Coder's provisioners, from key to Helm release.

The component declares its children in data-flow order. In certificate mode, first come an RSA
key, a self-signed certificate, a bundle password and a PKCS#12 bundle. Then an Entra ID
application and its service principal, with the certificate, or a federated token, as the
application's credential. Then custom roles and role assignments for the service principal.
Last come the Kubernetes secrets and the Helm release that reads them.
"""

import datetime
import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Required, TypedDict

import pulumi
import pulumi_azuread as azuread
import pulumi_kubernetes as kubernetes
import pulumi_random as random
import pulumi_tls as tls
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pulumi_azure_native import authorization

from . import helm_values, rbac, roles, rotation, workload_identity
from .config import FederationSettings, resolve
from .pkcs12 import Pkcs12Bundle
from .rotation import MountRefreshWait
from .secrets import CredentialSecrets, metadata_name

BUNDLE_PASSWORD_LENGTH = 32
# Usages of a certificate that signs client assertions for Entra ID.
CERTIFICATE_USES = ["client_auth", "digital_signature", "key_encipherment"]


@dataclass(frozen=True)
class _CertificateMaterial:
    key: tls.PrivateKey
    certificate: tls.SelfSignedCert
    password: random.RandomPassword
    bundle: Pkcs12Bundle
    not_after: pulumi.Output[str]


class CoderAzureFederationArgs(TypedDict, total=False):
    """Arguments of CoderAzureFederation. Only `subscription_id` and `chart_version` are required.

    Names are the snake_case forms of the configuration keys in Pulumi.yaml, and their defaults
    and accepted values are the same.

    `subscription_id` and `owners` may be outputs of other resources. Every other argument
    shapes the resource graph, so it must be a plain value when the program runs.
    """

    subscription_id: Required[pulumi.Input[str]]
    """Azure subscription ID that Coder's provisioners deploy into."""
    application_display_name: pulumi.Input[str]
    """Display name of the Entra ID application. Default: `coder-azure-federation-<stack>`."""
    owners: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Object IDs of the application's owners. Default: the deploying principal."""
    certificate_subject: pulumi.Input[str]
    """Certificate subject in OpenSSL form, such as `/CN=coder/O=Example/C=US`."""
    certificate_key_size: pulumi.Input[int]
    """RSA key size in bits: 2048, 3072 or 4096 (default)."""
    certificate_validity_days: pulumi.Input[int]
    """Validity of the certificate and its credential in days. Default: 730."""
    bundle_profile: pulumi.Input[str]
    """PKCS#12 encryption profile: `legacy` (default) or `modern`."""
    role: pulumi.Input[str]
    """Role for the service principal: built-in name, GUID or role definition ID."""
    role_scope: pulumi.Input[str]
    """Resource ID the role is assigned on. Default: the subscription."""
    namespace: pulumi.Input[str]
    """Kubernetes namespace of the release and the secrets. Default: `coder`."""
    create_namespace: pulumi.Input[bool]
    """Create the namespace. Default: false."""
    bundle_secret_name: pulumi.Input[str]
    """Name of the bundle secret. Default: `azure-client-cert-secret`."""
    bundle_secret_key: pulumi.Input[str]
    """Key and file name of the bundle. Default: `client.pfx`."""
    client_id_secret_name: pulumi.Input[str]
    """Name of the client ID secret. Default: `arm-client-id`."""
    client_id_secret_key: pulumi.Input[str]
    """Key of the client ID. Default: `id`."""
    tenant_id_secret_name: pulumi.Input[str]
    """Name of the tenant ID secret. Default: `arm-tenant-id`."""
    tenant_id_secret_key: pulumi.Input[str]
    """Key of the tenant ID. Default: `id`."""
    subscription_id_secret_name: pulumi.Input[str]
    """Name of the subscription ID secret. Default: `arm-subscription-id`."""
    subscription_id_secret_key: pulumi.Input[str]
    """Key of the subscription ID. Default: `id`."""
    password_secret_name: pulumi.Input[str]
    """Name of the bundle password secret. Default: `arm-client-cert-password`."""
    password_secret_key: pulumi.Input[str]
    """Key of the bundle password. Default: `password`."""
    certificate_mount_path: pulumi.Input[str]
    """Directory where the bundle is mounted in the Coder container. Default: `/home/coder/az`."""
    release_name: pulumi.Input[str]
    """Name of the Helm release. Default: the chart's name."""
    chart_version: Required[pulumi.Input[str]]
    """Exact version of the `coder` chart."""
    chart_repository: pulumi.Input[str]
    """Helm repository of the chart. Default: `https://helm.coder.com/v2`."""
    coder_values: pulumi.Input[Mapping[str, Any]]
    """Your own Coder chart values; the component appends its env, volume and mount."""

    role_assignments: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Role assignments as `ROLE@SCOPE`; replaces `role` and `role_scope` when given."""
    custom_roles: pulumi.Input[Sequence[pulumi.Input[Mapping[str, Any]]]]
    """Custom role definitions, each a mapping like one entry of a customRolesFile."""
    allow_privileged_roles: pulumi.Input[bool]
    """Allow Owner and User Access Administrator. Default: false."""
    chart: pulumi.Input[str]
    """Chart that gets the credential: `coder` (default) or `coder-provisioner`."""
    auth_mode: pulumi.Input[str]
    """`certificate` (default) or `workloadIdentity`."""
    workload_identity_issuer: pulumi.Input[str]
    """HTTPS URL of the cluster's token issuer, for `workloadIdentity`."""
    workload_identity_flavor: pulumi.Input[str]
    """`webhook` (default) or `projectedToken`."""
    token_mount_path: pulumi.Input[str]
    """Directory of the projected token. Default: `/var/run/secrets/azure/tokens`."""
    renewal_window_days: pulumi.Input[int]
    """Days before expiry from which `pulumi up` renews the certificate. Default: 30."""
    certificate_rotation: pulumi.Input[int]
    """Rotation counter; raising it replaces the key and certificate. Default: 0."""
    password_rotation: pulumi.Input[int]
    """Rotation counter; raising it replaces the bundle password. Default: 0."""
    mount_refresh_seconds: pulumi.Input[int]
    """Wait after a bundle change before the old credential is removed. Default: 90."""
    protect: pulumi.Input[bool]
    """Protect the identity resources from deletion. Default: false."""
    adopt_application_object_id: pulumi.Input[str]
    """Object ID of an existing application to import."""
    adopt_service_principal_object_id: pulumi.Input[str]
    """Object ID of an existing service principal to import."""
    adopt_role_assignment_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Resource IDs of existing role assignments to import."""
    adopt_secrets: pulumi.Input[bool]
    """Import the existing Kubernetes secrets. Default: false."""
    adopt_release: pulumi.Input[bool]
    """Import the existing Helm release. Default: false."""


class CoderAzureFederation(pulumi.ComponentResource):
    """Entra ID application, its credential, role assignments and Coder's Helm release.

    Providers for azuread, azure-native and kubernetes come in through `opts` (`providers=`)
    and reach every child, because each child is parented to the component.
    """

    client_id: pulumi.Output[str]
    """Application (client) ID, as Coder's ARM_CLIENT_ID."""
    tenant_id: pulumi.Output[str]
    """Entra ID tenant of the application."""
    subscription_id: pulumi.Output[str]
    """Subscription given to Coder as ARM_SUBSCRIPTION_ID."""
    application_object_id: pulumi.Output[str]
    """Object ID of the Entra ID application."""
    service_principal_object_id: pulumi.Output[str]
    """Object ID of the service principal that is assigned the roles."""
    certificate_thumbprint: pulumi.Output[str]
    """SHA-1 thumbprint of the certificate in upper-case hex; empty in workload identity mode."""
    certificate_expiry: pulumi.Output[str]
    """Certificate NotAfter as RFC 3339 UTC, whole seconds; empty in workload identity mode."""
    secret_names: pulumi.Output[dict[str, str]]
    """Names of the Kubernetes secrets, keyed by what they contain; empty without secrets."""
    release_name: pulumi.Output[str]
    """Name of the Helm release."""
    namespace: pulumi.Output[str]
    """Kubernetes namespace of the release and the secrets."""
    release_status: pulumi.Output[str]
    """Helm status of the release, such as `deployed`."""

    def __init__(
        self,
        name: str,
        args: CoderAzureFederationArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        # Validation comes first, so that a bad argument registers no resource at all.
        settings = resolve(dict(args), "args", stack=pulumi.get_stack())
        super().__init__("coder-azure-federation:index:CoderAzureFederation", name, {}, opts)
        self._name = name
        self._settings = settings
        certificate_mode = settings.auth_mode == "certificate"

        material = self._certificate_material() if certificate_mode else None

        owners = self._owners()
        identity = self._identity_options()
        application = azuread.Application(
            f"{name}-app",
            display_name=settings.application_display_name,
            sign_in_audience="AzureADMyOrg",
            owners=owners,
            opts=pulumi.ResourceOptions.merge(
                identity, _adopt(settings.adopt_application_object_id, "/applications/")
            ),
        )
        service_principal = azuread.ServicePrincipal(
            f"{name}-sp",
            client_id=application.client_id,
            owners=owners,
            opts=pulumi.ResourceOptions.merge(
                identity,
                # pulumi-azuread imports a service principal by its bare object ID.
                _adopt(settings.adopt_service_principal_object_id, ""),
            ),
        )
        tenant_id = service_principal.application_tenant_id
        credential = self._credential(application, material)

        subscription_id = pulumi.Output.from_input(settings.subscription_id).apply(
            _checked_subscription
        )
        rbac_resources = self._rbac(subscription_id, service_principal.object_id)

        namespace_name, namespace_dependencies = self._namespace()
        release_dependencies: list[pulumi.Resource] = [credential, *rbac_resources]
        secret_names: dict[str, pulumi.Output[str]] = {}
        if material is not None:
            secrets = CredentialSecrets(
                name,
                settings,
                namespace_name,
                {
                    "bundle": material.bundle.pfx_base64,
                    "client_id": application.client_id,
                    "tenant_id": tenant_id,
                    "subscription_id": subscription_id,
                    "password": material.password.result,
                },
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[*namespace_dependencies, credential]
                ),
            )
            # The old credential is deleted at the end of the update, so the pods must be able
            # to read the new bundle by then.
            wait = MountRefreshWait(
                f"{name}-mount-refresh",
                certificate_sha256=material.certificate.cert_pem.apply(_sha256_text),
                password_fingerprint=material.password.result.apply(rotation.password_fingerprint),
                seconds=settings.mount_refresh_seconds,
                opts=pulumi.ResourceOptions(parent=self, depends_on=secrets.resources),
            )
            release_dependencies += [*secrets.resources, wait]
            secret_names = {purpose: secrets.name_of(purpose) for purpose in secrets.PURPOSES}
            values = self._certificate_values(
                secrets, material, application.client_id, tenant_id, subscription_id
            )
        else:
            values = self._federated_values(application.client_id, tenant_id, subscription_id)
            release_dependencies += namespace_dependencies

        release = kubernetes.helm.v3.Release(
            f"{name}-release",
            name=settings.release_name,
            chart=settings.chart,
            version=settings.chart_version,
            repository_opts=kubernetes.helm.v3.RepositoryOptsArgs(repo=settings.chart_repository),
            namespace=namespace_name,
            values=values,
            # The provisioners fail their first build if the pod starts before Entra ID has
            # registered the credential or before the role assignments exist.
            opts=pulumi.ResourceOptions.merge(
                pulumi.ResourceOptions(parent=self, depends_on=release_dependencies),
                _adopt_release(settings),
            ),
        )

        self.client_id = application.client_id
        self.tenant_id = tenant_id
        self.subscription_id = subscription_id
        self.application_object_id = application.object_id
        self.service_principal_object_id = service_principal.object_id
        if material is not None:
            self.certificate_thumbprint = material.certificate.cert_pem.apply(
                certificate_thumbprint
            )
            self.certificate_expiry = material.not_after
        else:
            self.certificate_thumbprint = pulumi.Output.from_input("")
            self.certificate_expiry = pulumi.Output.from_input("")
        if secret_names:
            self.secret_names = pulumi.Output.all(**secret_names)
        else:
            self.secret_names = pulumi.Output.from_input({})
        self.release_name = release.name.apply(lambda release_name: release_name or "")
        self.namespace = namespace_name
        self.release_status = release.status.apply(lambda status: status.status)
        self.register_outputs(
            {
                "client_id": self.client_id,
                "tenant_id": self.tenant_id,
                "subscription_id": self.subscription_id,
                "application_object_id": self.application_object_id,
                "service_principal_object_id": self.service_principal_object_id,
                "certificate_thumbprint": self.certificate_thumbprint,
                "certificate_expiry": self.certificate_expiry,
                "secret_names": self.secret_names,
                "release_name": self.release_name,
                "namespace": self.namespace,
                "release_status": self.release_status,
            }
        )

    # Certificate material

    def _certificate_material(self) -> _CertificateMaterial:
        """Declare the key, certificate, bundle password and bundle."""
        name, settings = self._name, self._settings
        # Raising certificateRotation replaces the key, and with it everything built from it.
        rotated = pulumi.ResourceOptions(
            parent=self, replacement_trigger=settings.certificate_rotation
        )
        key = tls.PrivateKey(
            f"{name}-key",
            algorithm="RSA",
            rsa_bits=settings.certificate_key_size,
            opts=rotated,
        )
        certificate = tls.SelfSignedCert(
            f"{name}-cert",
            private_key_pem=key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(**settings.certificate_subject),
            validity_period_hours=settings.certificate_validity_days * 24,
            # pulumi-tls reports ready_for_renewal from this point when it refreshes the
            # certificate, and the next update replaces it. Pulumi.yaml sets `refresh: always`.
            early_renewal_hours=settings.renewal_window_days * 24,
            allowed_uses=CERTIFICATE_USES,
            opts=rotated,
        )
        password = random.RandomPassword(
            f"{name}-bundle-password",
            length=BUNDLE_PASSWORD_LENGTH,
            special=False,
            opts=pulumi.ResourceOptions(
                parent=self, replacement_trigger=settings.password_rotation
            ),
        )
        bundle = Pkcs12Bundle(
            f"{name}-bundle",
            private_key_pem=key.private_key_pem,
            certificate_pem=certificate.cert_pem,
            password=password.result,
            profile=settings.bundle_profile,
            opts=pulumi.ResourceOptions(parent=self),
        )
        certificate.validity_end_time.apply(self._warn_if_renewal_due)
        return _CertificateMaterial(
            key=key,
            certificate=certificate,
            password=password,
            bundle=bundle,
            not_after=certificate.cert_pem.apply(certificate_not_after),
        )

    def _warn_if_renewal_due(self, validity_end_time: str) -> None:
        state = rotation.renewal_state(validity_end_time, self._settings.renewal_window_days)
        if state == "expired":
            pulumi.log.warn(
                f"The provisioner certificate expired at {validity_end_time}, so Coder's Azure "
                "builds fail to authenticate. Run `pulumi up --refresh` to replace it now.",
                resource=self,
            )
        elif state == "renewal-due":
            pulumi.log.warn(
                f"The provisioner certificate expires at {validity_end_time}, inside the "
                f"{self._settings.renewal_window_days}-day renewal window. `pulumi up --refresh` "
                "renews it; a run without refresh leaves it as it is.",
                resource=self,
            )

    # Identity

    def _identity_options(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, protect=self._settings.protect)

    def _owners(self) -> pulumi.Input[Sequence[str]]:
        """Return the configured owners, or the deploying principal when none are configured.

        With the Graph permission Application.ReadWrite.OwnedBy, the deployer can manage only
        what it owns, so it must own both the application and the service principal.
        """
        owners = self._settings.owners
        if isinstance(owners, pulumi.Output) or owners:
            return owners
        deployer = azuread.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        return deployer.object_id.apply(lambda object_id: [object_id])

    def _credential(
        self, application: azuread.Application, material: _CertificateMaterial | None
    ) -> pulumi.CustomResource:
        """Declare the application's credential: the certificate, or the federated token."""
        name, settings = self._name, self._settings
        if material is not None:
            return azuread.ApplicationCertificate(
                f"{name}-credential",
                # The application's resource path (/applications/{objectId}), not its client ID.
                application_id=application.id,
                type="AsymmetricX509Cert",
                encoding="pem",
                value=material.certificate.cert_pem,
                # Graph rejects an end date past the certificate's NotAfter and drops fractions
                # of a second, so the end date is NotAfter itself, in whole seconds.
                end_date=material.not_after,
                # A new certificate replaces the credential create-before-delete, so the new
                # key is registered before the old one is removed.
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
            )
        subject = workload_identity.subject(settings.namespace, settings.service_account_name)
        return azuread.ApplicationFederatedIdentityCredential(
            f"{name}-federated-credential",
            application_id=application.id,
            display_name=workload_identity.credential_display_name(
                settings.namespace, settings.service_account_name
            ),
            description=f"Coder provisioners in {settings.namespace}, for {subject}.",
            audiences=[workload_identity.AUDIENCE],
            issuer=settings.workload_identity_issuer,
            subject=subject,
            opts=pulumi.ResourceOptions(parent=self),
        )

    # Azure RBAC

    def _rbac(
        self, subscription_id: pulumi.Output[str], principal_id: pulumi.Output[str]
    ) -> list[pulumi.CustomResource]:
        """Declare the custom roles and every role assignment of the service principal."""
        name, settings = self._name, self._settings
        identity = self._identity_options()
        definitions = {
            role.name: rbac.declare_custom_role(
                f"{name}-custom-role-{rbac.slug(role.name)}", role, identity
            )
            for role in settings.custom_roles
        }
        custom_by_name = {role.name: role for role in settings.custom_roles}

        declared: list[pulumi.CustomResource] = list(definitions.values())
        for index, spec in enumerate(settings.role_assignments):
            if spec.scope is not None:
                scope: pulumi.Output[str] = pulumi.Output.from_input(spec.scope.id)
                scope_subscription = pulumi.Output.from_input(spec.scope.subscription_id)
            else:
                scope = subscription_id.apply(lambda subscription: f"/subscriptions/{subscription}")
                scope_subscription = subscription_id
            role_guid = spec.role_guid or rbac.custom_role_guid(custom_by_name[spec.custom_role])
            role_label = spec.custom_role or roles.role_name(role_guid)
            if spec.scope is None or spec.scope.kind == "subscription":
                pulumi.log.warn(
                    f"The provisioner's service principal gets {role_label} on a whole "
                    "subscription. Assign it on the resource group Coder's templates use "
                    "instead (roleAssignments).",
                    resource=self,
                )

            adopted_name = settings.adopt_role_assignment_ids.get(index)
            assignment_name: pulumi.Input[str]
            if adopted_name:
                assignment_name = adopted_name
            else:
                assignment_name = pulumi.Output.all(scope, principal_id).apply(
                    functools.partial(_assignment_name_of, role_guid=role_guid)
                )
            options = pulumi.ResourceOptions.merge(
                identity,
                pulumi.ResourceOptions(
                    depends_on=[definitions[spec.custom_role]] if spec.custom_role else []
                ),
            )
            if adopted_name:
                scope_id = (
                    spec.scope.id if spec.scope else f"/subscriptions/{settings.subscription_id}"
                )
                options = pulumi.ResourceOptions.merge(
                    options,
                    pulumi.ResourceOptions(
                        import_=f"{scope_id}/providers/Microsoft.Authorization"
                        f"/roleAssignments/{adopted_name}"
                    ),
                )
            declared.append(
                authorization.RoleAssignment(
                    f"{name}-role-{_assignment_key(role_guid, spec)}",
                    principal_id=principal_id,
                    # Without it the SDK sends "User", and ARM rejects a service principal that
                    # has not finished replicating with PrincipalNotFound.
                    principal_type="ServicePrincipal",
                    role_definition_id=scope_subscription.apply(
                        functools.partial(roles.role_definition_id, role_guid=role_guid)
                    ),
                    scope=scope,
                    role_assignment_name=assignment_name,
                    opts=options,
                )
            )
        return declared

    # Kubernetes

    def _namespace(self) -> tuple[pulumi.Output[str], list[pulumi.Resource]]:
        """Declare the namespace when configured, and return its name and what to wait for."""
        settings = self._settings
        if not settings.create_namespace:
            return pulumi.Output.from_input(settings.namespace), []
        namespace = kubernetes.core.v1.Namespace(
            f"{self._name}-namespace",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(name=settings.namespace),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return namespace.metadata.apply(metadata_name), [namespace]

    def _certificate_values(
        self,
        secrets: CredentialSecrets,
        material: _CertificateMaterial,
        client_id: pulumi.Output[str],
        tenant_id: pulumi.Output[str],
        subscription_id: pulumi.Output[str],
    ) -> dict[str, Any]:
        """Build the chart values that wire the certificate bundle into the pods."""
        settings = self._settings
        env = helm_values.credential_env(
            {
                helm_values.ENV_CLIENT_ID: (
                    secrets.name_of("client_id"),
                    settings.client_id_secret_key,
                ),
                helm_values.ENV_TENANT_ID: (
                    secrets.name_of("tenant_id"),
                    settings.tenant_id_secret_key,
                ),
                helm_values.ENV_SUBSCRIPTION_ID: (
                    secrets.name_of("subscription_id"),
                    settings.subscription_id_secret_key,
                ),
                helm_values.ENV_CERTIFICATE_PASSWORD: (
                    secrets.name_of("password"),
                    settings.password_secret_key,
                ),
            },
            settings.certificate_path,
        )
        # The pods read the IDs and the password only at start; the bundle file itself is
        # refreshed in place. So the checksum covers the first and leaves out the second.
        checksum = pulumi.Output.all(
            client_id, tenant_id, subscription_id, material.password.result
        ).apply(
            lambda parts: rotation.startup_checksum(
                {
                    "mode": "certificate",
                    "client_id": parts[0],
                    "tenant_id": parts[1],
                    "subscription_id": parts[2],
                    "password": rotation.password_fingerprint(parts[3]),
                    "env": env_sources(settings),
                }
            )
        )
        return helm_values.merge_values(
            settings.coder_values,
            env=env,
            volumes=[helm_values.bundle_volume(secrets.name_of("bundle"))],
            volume_mounts=[helm_values.bundle_volume_mount(settings.certificate_mount_path)],
            extra={"podAnnotations": {rotation.CHECKSUM_ANNOTATION: _public(checksum)}},
        )

    def _federated_values(
        self,
        client_id: pulumi.Output[str],
        tenant_id: pulumi.Output[str],
        subscription_id: pulumi.Output[str],
    ) -> dict[str, Any]:
        """Build the chart values that hand a federated token to azurerm."""
        settings = self._settings
        flavor = settings.workload_identity_flavor
        env = workload_identity.env(
            flavor, client_id, tenant_id, subscription_id, settings.token_mount_path
        )
        checksum = pulumi.Output.all(client_id, tenant_id, subscription_id).apply(
            lambda parts: rotation.startup_checksum(
                {
                    "mode": "workloadIdentity",
                    "flavor": flavor,
                    "client_id": parts[0],
                    "tenant_id": parts[1],
                    "subscription_id": parts[2],
                    "token_mount_path": settings.token_mount_path,
                }
            )
        )
        extra: dict[str, Any] = {"podAnnotations": {rotation.CHECKSUM_ANNOTATION: checksum}}
        volumes: list[dict[str, Any]] = []
        mounts: list[dict[str, Any]] = []
        if flavor == "webhook":
            extra.update(workload_identity.webhook_values(client_id, tenant_id))
        else:
            volumes.append(workload_identity.token_volume())
            mounts.append(workload_identity.token_volume_mount(settings.token_mount_path))
        return helm_values.merge_values(
            settings.coder_values, env=env, volumes=volumes, volume_mounts=mounts, extra=extra
        )


def env_sources(settings: FederationSettings) -> dict[str, str]:
    """Describe where each certificate-mode variable comes from, for the startup checksum."""
    return {
        "ARM_CLIENT_ID": f"{settings.client_id_secret_name}/{settings.client_id_secret_key}",
        "ARM_TENANT_ID": f"{settings.tenant_id_secret_name}/{settings.tenant_id_secret_key}",
        "ARM_SUBSCRIPTION_ID": (
            f"{settings.subscription_id_secret_name}/{settings.subscription_id_secret_key}"
        ),
        "ARM_CLIENT_CERTIFICATE_PASSWORD": (
            f"{settings.password_secret_name}/{settings.password_secret_key}"
        ),
        "ARM_CLIENT_CERTIFICATE_PATH": settings.certificate_path,
        "bundle_volume": f"{settings.bundle_secret_name}@{settings.certificate_mount_path}",
    }


def _public(checksum: pulumi.Output[str]) -> pulumi.Output[str]:
    """Drop the secret mark from the checksum, which is a one-way digest.

    It is derived from the password and so inherits its secret mark, which would hide the whole
    Helm values in every preview.
    """
    return pulumi.Output.unsecret(checksum)


def _adopt(object_id: str, prefix: str) -> pulumi.ResourceOptions:
    """Return the import option for an adopted Entra ID object, or no option."""
    if not object_id:
        return pulumi.ResourceOptions()
    return pulumi.ResourceOptions(import_=f"{prefix}{object_id}")


def _adopt_release(settings: FederationSettings) -> pulumi.ResourceOptions:
    """Import the Helm release when adopting it. Its values differ until the next run.

    A release installed by hand has other values than the component's, and an import whose
    inputs differ from the live state fails. So the first run imports it with its values
    ignored, and the next run, without adoptRelease, updates them.
    """
    if not settings.adopt_release:
        return pulumi.ResourceOptions()
    return pulumi.ResourceOptions(
        import_=f"{settings.namespace}/{settings.release_name}",
        ignore_changes=["values", "version", "repositoryOpts", "chart"],
    )


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _assignment_name_of(parts: list[str], role_guid: str) -> str:
    return roles.assignment_name(parts[0], parts[1], role_guid)


def _assignment_key(role_guid: str, spec: rbac.AssignmentSpec) -> str:
    """Return a short, stable suffix for an assignment's resource name.

    It depends on the role and scope only, so reordering the configured list renames nothing.
    """
    scope = spec.scope.id.lower() if spec.scope else "subscription"
    return hashlib.sha256(f"{role_guid}|{scope}".encode()).hexdigest()[:8]


def certificate_not_after(certificate_pem: str) -> str:
    """Return a PEM certificate's NotAfter as RFC 3339 in UTC with whole seconds."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    moment = certificate.not_valid_after_utc.astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate_thumbprint(certificate_pem: str) -> str:
    """Return the SHA-1 thumbprint of a PEM certificate in upper-case hex."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    der = certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper()


def _checked_subscription(subscription_id: str) -> str:
    """Reject a subscription ID given as an output that turns out not to be a GUID."""
    if not roles.is_guid(subscription_id):
        raise ValueError(
            f"subscription_id {subscription_id!r} is not a GUID; pass the subscription's ID, "
            "such as 11111111-2222-3333-4444-555555555555"
        )
    return subscription_id.lower()
