"""Tests of workload identity mode: a federated credential instead of a certificate.

Each flavour is deployed offline under `tests.mocks`. The tests check that no key, certificate,
password, bundle or Kubernetes secret is declared, that the federated credential trusts the
service account the chart's pods run as, and that the Helm values carry exactly what the flavour
needs. The values are checked against the Kubernetes 1.37 schemas that kubernetes-validate
bundles, and their key paths against `tests/data/coder_chart_keys.json`. Invalid settings must
raise ConfigError before any resource is registered.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.config import ConfigError
from tests.conftest import CHART_VERSION, SUBSCRIPTION_ID, DeployFederation
from tests.mocks import (
    APPLICATION,
    BUNDLE,
    COMPONENT,
    CREDENTIAL,
    FEDERATED_CREDENTIAL,
    MOUNT_REFRESH_WAIT,
    RANDOM_PASSWORD,
    RELEASE,
    ROOT,
    SECRET,
    SECRET_PATCH,
    SERVICE_PRINCIPAL,
    TENANT_ID,
    TLS_CERT,
    TLS_KEY,
    Deployment,
    deploy,
    run_main,
    stack_config,
)

KUBERNETES_VERSION = "1.37.0"
CHART_KEYS_FILE = Path(__file__).resolve().parent / "data" / "coder_chart_keys.json"
DEV_STACK_FILE = ROOT / "Pulumi.dev.yaml"

# An issuer URL in the form AKS publishes, with the trailing slash that Entra ID matches exactly.
ISSUER = (
    f"https://westeurope.oic.prod-aks.azure.com/{TENANT_ID}/5e0c6a2d-3b41-4f7e-9d18-2a6c0b9e7f13/"
)
FLAVORS = ("webhook", "projectedToken")
CHARTS = ("coder", "coder-provisioner")

# Expected values, written out here instead of read from the product.
AUDIENCE = "api://AzureADTokenExchange"
WEBHOOK_LABEL = "azure.workload.identity/use"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"
CHECKSUM_ANNOTATION = "checksum/azure-federation"
TOKEN_VOLUME = "azure-identity-token"
TOKEN_FILE = "azure-identity-token"
DEFAULT_TOKEN_DIRECTORY = "/var/run/secrets/azure/tokens"

FORBIDDEN_TYPES = (
    TLS_KEY,
    TLS_CERT,
    RANDOM_PASSWORD,
    BUNDLE,
    CREDENTIAL,
    SECRET,
    SECRET_PATCH,
    MOUNT_REFRESH_WAIT,
)
"""Certificate material and Kubernetes secrets, none of which workload identity may declare."""


# Fixtures and helpers


def workload_args(flavor: str, **overrides: Any) -> dict[str, Any]:
    """Build component arguments for workload identity with one flavour, plus overrides."""
    return {
        "auth_mode": "workloadIdentity",
        "workload_identity_issuer": ISSUER,
        "workload_identity_flavor": flavor,
        **overrides,
    }


@pytest.fixture(scope="module", params=FLAVORS)
def flavor(request: pytest.FixtureRequest) -> str:
    """Each workload identity flavour in turn."""
    return request.param


@pytest.fixture(scope="module")
def flavored(flavor: str, deploy_federation: DeployFederation) -> Deployment:
    """Deploy the component in workload identity mode with one flavour and default settings."""
    return deploy_federation(**workload_args(flavor))


def release_values(deployment: Deployment) -> dict[str, Any]:
    """Return the Helm values the release was registered with."""
    return deployment.one(RELEASE).plain_inputs["values"]


def identity_ids(deployment: Deployment) -> tuple[str, str]:
    """Return the client ID of the created application and the tenant of its principal."""
    client_id = deployment.one(APPLICATION).plain_outputs["clientId"]
    tenant_id = deployment.one(SERVICE_PRINCIPAL).plain_outputs["applicationTenantId"]
    return client_id, tenant_id


def expected_coder_values(
    flavor: str, client_id: str, tenant_id: str, token_directory: str = DEFAULT_TOKEN_DIRECTORY
) -> dict[str, Any]:
    """Build the `coder` values a flavour must produce, leaving out the checksum annotation."""
    env = [
        {"name": "ARM_CLIENT_ID", "value": client_id},
        {"name": "ARM_TENANT_ID", "value": tenant_id},
        {"name": "ARM_SUBSCRIPTION_ID", "value": SUBSCRIPTION_ID},
    ]
    if flavor == "webhook":
        env.append({"name": "ARM_USE_AKS_WORKLOAD_IDENTITY", "value": "true"})
        return {
            "env": env,
            "podLabels": {WEBHOOK_LABEL: "true"},
            "serviceAccount": {
                "annotations": {
                    CLIENT_ID_ANNOTATION: client_id,
                    TENANT_ID_ANNOTATION: tenant_id,
                }
            },
        }
    env.append({"name": "ARM_USE_OIDC", "value": "true"})
    env.append({"name": "ARM_OIDC_TOKEN_FILE_PATH", "value": f"{token_directory}/{TOKEN_FILE}"})
    return {
        "env": env,
        "volumes": [{"name": TOKEN_VOLUME, "projected": "<checked separately>"}],
        "volumeMounts": [{"name": TOKEN_VOLUME, "mountPath": token_directory, "readOnly": True}],
    }


def comparable(coder: Mapping[str, Any]) -> dict[str, Any]:
    """Copy `coder` values for comparison: drop empty lists, the checksum and volume sources.

    An empty `volumes` or `volumeMounts` list equals the charts' default, so its presence does
    not change the release.
    """
    result = {key: copy.deepcopy(value) for key, value in coder.items() if value != []}
    annotations = dict(result.pop("podAnnotations", {}))
    annotations.pop(CHECKSUM_ANNOTATION, None)
    if annotations:
        result["podAnnotations"] = annotations
    for volume in result.get("volumes", []):
        if "projected" in volume:
            volume["projected"] = "<checked separately>"
    return result


def pod_manifest(values: Mapping[str, Any], service_account: str) -> dict[str, Any]:
    """Build the Pod the chart would render from the values' container and pod fields."""
    coder = values["coder"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "coder",
            "namespace": "coder",
            "labels": copy.deepcopy(coder.get("podLabels") or {}),
            "annotations": copy.deepcopy(coder.get("podAnnotations") or {}),
        },
        "spec": {
            "serviceAccountName": service_account,
            "containers": [
                {
                    "name": "coder",
                    "image": f"ghcr.io/coder/coder:v{CHART_VERSION}",
                    "env": copy.deepcopy(coder.get("env") or []),
                    "volumeMounts": copy.deepcopy(coder.get("volumeMounts") or []),
                }
            ],
            "volumes": copy.deepcopy(coder.get("volumes") or []),
        },
    }


