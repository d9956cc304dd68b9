"""Pulumi program: read this stack's configuration, declare the federation, export its outputs."""

import pulumi

from components import CoderAzureFederation, CoderAzureFederationArgs, load_config

args: CoderAzureFederationArgs = load_config()  # type: ignore[assignment]
federation = CoderAzureFederation("coder-azure", args)

pulumi.export("clientId", federation.client_id)
pulumi.export("tenantId", federation.tenant_id)
pulumi.export("subscriptionId", federation.subscription_id)
pulumi.export("applicationObjectId", federation.application_object_id)
pulumi.export("servicePrincipalObjectId", federation.service_principal_object_id)
pulumi.export("certificateThumbprint", federation.certificate_thumbprint)
pulumi.export("certificateExpiry", federation.certificate_expiry)
pulumi.export("secretNames", federation.secret_names)
pulumi.export("releaseName", federation.release_name)
pulumi.export("namespace", federation.namespace)
pulumi.export("releaseStatus", federation.release_status)
