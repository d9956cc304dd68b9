"""CoderAzureFederation: an Azure identity for Coder's provisioners, from key to Helm release.

The component declares its children in data-flow order. First come an RSA key, a self-signed
certificate, a bundle password and a PKCS#12 bundle. Then an Entra ID application, its service
principal and the certificate as the application's credential, then a role assignment for the
service principal. Last come the Kubernetes secrets and Coder's Helm release that reads them.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import pulumi
import pulumi_azuread as azuread
import pulumi_kubernetes as kubernetes
import pulumi_random as random
import pulumi_tls as tls
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pulumi_azure_native import authorization

from components import helm_values, roles
from components.config import FederationSettings, resolve
from components.pkcs12 import Pkcs12Bundle

CHART_NAME = "coder"
BUNDLE_PASSWORD_LENGTH = 32
# Usages of a certificate that signs client assertions for Entra ID.
CERTIFICATE_USES = ["client_auth", "digital_signature", "key_encipherment"]


class CoderAzureFederationArgs(TypedDict, total=False):
    """Arguments of CoderAzureFederation. Only `subscription_id` and `chart_version` are required.

    `subscription_id` and `owners` may be outputs of other resources. Every other argument
    shapes the resource graph, so it must be a plain value when the program runs.
    """

    subscription_id: pulumi.Input[str]
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
    """Name of Coder's Helm release. Default: `coder`."""
    chart_version: pulumi.Input[str]
    """Exact version of the `coder` chart."""
    chart_repository: pulumi.Input[str]
    """Helm repository of the chart. Default: `https://helm.coder.com/v2`."""
    coder_values: pulumi.Input[Mapping[str, Any]]
    """Your own Coder chart values; the component appends its env, volume and mount."""


