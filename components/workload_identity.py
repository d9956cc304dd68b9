"""Workload identity: Coder's provisioners sign in with a Kubernetes service account token.

Entra ID trusts tokens that the cluster's issuer signs for one service account, through a
federated identity credential on the application. No key, certificate or secret exists. How the
token reaches azurerm depends on the cluster:

- `webhook`: the azure-workload-identity mutating webhook (AKS, or installed by hand) reads the
  pod label `azure.workload.identity/use: "true"` and the service account annotation
  `azure.workload.identity/client-id`, and injects `AZURE_CLIENT_ID`, `AZURE_TENANT_ID` and
  `AZURE_FEDERATED_TOKEN_FILE`. azurerm reads them when `ARM_USE_AKS_WORKLOAD_IDENTITY` is true.
- `projectedToken`: any cluster. The pod gets a projected service account token with the
  audience `api://AzureADTokenExchange`, and azurerm reads it through `ARM_USE_OIDC` and
  `ARM_OIDC_TOKEN_FILE_PATH`.

Either way the issuer must publish its OpenID discovery document and keys where Entra ID can
fetch them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any, Literal, get_args

AUDIENCE = "api://AzureADTokenExchange"
"""Audience Entra ID expects in a federated token."""

Flavor = Literal["webhook", "projectedToken"]
FLAVORS: tuple[str, ...] = get_args(Flavor)

TOKEN_VOLUME_NAME = "azure-identity-token"
TOKEN_FILE_NAME = "azure-identity-token"
TOKEN_EXPIRATION_SECONDS = 3600

WEBHOOK_LABEL = "azure.workload.identity/use"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"

# Default service account of each Coder chart, as in the charts' values.yaml.
CHART_SERVICE_ACCOUNTS = {"coder": "coder", "coder-provisioner": "coder-provisioner"}


def owned_env(flavor: str) -> tuple[str, ...]:
    """Return the variables the component sets in workload identity mode."""
    common = ("ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID")
    if flavor == "webhook":
        return (*common, "ARM_USE_AKS_WORKLOAD_IDENTITY")
    return (*common, "ARM_USE_OIDC", "ARM_OIDC_TOKEN_FILE_PATH")


def service_account_name(user_values: Mapping[str, Any], chart: str) -> str:
    """Return the service account the chart's pods run as: the user's choice or the default."""
    coder = user_values.get("coder") or {}
    account = (coder.get("serviceAccount") or {}) if isinstance(coder, Mapping) else {}
    name = account.get("name") if isinstance(account, Mapping) else None
    return name if isinstance(name, str) and name else CHART_SERVICE_ACCOUNTS[chart]


def subject(namespace: str, service_account: str) -> str:
    """Return the token subject Kubernetes writes for a service account."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def credential_display_name(namespace: str, service_account: str) -> str:
    """Return a federated credential name: letters, digits and '-', at most 120 characters."""
    return re.sub(r"[^A-Za-z0-9-]", "-", f"coder-{namespace}-{service_account}")[:120]


def env(
    flavor: str,
    client_id: Any,
    tenant_id: Any,
    subscription_id: Any,
    token_directory: str,
) -> list[dict[str, Any]]:
    """Build the azurerm variables for one flavour. None of these values is secret."""
    variables: list[dict[str, Any]] = [
        {"name": "ARM_CLIENT_ID", "value": client_id},
        {"name": "ARM_TENANT_ID", "value": tenant_id},
        {"name": "ARM_SUBSCRIPTION_ID", "value": subscription_id},
    ]
    if flavor == "webhook":
        variables.append({"name": "ARM_USE_AKS_WORKLOAD_IDENTITY", "value": "true"})
    else:
        variables.append({"name": "ARM_USE_OIDC", "value": "true"})
        variables.append(
            {
                "name": "ARM_OIDC_TOKEN_FILE_PATH",
                "value": posixpath.join(token_directory, TOKEN_FILE_NAME),
            }
        )
    return variables


def token_volume() -> dict[str, Any]:
    """Build the projected volume that contains a service account token for Entra ID."""
    return {
        "name": TOKEN_VOLUME_NAME,
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": AUDIENCE,
                        "expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                        "path": TOKEN_FILE_NAME,
                    }
                }
            ]
        },
    }


def token_volume_mount(token_directory: str) -> dict[str, Any]:
    """Build the read-only mount of the token volume."""
    return {"name": TOKEN_VOLUME_NAME, "mountPath": token_directory, "readOnly": True}


def webhook_values(client_id: Any, tenant_id: Any) -> dict[str, Any]:
    """Build the pod label and service account annotations the webhook looks for."""
    return {
        "podLabels": {WEBHOOK_LABEL: "true"},
        "serviceAccount": {
            "annotations": {CLIENT_ID_ANNOTATION: client_id, TENANT_ID_ANNOTATION: tenant_id}
        },
    }
