"""The Kubernetes secrets that hold the certificate credential, and how they change in place.

pulumi-kubernetes replaces a Secret whose data changes unless its provider sets
`enableSecretMutable`, and a replacement of a Secret with a fixed name deletes it before
creating it again. A pod would then briefly find no bundle. The component does not own the
provider, so it does not rely on that flag. Each secret that rotates (the bundle and its
password) is created once as a Secret whose data Pulumi then ignores. A SecretPatch keeps its
content up to date. Patch resources are always updated in place by server-side apply, so the
secret is never deleted or emptied while a rotation runs.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as kubernetes

from .config import FederationSettings

LABELS = {
    "app.kubernetes.io/managed-by": "pulumi",
    "app.kubernetes.io/part-of": "coder-azure-federation",
}
# The Secret resource and its patch are two field managers of the same data; the patch must win.
PATCH_FORCE = {"pulumi.com/patchForce": "true"}


class CredentialSecrets:
    """The five secrets Coder reads its Azure credential from, named as in Coder's guide."""

    PURPOSES = ("bundle", "client_id", "tenant_id", "subscription_id", "password")
    ROTATING = ("bundle", "password")
    """Secrets whose content changes during a rotation and is therefore kept by a patch."""

    def __init__(
        self,
        name: str,
        settings: FederationSettings,
        namespace: pulumi.Input[str],
        contents: Mapping[str, pulumi.Input[str]],
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Declare the secrets.

        `contents` maps each purpose to its value: the bundle base64-encoded, the others as
        text. With `settings.adopt_secrets`, existing secrets of the same names are imported.
        """
        self.secrets: dict[str, kubernetes.core.v1.Secret] = {}
        self.patches: dict[str, kubernetes.core.v1.SecretPatch] = {}
        names_and_keys = {
            "bundle": (settings.bundle_secret_name, settings.bundle_secret_key),
            "client_id": (settings.client_id_secret_name, settings.client_id_secret_key),
            "tenant_id": (settings.tenant_id_secret_name, settings.tenant_id_secret_key),
            "subscription_id": (
                settings.subscription_id_secret_name,
                settings.subscription_id_secret_key,
            ),
            "password": (settings.password_secret_name, settings.password_secret_key),
        }

        for purpose in self.PURPOSES:
            secret_name, key = names_and_keys[purpose]
            # Everything goes in `data` as base64: the bundle's bytes reach the pod unchanged,
            # and a secret made by `kubectl create secret --from-literal` imports without a diff.
            value: pulumi.Output[str] = pulumi.Output.from_input(contents[purpose])
            if purpose != "bundle":
                value = value.apply(_base64)
            content: dict[str, pulumi.Input[str]] = {key: pulumi.Output.secret(value)}
            resource_name = f"{name}-{purpose.replace('_', '-')}-secret"

            ignore = ["data", "stringData"] if purpose in self.ROTATING else []
            secret_opts = pulumi.ResourceOptions(ignore_changes=ignore)
            if settings.adopt_secrets:
                # An adopted secret keeps its content until the patch below replaces it.
                # Labels too: a secret made with kubectl has none, and an import must match.
                secret_opts = pulumi.ResourceOptions(
                    import_=f"{settings.namespace}/{secret_name}",
                    ignore_changes=["data", "stringData", "metadata.labels"],
                )
            self.secrets[purpose] = kubernetes.core.v1.Secret(
                resource_name,
                metadata=kubernetes.meta.v1.ObjectMetaArgs(
                    name=secret_name, namespace=namespace, labels=LABELS
                ),
                type="Opaque",
                data=content,
                opts=pulumi.ResourceOptions.merge(opts, secret_opts),
            )
            # While a hand-built setup is adopted, its secrets keep their content: the running pods
            # read the old password at start, so a new bundle would lock them out until the next
            # run restarts them.
            if purpose in self.ROTATING and not settings.adopt_secrets:
                self.patches[purpose] = kubernetes.core.v1.SecretPatch(
                    f"{resource_name}-content",
                    metadata=kubernetes.meta.v1.ObjectMetaPatchArgs(
                        name=secret_name, namespace=namespace, annotations=PATCH_FORCE
                    ),
                    data=content,
                    opts=pulumi.ResourceOptions.merge(
                        opts, pulumi.ResourceOptions(depends_on=[self.secrets[purpose]])
                    ),
                )

    @property
    def resources(self) -> list[pulumi.Resource]:
        """Return every secret and patch, for resources that must wait for all of them."""
        return [*self.secrets.values(), *self.patches.values()]

    def name_of(self, purpose: str) -> pulumi.Output[str]:
        """Return the name of a secret as an output, so that readers depend on the secret."""
        return self.secrets[purpose].metadata.apply(metadata_name)


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def metadata_name(metadata: kubernetes.meta.v1.outputs.ObjectMeta) -> str:
    """Return the name of a Kubernetes object, which every object declared here sets."""
    return metadata.name or ""