def unknown_paths_under(path: str, value: Any, keys: set[str]) -> Iterator[str]:
    """Yield each value path under `path` that is not a chart key or inside one.

    The walk follows the nested mappings, so a map key with dots, such as an annotation name,
    stays one segment.
    """
    if path in keys:
        return
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from unknown_paths_under(f"{path}.{key}", item, keys)
        return
    yield path


def unknown_value_paths(values: Mapping[str, Any], keys: set[str]) -> list[str]:
    """List the value paths that the chart's key list does not contain."""
    unknown: list[str] = []
    for key, value in values.items():
        unknown.extend(unknown_paths_under(key, value, keys))
    return unknown


def chart_keys(chart: str) -> set[str]:
    """Return the value keys of one chart from the test data file."""
    data = json.loads(CHART_KEYS_FILE.read_text(encoding="utf-8"))
    return set(data["charts"][chart]["keys"])


# No certificate material


@pytest.mark.parametrize("forbidden", FORBIDDEN_TYPES)
def test_no_certificate_or_secret(flavored: Deployment, forbidden: str) -> None:
    found = [item.name for item in flavored.of_type(forbidden)]
    assert found == [], f"workload identity declared {forbidden}: {found}"


def test_mocks_accept_every_request(flavored: Deployment) -> None:
    assert flavored.mocks.rejections == [], flavored.mocks.rejections


# Federated credential


def test_one_federated_credential(flavored: Deployment) -> None:
    credentials = flavored.of_type(FEDERATED_CREDENTIAL)
    assert [item.name for item in credentials] == ["fed-federated-credential"]


def test_credential_names_application_path(flavored: Deployment) -> None:
    application = flavored.one(APPLICATION).plain_outputs
    inputs = flavored.one(FEDERATED_CREDENTIAL).plain_inputs
    assert inputs["applicationId"] == application["id"]
    assert inputs["applicationId"] == f"/applications/{application['objectId']}"
    assert inputs["applicationId"] != application["clientId"]


def test_credential_trusts_issuer_and_subject(flavored: Deployment) -> None:
    inputs = flavored.one(FEDERATED_CREDENTIAL).plain_inputs
    assert inputs["audiences"] == [AUDIENCE]
    assert inputs["issuer"] == ISSUER
    assert inputs["subject"] == "system:serviceaccount:coder:coder"


# Helm values


