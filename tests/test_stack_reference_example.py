"""examples/consumer: another team's stack that reads this project's outputs by stack reference.

The example program runs under Pulumi's mocks. Like the engine, the mocks resolve the stack
reference to the referenced stack's outputs and the names of the secret ones. The test then
checks which stack the program requested and what it built from those outputs.
"""

from __future__ import annotations

import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import pytest
import yaml
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from tests.mocks import is_secret_wrapped, resolve_output, unwrap

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "consumer"
PROJECT = "coder-federation-consumer"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"

# The outputs of a deployed coder-azure-federation stack, as `pulumi stack output` shows them.
FEDERATION_OUTPUTS: dict[str, Any] = {
    "clientId": "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5",
    "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "subscriptionId": "3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8",
    "applicationObjectId": "1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6",
    "servicePrincipalObjectId": "2e3f4a5b-6c7d-4e8f-90a1-b2c3d4e5f607",
    "certificateThumbprint": "3B6F0C0E5A1D2C4B8E9F7A6D5C4B3A2F1E0D9C8B",
    "certificateExpiry": "2028-12-04T20:00:00Z",
    "secretNames": {
        "bundle": "azure-client-cert-secret",
        "client_id": "arm-client-id",
        "tenant_id": "arm-tenant-id",
        "subscription_id": "arm-subscription-id",
        "password": "arm-client-cert-password",
    },
    "releaseName": "coder",
    "namespace": "coder",
    "releaseStatus": "deployed",
}


@dataclass
class ConsumerMocks(pulumi.runtime.Mocks):
    """Mock engine that resolves the stack reference and echoes every other resource's inputs."""

    outputs: Mapping[str, Any]
    secret_output_names: list[str] = field(default_factory=list)
    requests: list[MockResourceArgs] = field(default_factory=list)

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.requests.append(args)
        if args.typ == STACK_REFERENCE:
            # A stack reference is read, not created: the engine gets the stack name as the ID
            # and returns the outputs and the names of the secret ones.
            return args.resource_id, {
                "name": args.inputs["name"],
                "outputs": dict(self.outputs),
                "secretOutputNames": list(self.secret_output_names),
            }
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise AssertionError(f"unexpected invoke {args.token}")

    def of_type(self, typ: str) -> list[MockResourceArgs]:
        return [request for request in self.requests if request.typ == typ]


@dataclass
class Run:
    mocks: ConsumerMocks
    exports: dict[str, tuple[Any, bool]]
    """Stack exports: name to (value, is_secret)."""


def run_example(
    federation_stack: str | None,
    outputs: Mapping[str, Any] = FEDERATION_OUTPUTS,
    secret_output_names: list[str] | None = None,
) -> Run:
    """Run examples/consumer/__main__.py as the language host would, from its folder."""
    mocks = ConsumerMocks(outputs, list(secret_output_names or []))
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="dev", preview=False)
    config = {} if federation_stack is None else {f"{PROJECT}:federationStack": federation_stack}
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.settings.SETTINGS.rpc_manager.clear()
    pulumi.runtime.settings.SETTINGS.outputs.clear()

    def program() -> None:
        runpy.run_path(str(EXAMPLE / "__main__.py"), run_name="__main__")

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(EXAMPLE)
        _sync_await(run_pulumi_func(program))
    root = pulumi.runtime.settings.get_root_resource()
    exports = {
        name: resolve_output(value)
        for name, value in (getattr(root, "outputs", None) or {}).items()
    }
    return Run(mocks=mocks, exports=exports)


@pytest.fixture(scope="module")
def run() -> Run:
    return run_example("acme/coder-azure-federation/prod")


def test_reads_the_configured_stack(run: Run) -> None:
    (reference,) = run.mocks.of_type(STACK_REFERENCE)
    assert reference.inputs["name"] == "acme/coder-azure-federation/prod"
    assert reference.resource_id == "acme/coder-azure-federation/prod"


def test_project_declares_the_stack_setting() -> None:
    project = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT
    assert project["runtime"]["name"] == "python"
    setting = project["config"]["federationStack"]
    assert setting["type"] == "string"
    assert setting["default"] == "organization/coder-azure-federation/dev"


def test_config_map_holds_the_ids(run: Run) -> None:
    (config_map,) = run.mocks.of_type(CONFIG_MAP)
    metadata = config_map.inputs["metadata"]
    assert metadata["name"] == "coder-azure-identity"
    assert metadata["namespace"] == FEDERATION_OUTPUTS["namespace"]
    assert config_map.inputs["data"] == {
        "ARM_CLIENT_ID": FEDERATION_OUTPUTS["clientId"],
        "ARM_TENANT_ID": FEDERATION_OUTPUTS["tenantId"],
        "ARM_SUBSCRIPTION_ID": FEDERATION_OUTPUTS["subscriptionId"],
        "BUNDLE_SECRET_NAME": "azure-client-cert-secret",
    }


def test_exports(run: Run) -> None:
    client_id = FEDERATION_OUTPUTS["clientId"]
    assert run.exports == {
        "configMap": ("coder/coder-azure-identity", False),
        "portalUrl": (
            "https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade"
            f"/~/Overview/appId/{client_id}",
            False,
        ),
        "bundleSecretName": ("azure-client-cert-secret", False),
    }


def test_workload_identity_stack_has_no_bundle_secret() -> None:
    """A federation stack in workload identity mode exports an empty `secretNames`."""
    outputs = {**FEDERATION_OUTPUTS, "secretNames": {}}
    result = run_example("organization/coder-azure-federation/dev", outputs)
    (config_map,) = result.mocks.of_type(CONFIG_MAP)
    assert "BUNDLE_SECRET_NAME" not in config_map.inputs["data"]
    assert result.exports["bundleSecretName"] == ("", False)


def test_secret_output_stays_secret() -> None:
    """Were the federation stack to mark an output secret, it would stay secret here."""
    result = run_example(
        "organization/coder-azure-federation/dev", secret_output_names=["clientId"]
    )
    (config_map,) = result.mocks.of_type(CONFIG_MAP)
    assert is_secret_wrapped(config_map.inputs["data"]), "the IDs reached the ConfigMap in clear"
    assert unwrap(config_map.inputs["data"])["ARM_CLIENT_ID"] == FEDERATION_OUTPUTS["clientId"]
    assert result.exports["portalUrl"][1] is True
    assert result.exports["configMap"][1] is False


def test_missing_setting_is_named() -> None:
    """Run without the setting (and without the CLI's default), the program names the key."""
    with pytest.raises(pulumi.ConfigMissingError, match="federationStack"):
        run_example(None)