class CoderAzureFederation(pulumi.ComponentResource):
    """Entra ID application, certificate credential, role assignment and Coder release.

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
    """Object ID of the service principal that is assigned the role."""
    certificate_thumbprint: pulumi.Output[str]
    """SHA-1 thumbprint of the certificate in upper-case hex, as the Azure portal shows it."""
    certificate_expiry: pulumi.Output[str]
    """Certificate NotAfter as an RFC 3339 UTC time with whole seconds."""
    secret_names: pulumi.Output[dict[str, str]]
    """Names of the five Kubernetes secrets, keyed by what they hold."""
    release_name: pulumi.Output[str]
    """Name of Coder's Helm release."""
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
        child = pulumi.ResourceOptions(parent=self)

        key = tls.PrivateKey(
            f"{name}-key",
            algorithm="RSA",
            rsa_bits=settings.certificate_key_size,
            opts=child,
        )
        certificate = tls.SelfSignedCert(
            f"{name}-cert",
            private_key_pem=key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(**settings.certificate_subject),
            validity_period_hours=settings.certificate_validity_days * 24,
            allowed_uses=CERTIFICATE_USES,
            opts=child,
        )
        password = random.RandomPassword(
            f"{name}-bundle-password",
            length=BUNDLE_PASSWORD_LENGTH,
            special=False,
            opts=child,
        )
        bundle = Pkcs12Bundle(
            f"{name}-bundle",
            private_key_pem=key.private_key_pem,
            certificate_pem=certificate.cert_pem,
            password=password.result,
            profile=settings.bundle_profile,
            opts=child,
        )
        not_after = certificate.cert_pem.apply(certificate_not_after)

        owners = self._owners(settings)
        application = azuread.Application(
            f"{name}-app",
            display_name=settings.application_display_name,
            sign_in_audience="AzureADMyOrg",
            owners=owners,
            opts=child,
        )
        service_principal = azuread.ServicePrincipal(
            f"{name}-sp",
            client_id=application.client_id,
            owners=owners,
            opts=child,
        )
        credential = azuread.ApplicationCertificate(
            f"{name}-credential",
            # The application's resource path (/applications/{objectId}), not its client ID.
            application_id=application.id,
            type="AsymmetricX509Cert",
            encoding="pem",
            value=certificate.cert_pem,
            # Graph rejects an end date past the certificate's NotAfter and drops fractions of
            # a second, so the end date is NotAfter itself, in whole seconds.
            end_date=not_after,
            opts=child,
        )

        subscription_id = pulumi.Output.from_input(settings.subscription_id).apply(
            _checked_subscription
        )
        role_assignment = self._role_assignment(
            name, settings, subscription_id, service_principal.object_id
        )

        namespace_name: pulumi.Output[str] = pulumi.Output.from_input(settings.namespace)
        namespace_dependencies: list[pulumi.Resource] = []
        if settings.create_namespace:
            namespace = kubernetes.core.v1.Namespace(
                f"{name}-namespace",
                metadata=kubernetes.meta.v1.ObjectMetaArgs(name=settings.namespace),
                opts=child,
            )
            namespace_name = namespace.metadata.apply(_metadata_name)
            namespace_dependencies.append(namespace)

        secrets = _CredentialSecrets(
            name,
            settings,
            namespace_name,
            bundle_base64=bundle.pfx_base64,
            client_id=application.client_id,
            tenant_id=service_principal.application_tenant_id,
            subscription_id=subscription_id,
            password=password.result,
            opts=pulumi.ResourceOptions(parent=self, depends_on=namespace_dependencies),
        )

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
        values = helm_values.merge_values(
            settings.coder_values,
            env=env,
            volumes=[helm_values.bundle_volume(secrets.name_of("bundle"))],
            volume_mounts=[helm_values.bundle_volume_mount(settings.certificate_mount_path)],
        )
        release = kubernetes.helm.v3.Release(
            f"{name}-release",
            name=settings.release_name,
            chart=CHART_NAME,
            version=settings.chart_version,
            repository_opts=kubernetes.helm.v3.RepositoryOptsArgs(repo=settings.chart_repository),
            namespace=namespace_name,
            values=values,
            # The provisioners fail their first build if the pod starts before Entra ID has
            # registered the credential or before the role assignment exists.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[credential, role_assignment, *secrets.resources],
            ),
        )

        self.client_id = application.client_id
        self.tenant_id = service_principal.application_tenant_id
        self.subscription_id = subscription_id
        self.application_object_id = application.object_id
        self.service_principal_object_id = service_principal.object_id
        self.certificate_thumbprint = certificate.cert_pem.apply(certificate_thumbprint)
        self.certificate_expiry = not_after
        self.secret_names = pulumi.Output.all(
            **{purpose: secrets.name_of(purpose) for purpose in _CredentialSecrets.PURPOSES}
        )
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

    def _owners(self, settings: FederationSettings) -> pulumi.Input[Sequence[str]]:
        """Return the configured owners, or the deploying principal when none are configured.

        With the Graph permission Application.ReadWrite.OwnedBy, the deployer can manage only
        what it owns, so it must own both the application and the service principal.
        """
        if isinstance(settings.owners, pulumi.Output) or settings.owners:
            return settings.owners
        deployer = azuread.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        return deployer.object_id.apply(lambda object_id: [object_id])

    def _role_assignment(
        self,
        name: str,
        settings: FederationSettings,
        subscription_id: pulumi.Output[str],
        principal_id: pulumi.Output[str],
    ) -> authorization.RoleAssignment:
        """Assign the configured role to the service principal on the configured scope."""
        if settings.role_scope is not None:
            scope: pulumi.Output[str] = pulumi.Output.from_input(settings.role_scope.id)
            scope_subscription: pulumi.Output[str] = pulumi.Output.from_input(
                settings.role_scope.subscription_id
            )
        else:
            scope = subscription_id.apply(lambda subscription: f"/subscriptions/{subscription}")
            scope_subscription = subscription_id
        role_guid = settings.role_guid

        return authorization.RoleAssignment(
            f"{name}-role",
            principal_id=principal_id,
            # Without it the SDK sends "User", and ARM rejects a service principal that has not
            # finished replicating with PrincipalNotFound.
            principal_type="ServicePrincipal",
            role_definition_id=scope_subscription.apply(
                lambda subscription: roles.role_definition_id(subscription, role_guid)
            ),
            scope=scope,
            role_assignment_name=pulumi.Output.all(scope, principal_id).apply(
                lambda parts: roles.assignment_name(parts[0], parts[1], role_guid)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )


class _CredentialSecrets:
    """The five Kubernetes secrets Coder reads its Azure credential from, named as in the guide."""

    PURPOSES = ("bundle", "client_id", "tenant_id", "subscription_id", "password")

    def __init__(
        self,
        name: str,
        settings: FederationSettings,
        namespace: pulumi.Input[str],
        bundle_base64: pulumi.Input[str],
        client_id: pulumi.Input[str],
        tenant_id: pulumi.Input[str],
        subscription_id: pulumi.Input[str],
        password: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        self._secrets: dict[str, kubernetes.core.v1.Secret] = {}

        # `data` takes base64, so the bundle's bytes reach the pod unchanged.
        self._secrets["bundle"] = self._secret(
            f"{name}-bundle-secret",
            settings.bundle_secret_name,
            namespace,
            data={settings.bundle_secret_key: bundle_base64},
            opts=opts,
        )
        for purpose, secret_name, key, value in (
            ("client_id", settings.client_id_secret_name, settings.client_id_secret_key, client_id),
            ("tenant_id", settings.tenant_id_secret_name, settings.tenant_id_secret_key, tenant_id),
            (
                "subscription_id",
                settings.subscription_id_secret_name,
                settings.subscription_id_secret_key,
                subscription_id,
            ),
            ("password", settings.password_secret_name, settings.password_secret_key, password),
        ):
            self._secrets[purpose] = self._secret(
                f"{name}-{purpose.replace('_', '-')}-secret",
                secret_name,
                namespace,
                string_data={key: pulumi.Output.secret(value)},
                opts=opts,
            )

    @staticmethod
    def _secret(
        resource_name: str,
        secret_name: str,
        namespace: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
        data: Mapping[str, pulumi.Input[str]] | None = None,
        string_data: Mapping[str, pulumi.Input[str]] | None = None,
    ) -> kubernetes.core.v1.Secret:
        return kubernetes.core.v1.Secret(
            resource_name,
            metadata=kubernetes.meta.v1.ObjectMetaArgs(
                name=secret_name,
                namespace=namespace,
                labels={
                    "app.kubernetes.io/managed-by": "pulumi",
                    "app.kubernetes.io/part-of": "coder-azure-federation",
                },
            ),
            type="Opaque",
            data=data,
            string_data=string_data,
            opts=opts,
        )

    @property
    def resources(self) -> list[kubernetes.core.v1.Secret]:
        """Return the secrets in the order of PURPOSES."""
        return [self._secrets[purpose] for purpose in self.PURPOSES]

    def name_of(self, purpose: str) -> pulumi.Output[str]:
        """Return the name of a secret as an output, so that readers depend on the secret."""
        return self._secrets[purpose].metadata.apply(_metadata_name)


def _metadata_name(metadata: kubernetes.meta.v1.outputs.ObjectMeta) -> str:
    """Return the name of a Kubernetes object, which every object declared here sets."""
    return metadata.name or ""


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
