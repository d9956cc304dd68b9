"""Read a coder-azure-federation stack's outputs and hand its IDs to another workload.

A team that runs its own jobs next to Coder (a template pipeline running `terraform plan`
against the same subscription, say) needs the IDs of the provisioners' Azure identity, not
its key. This program reads them from the federation stack with a stack reference and writes
them into a ConfigMap in the same namespace, where a pod loads them with `envFrom`. A pod that
needs the credential too mounts the bundle secret that `BUNDLE_SECRET_NAME` names.

None of the federation's outputs is secret. Were one marked secret in that stack, Pulumi would
keep it secret here too, in the ConfigMap's inputs and in every export built from it.
"""

import pulumi
import pulumi_kubernetes as kubernetes

PORTAL_APP = (
    "https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade"
    "/~/Overview/appId/{client_id}"
)


def identity_data(
    client_id: str, tenant_id: str, subscription_id: str, secret_names: dict[str, str]
) -> dict[str, str]:
    """Build the ConfigMap's data: the ARM variables, and the bundle secret when there is one.

    With workload identity the federation stack creates no secrets and `secretNames` is empty.
    """
    data = {
        "ARM_CLIENT_ID": client_id,
        "ARM_TENANT_ID": tenant_id,
        "ARM_SUBSCRIPTION_ID": subscription_id,
    }
    if secret_names.get("bundle"):
        data["BUNDLE_SECRET_NAME"] = secret_names["bundle"]
    return data


config = pulumi.Config()
federation = pulumi.StackReference("federation", stack_name=config.require("federationStack"))

client_id = federation.require_output("clientId")
tenant_id = federation.require_output("tenantId")
subscription_id = federation.require_output("subscriptionId")
namespace = federation.require_output("namespace")
secret_names = federation.require_output("secretNames")

identity = kubernetes.core.v1.ConfigMap(
    "azure-identity",
    metadata=kubernetes.meta.v1.ObjectMetaArgs(
        name=config.get("configMapName") or "coder-azure-identity",
        namespace=namespace,
        labels={"app.kubernetes.io/managed-by": "pulumi"},
    ),
    data=pulumi.Output.all(client_id, tenant_id, subscription_id, secret_names).apply(
        lambda values: identity_data(*values)
    ),
)

pulumi.export("configMap", pulumi.Output.concat(namespace, "/", identity.metadata.name))
pulumi.export("portalUrl", client_id.apply(lambda value: PORTAL_APP.format(client_id=value)))
pulumi.export("bundleSecretName", secret_names.apply(lambda names: names.get("bundle", "")))