def test_values_match_flavour(flavored: Deployment, flavor: str) -> None:
    client_id, tenant_id = identity_ids(flavored)
    assert tenant_id == TENANT_ID
    values = release_values(flavored)
    assert set(values) == {"coder"}, f"unexpected top-level values: {sorted(values)}"
    assert comparable(values["coder"]) == expected_coder_values(flavor, client_id, tenant_id)


def test_values_have_checksum(flavored: Deployment) -> None:
    annotations = release_values(flavored)["coder"]["podAnnotations"]
    assert set(annotations) == {CHECKSUM_ANNOTATION}
    assert re.match(r"^[0-9a-f]{64}$", annotations[CHECKSUM_ANNOTATION])


def test_projected_volume_requests_entra_token(deploy_federation: DeployFederation) -> None:
    deployment = deploy_federation(**workload_args("projectedToken"))
    volumes = release_values(deployment)["coder"]["volumes"]
    assert len(volumes) == 1, volumes
    assert set(volumes[0]) == {"name", "projected"}
    sources = volumes[0]["projected"]["sources"]
    assert len(sources) == 1, sources
    assert set(sources[0]) == {"serviceAccountToken"}
    token = sources[0]["serviceAccountToken"]
    assert set(token) <= {"audience", "path", "expirationSeconds"}
    assert token["audience"] == AUDIENCE
    assert token["path"] == TOKEN_FILE
    # The API server rejects a token lifetime under ten minutes.
    assert token.get("expirationSeconds", 3600) >= 600


def test_token_mount_path_flows_into_env(deploy_federation: DeployFederation) -> None:
    directory = "/etc/azure/token"
    deployment = deploy_federation(
        **workload_args("projectedToken", token_mount_path=f"{directory}/")
    )
    client_id, tenant_id = identity_ids(deployment)
    coder = release_values(deployment)["coder"]
    expected = expected_coder_values("projectedToken", client_id, tenant_id, directory)
    assert comparable(coder) == expected


def test_values_pass_pod_schema(flavored: Deployment) -> None:
    manifest = pod_manifest(release_values(flavored), "coder")
    version = kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    assert version == "1.37"


def test_service_account_passes_schema(flavored: Deployment) -> None:
    account = release_values(flavored)["coder"].get("serviceAccount") or {}
    manifest = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": "coder",
            "namespace": "coder",
            "annotations": copy.deepcopy(account.get("annotations") or {}),
        },
    }
    version = kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    assert version == "1.37"


def test_values_have_no_secret_ref(flavored: Deployment) -> None:
    text = json.dumps(release_values(flavored))
    assert "secretKeyRef" not in text
    assert "valueFrom" not in text
    assert '"secret"' not in text, "a secret volume appeared in workload identity values"


@pytest.mark.parametrize("chart", CHARTS)
@pytest.mark.parametrize("flavor", FLAVORS)
def test_value_keys_exist_in_chart(
    deploy_federation: DeployFederation, flavor: str, chart: str
) -> None:
    deployment = deploy_federation(**workload_args(flavor, chart=chart))
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    assert deployment.one(RELEASE).plain_inputs["chart"] == chart
    unknown = unknown_value_paths(release_values(deployment), chart_keys(chart))
    assert unknown == [], f"value paths missing from the {chart} chart: {unknown}"


# Subject


def test_subject_uses_named_service_account(deploy_federation: DeployFederation) -> None:
    user_values = {"coder": {"serviceAccount": {"name": "provisioner-sa"}}}
    deployment = deploy_federation(**workload_args("webhook", coder_values=user_values))
    subject = deployment.one(FEDERATED_CREDENTIAL).plain_inputs["subject"]
    assert subject == "system:serviceaccount:coder:provisioner-sa"
    account = release_values(deployment)["coder"]["serviceAccount"]
    assert account["name"] == "provisioner-sa", "the user's service account name was dropped"
    assert set(account["annotations"]) == {CLIENT_ID_ANNOTATION, TENANT_ID_ANNOTATION}


def test_subject_defaults_for_provisioner_chart(deploy_federation: DeployFederation) -> None:
    deployment = deploy_federation(**workload_args("projectedToken", chart="coder-provisioner"))
    subject = deployment.one(FEDERATED_CREDENTIAL).plain_inputs["subject"]
    assert subject == "system:serviceaccount:coder:coder-provisioner"


def test_subject_uses_custom_namespace(deploy_federation: DeployFederation) -> None:
    deployment = deploy_federation(**workload_args("webhook", namespace="platform-coder"))
    subject = deployment.one(FEDERATED_CREDENTIAL).plain_inputs["subject"]
    assert subject == "system:serviceaccount:platform-coder:coder"
    assert deployment.one(RELEASE).plain_inputs["namespace"] == "platform-coder"


