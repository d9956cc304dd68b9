"""Tests that `__main__.py` with the dev stack's configuration builds and exports everything."""

from __future__ import annotations

import re

import pytest

from tests.mocks import (
    CERTIFICATE_GRAPH_TYPES,
    Deployment,
    deploy,
    run_main,
    stack_config,
)

SUBSCRIPTION_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

EXPECTED_TYPES = dict(CERTIFICATE_GRAPH_TYPES)
EXPORTS = {
    "clientId",
    "tenantId",
    "subscriptionId",
    "applicationObjectId",
    "servicePrincipalObjectId",
    "certificateThumbprint",
    "certificateExpiry",
    "secretNames",
    "releaseName",
    "namespace",
    "releaseStatus",
}


@pytest.fixture(scope="module")
def preview() -> Deployment:
    """The dev stack as committed, placeholders included, run as `pulumi preview` would."""
    return deploy(run_main, config=stack_config("Pulumi.dev.yaml"), preview=True)


@pytest.fixture(scope="module")
def update() -> Deployment:
    """The dev stack with a real-looking subscription, run as `pulumi up` would."""
    return deploy(
        run_main, config=stack_config("Pulumi.dev.yaml", {"subscriptionId": SUBSCRIPTION_ID})
    )


def type_counts(deployment: Deployment) -> dict[str, int]:
    counts: dict[str, int] = {}
    for registration in deployment.registrations:
        counts[registration.type] = counts.get(registration.type, 0) + 1
    return counts


def test_preview_registers_whole_graph(preview: Deployment) -> None:
    assert type_counts(preview) == EXPECTED_TYPES
    assert preview.mocks.rejections == [], preview.mocks.rejections


def test_update_registers_whole_graph(update: Deployment) -> None:
    assert type_counts(update) == EXPECTED_TYPES
    assert update.mocks.rejections == [], update.mocks.rejections


def test_update_exports_every_output(update: Deployment) -> None:
    assert set(update.exports) == EXPORTS


def test_exported_ids_have_azure_formats(update: Deployment) -> None:
    exports = {name: value for name, (value, _) in update.exports.items()}
    for name in ("clientId", "tenantId", "applicationObjectId", "servicePrincipalObjectId"):
        assert GUID.match(exports[name]), f"{name} is not a GUID: {exports[name]!r}"
    assert exports["subscriptionId"] == SUBSCRIPTION_ID
    assert re.match(r"^[0-9A-F]{40}$", exports["certificateThumbprint"]), "bad thumbprint"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", exports["certificateExpiry"])


def test_exported_kubernetes_names_follow_guide(update: Deployment) -> None:
    exports = {name: value for name, (value, _) in update.exports.items()}
    assert exports["namespace"] == "coder"
    assert exports["releaseName"] == "coder"
    assert exports["releaseStatus"] == "deployed"
    assert exports["secretNames"] == {
        "bundle": "azure-client-cert-secret",
        "client_id": "arm-client-id",
        "tenant_id": "arm-tenant-id",
        "subscription_id": "arm-subscription-id",
        "password": "arm-client-cert-password",
    }


def test_exports_are_not_secret(update: Deployment) -> None:
    for name, (_, is_secret) in update.exports.items():
        assert not is_secret, f"export {name} is secret, so other stacks cannot read it plainly"
