"""Shared fixtures: the component deployed offline with its required arguments and little more."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from components import CoderAzureFederation
from tests.mocks import Deployment, deploy

SUBSCRIPTION_ID = "3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8"
CHART_VERSION = "2.34.0"

DeployFederation = Callable[..., Deployment]


@pytest.fixture(scope="session")
def subscription_id() -> str:
    """Subscription ID that every fixture deployment passes to the component."""
    return SUBSCRIPTION_ID


@pytest.fixture(scope="session")
def deploy_federation() -> DeployFederation:
    """Deploy one CoderAzureFederation named `name` with the required arguments plus `overrides`.

    Passing a previous Deployment as `prior` replays its state, as a second `pulumi up` would.
    """

    def run(name: str = "fed", prior: Deployment | None = None, **overrides: Any) -> Deployment:
        args: Mapping[str, Any] = {
            "subscription_id": SUBSCRIPTION_ID,
            "chart_version": CHART_VERSION,
            **overrides,
        }
        return deploy(
            lambda: CoderAzureFederation(name, dict(args)),  # type: ignore[arg-type]
            prior=prior,
        )

    return run


@pytest.fixture(scope="module")
def deployment(deploy_federation: DeployFederation) -> Deployment:
    """The component with every optional argument at its default."""
    return deploy_federation()


@pytest.fixture(scope="module")
def namespaced_deployment(deploy_federation: DeployFederation) -> Deployment:
    """The component with `create_namespace=True`, so it declares the namespace itself."""
    return deploy_federation(create_namespace=True)
