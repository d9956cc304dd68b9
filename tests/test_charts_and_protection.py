"""Tests of the chart setting and of the protect setting.

`chart` picks which Coder chart gets the credential: `coder` (the server with its built-in
provisioners) or `coder-provisioner` (external provisioner daemons). The release must install
that chart under the chart's name unless `releaseName` is set, and every value key the component
sends must exist in that chart. Coder's charts ship no values.schema.json, so the keys are
checked against the lists in `tests/data/coder_chart_keys.json`.

`protect` must mark the long-lived identity (application, service principal, role assignments
and custom role definitions) and nothing that rotates or that Kubernetes holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DeployFederation
from tests.mocks import (
    APPLICATION,
    COMPONENT,
    FEDERATED_CREDENTIAL,
    RELEASE,
    ROLE_ASSIGNMENT,
    ROLE_DEFINITION,
    SERVICE_PRINCIPAL,
    Deployment,
    deploy,
    resolve_output,
    run_main,
    stack_config,
)

CHART_KEYS_FILE = Path(__file__).resolve().parent / "data" / "coder_chart_keys.json"
ISSUER = "https://oidc.prod-aks.azure.example/72f988bf-86f1-41af-91ab-2d7cd011db47/"
MAIN_SUBSCRIPTION_ID = "8d3f5b71-2c4e-4a69-b0d8-e1f2a3b4c5d6"

# Each authentication mode, as component arguments.
AUTH_MODES: dict[str, dict[str, Any]] = {
    "certificate": {},
    "webhook": {
        "auth_mode": "workloadIdentity",
        "workload_identity_issuer": ISSUER,
        "workload_identity_flavor": "webhook",
    },
    "projected-token": {
        "auth_mode": "workloadIdentity",
        "workload_identity_issuer": ISSUER,
        "workload_identity_flavor": "projectedToken",
    },
}

PROTECTED_TYPES = {APPLICATION, SERVICE_PRINCIPAL, ROLE_ASSIGNMENT, ROLE_DEFINITION}


@pytest.fixture(scope="module")
def chart_keys() -> dict[str, list[str]]:
    """Return the value keys of each Coder chart, keyed by chart name."""
    data = json.loads(CHART_KEYS_FILE.read_text(encoding="utf-8"))
    return {chart: entry["keys"] for chart, entry in data["charts"].items()}


def value_paths(values: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Yield the dotted path of every leaf, list and empty mapping in nested values."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from value_paths(value, f"{path}.")
        else:
            yield path


def unknown_paths(values: Mapping[str, Any], keys: list[str]) -> list[str]:
    """Return the value paths that are neither a chart key nor below one."""
    return [
        path
        for path in sorted(value_paths(values))
        if not any(path == key or path.startswith(f"{key}.") for key in keys)
    ]


def accepted(deployment: Deployment) -> Deployment:
    """Check that the mocks rejected no request of a deployment, and return it."""
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    return deployment


# Charts


@pytest.mark.parametrize("mode", list(AUTH_MODES))
def test_provisioner_chart_release(deploy_federation: DeployFederation, mode: str) -> None:
    deployment = accepted(deploy_federation(chart="coder-provisioner", **AUTH_MODES[mode]))
    inputs = deployment.one(RELEASE).plain_inputs
    assert inputs["chart"] == "coder-provisioner"
    assert inputs["name"] == "coder-provisioner"
    assert resolve_output(deployment.result.release_name) == ("coder-provisioner", False)


@pytest.mark.parametrize("mode", list(AUTH_MODES))
def test_provisioner_values_use_chart_keys(
    deploy_federation: DeployFederation, chart_keys: dict[str, list[str]], mode: str
) -> None:
    deployment = accepted(deploy_federation(chart="coder-provisioner", **AUTH_MODES[mode]))
    values = deployment.one(RELEASE).plain_inputs["values"]
    assert "coder.env" in set(value_paths(values))
    assert unknown_paths(values, chart_keys["coder-provisioner"]) == []


@pytest.mark.parametrize("mode", list(AUTH_MODES))
def test_coder_chart_release(
    deploy_federation: DeployFederation, chart_keys: dict[str, list[str]], mode: str
) -> None:
    deployment = accepted(deploy_federation(**AUTH_MODES[mode]))
    inputs = deployment.one(RELEASE).plain_inputs
    assert inputs["chart"] == "coder"
    assert inputs["name"] == "coder"
    assert unknown_paths(inputs["values"], chart_keys["coder"]) == []


def test_explicit_release_name_kept(deploy_federation: DeployFederation) -> None:
    deployment = accepted(
        deploy_federation(chart="coder-provisioner", release_name="eu-provisioners")
    )
    inputs = deployment.one(RELEASE).plain_inputs
    assert inputs["chart"] == "coder-provisioner"
    assert inputs["name"] == "eu-provisioners"


@pytest.mark.parametrize(
    ("chart", "account"),
    [("coder", "coder"), ("coder-provisioner", "coder-provisioner")],
)
def test_federated_subject_follows_chart(
    deploy_federation: DeployFederation, chart: str, account: str
) -> None:
    deployment = accepted(deploy_federation(chart=chart, **AUTH_MODES["webhook"]))
    subject = deployment.one(FEDERATED_CREDENTIAL).plain_inputs["subject"]
    assert subject == f"system:serviceaccount:coder:{account}"


def test_main_installs_provisioner_chart(chart_keys: dict[str, list[str]]) -> None:
    config = stack_config(
        "Pulumi.dev.yaml",
        {"subscriptionId": MAIN_SUBSCRIPTION_ID, "chart": "coder-provisioner"},
    )
    deployment = accepted(deploy(run_main, config=config))
    inputs = deployment.one(RELEASE).plain_inputs
    assert inputs["chart"] == "coder-provisioner"
    assert inputs["name"] == "coder-provisioner"
    assert deployment.exports["releaseName"] == ("coder-provisioner", False)
    # NOTE: the dev stack's own values file sets keys for the coder chart, so only the keys the
    # component adds are checked against the provisioner chart here.
    added = {"coder": {key: inputs["values"]["coder"][key] for key in ("env", "podAnnotations")}}
    assert unknown_paths(added, chart_keys["coder-provisioner"]) == []


# Protection


def protect_args() -> dict[str, Any]:
    """Return arguments that declare two role assignments, one of them with a custom role."""
    subscription = "/subscriptions/3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8"
    group = f"{subscription}/resourceGroups/coder-workspaces"
    return {
        "protect": True,
        "create_namespace": True,
        "role_assignments": [f"Reader@{subscription}", f"custom:coder-builds@{group}"],
        "custom_roles": [
            {
                "name": "coder-builds",
                "description": "Create and delete workspace resources.",
                "actions": ["Microsoft.Resources/subscriptions/resourceGroups/read"],
                "assignableScopes": [group],
            }
        ],
    }


def protection_errors(deployment: Deployment, protected_types: set[str]) -> list[str]:
    """List each registration whose protect flag differs from what its type calls for."""
    return [
        f"{item.name} ({item.type}) protect={item.protect}"
        for item in deployment.registrations
        if item.protect != (item.type in protected_types)
    ]


def test_protect_marks_identity_only(deploy_federation: DeployFederation) -> None:
    deployment = accepted(deploy_federation(**protect_args()))
    assert protection_errors(deployment, PROTECTED_TYPES) == []
    assert len(deployment.of_type(ROLE_ASSIGNMENT)) == 2
    assert len(deployment.of_type(ROLE_DEFINITION)) == 1
    assert deployment.one(COMPONENT).protect is False


@pytest.mark.parametrize("mode", ["webhook", "projected-token"])
def test_protect_skips_federated_credential(deploy_federation: DeployFederation, mode: str) -> None:
    deployment = accepted(deploy_federation(protect=True, **AUTH_MODES[mode]))
    assert protection_errors(deployment, PROTECTED_TYPES) == []
    assert deployment.one(FEDERATED_CREDENTIAL).protect is False


def test_protect_covers_adopted_identity(deploy_federation: DeployFederation) -> None:
    deployment = accepted(
        deploy_federation(
            protect=True,
            adopt_application_object_id="0c6f4b2e-9d1a-4e57-8b3c-2a7d5e9f1b46",
            adopt_secrets=True,
            adopt_release=True,
        )
    )
    assert protection_errors(deployment, PROTECTED_TYPES) == []


def test_default_protects_nothing(deploy_federation: DeployFederation) -> None:
    args = {**protect_args(), "protect": False}
    deployment = accepted(deploy_federation(**args))
    assert protection_errors(deployment, set()) == []


def test_main_protect_from_config() -> None:
    config = stack_config(
        "Pulumi.dev.yaml", {"subscriptionId": MAIN_SUBSCRIPTION_ID, "protect": "true"}
    )
    deployment = accepted(deploy(run_main, config=config))
    assert protection_errors(deployment, PROTECTED_TYPES) == []
    assert deployment.one(APPLICATION).protect is True


def test_main_default_protects_nothing() -> None:
    config = stack_config("Pulumi.dev.yaml", {"subscriptionId": MAIN_SUBSCRIPTION_ID})
    deployment = accepted(deploy(run_main, config=config))
    assert protection_errors(deployment, set()) == []