# Configuration errors


def rejected(deploy_federation: DeployFederation, **args: Any) -> ConfigError:
    """Deploy the component, expect ConfigError and check that nothing was registered."""
    with pytest.raises(ConfigError) as caught:
        deploy_federation(**args)
    partial = getattr(caught.value, "deployment", None)
    assert partial is not None, "deploy attached no deployment to the error"
    assert partial.registrations == [], [item.name for item in partial.registrations]
    return caught.value


def problem_keys(error: ConfigError) -> list[str]:
    """Return the setting key of each problem in a ConfigError."""
    return [problem.setting.key for problem in error.problems]


def test_issuer_required(deploy_federation: DeployFederation) -> None:
    error = rejected(deploy_federation, auth_mode="workloadIdentity")
    assert problem_keys(error) == ["workloadIdentityIssuer"]
    assert "workload_identity_issuer" in str(error)


def test_http_issuer_rejected(deploy_federation: DeployFederation) -> None:
    issuer = "http://oidc.example.com/cluster"
    error = rejected(deploy_federation, **workload_args("webhook", workload_identity_issuer=issuer))
    assert problem_keys(error) == ["workloadIdentityIssuer"]
    assert issuer in str(error)
    assert "https://" in str(error)


def test_unknown_flavour_rejected(deploy_federation: DeployFederation) -> None:
    error = rejected(deploy_federation, **workload_args("sidecar"))
    assert problem_keys(error) == ["workloadIdentityFlavor"]
    message = str(error)
    assert "'sidecar'" in message
    for flavor in FLAVORS:
        assert flavor in message, f"the message does not offer {flavor}"


def test_adopt_secrets_rejected(deploy_federation: DeployFederation) -> None:
    error = rejected(deploy_federation, **workload_args("webhook", adopt_secrets=True))
    assert problem_keys(error) == ["adoptSecrets"]
    assert "workloadIdentity" in str(error)


@pytest.mark.parametrize(
    ("flavor", "user_values", "owned"),
    [
        (
            "projectedToken",
            {"coder": {"env": [{"name": "ARM_USE_OIDC", "value": "false"}]}},
            "ARM_USE_OIDC",
        ),
        (
            "webhook",
            {"coder": {"podLabels": {WEBHOOK_LABEL: "false"}}},
            WEBHOOK_LABEL,
        ),
    ],
)
def test_user_values_clash_rejected(
    tmp_path: Path, flavor: str, user_values: dict[str, Any], owned: str
) -> None:
    values_file = tmp_path / "coder-values.yaml"
    values_file.write_text(yaml.safe_dump(user_values), encoding="utf-8")
    config = stack_config(
        DEV_STACK_FILE,
        {
            "subscriptionId": SUBSCRIPTION_ID,
            "authMode": "workloadIdentity",
            "workloadIdentityIssuer": ISSUER,
            "workloadIdentityFlavor": flavor,
            "coderValuesFile": str(values_file),
        },
    )
    with pytest.raises(ConfigError) as caught:
        deploy(run_main, config=config)
    error = caught.value
    assert error.deployment.registrations == []  # type: ignore[attr-defined]
    assert problem_keys(error) == ["coderValuesFile"]
    message = str(error)
    assert "coder-azure-federation:coderValuesFile" in message
    assert str(values_file) in message
    assert owned in message


# Graph and outputs


def test_release_waits_for_credential(flavored: Deployment) -> None:
    credential = flavored.one(FEDERATED_CREDENTIAL)
    release = flavored.one(RELEASE)
    assert credential.urn in release.dependencies


def test_outputs_empty_without_certificate(flavored: Deployment) -> None:
    component = flavored.one(COMPONENT)
    outputs = flavored.monitor.component_outputs[component.urn]
    assert outputs["certificate_thumbprint"] == ""
    assert outputs["certificate_expiry"] == ""
    assert outputs["secret_names"] == {}
    client_id, tenant_id = identity_ids(flavored)
    assert outputs["client_id"] == client_id
    assert outputs["tenant_id"] == tenant_id


# Configurations that Kubernetes rejects but the component accepts today


def test_invalid_service_account_rejected(deploy_federation: DeployFederation) -> None:
    user_values = {"coder": {"serviceAccount": {"name": "Provisioner_SA"}}}
    error = rejected(deploy_federation, **workload_args("webhook", coder_values=user_values))
    assert problem_keys(error) == ["coderValuesFile"]
    assert "Provisioner_SA" in str(error)
