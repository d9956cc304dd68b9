"""Tests of the resource changes that the runbooks in docs/ tell the operator to expect.

Each test runs two offline deployments under `tests.mocks`, the second with the first as its
prior state, as two `pulumi up` runs would. The mocks record each resource's step (create, same,
update, replace). The resources that the second run no longer declares are the ones the engine
deletes at the end of the update.
"""

from __future__ import annotations

import pytest

from tests.conftest import DeployFederation
from tests.mocks import (
    APPLICATION,
    BUNDLE,
    CREDENTIAL,
    FEDERATED_CREDENTIAL,
    MOUNT_REFRESH_WAIT,
    RANDOM_PASSWORD,
    RELEASE,
    ROLE_ASSIGNMENT,
    SECRET,
    SECRET_PATCH,
    SERVICE_PRINCIPAL,
    TLS_CERT,
    TLS_KEY,
    Deployment,
)

WORKLOAD_IDENTITY = {
    "auth_mode": "workloadIdentity",
    "workload_identity_issuer": "https://oidc.prod-aks.azure.example/tenant/cluster/",
    "workload_identity_flavor": "webhook",
}
# What certificate mode declares and workload identity mode does not, by type.
CERTIFICATE_ONLY = {
    TLS_KEY: 1,
    TLS_CERT: 1,
    RANDOM_PASSWORD: 1,
    BUNDLE: 1,
    CREDENTIAL: 1,
    SECRET: 5,
    SECRET_PATCH: 2,
    MOUNT_REFRESH_WAIT: 1,
}
IDENTITY_TYPES = (APPLICATION, SERVICE_PRINCIPAL, ROLE_ASSIGNMENT)


def accepted(deployment: Deployment) -> Deployment:
    """Check that the mocks rejected no request of a deployment, and return it."""
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    return deployment


def deleted_types(before: Deployment, after: Deployment) -> dict[str, int]:
    """Count, by type, the resources in the first run's state that the second run dropped."""
    counts: dict[str, int] = {}
    for typ, _name in set(before.state) - set(after.state):
        counts[typ] = counts.get(typ, 0) + 1
    return counts


def step_of(deployment: Deployment, name: str) -> str:
    """Return the step the mocks planned for one resource."""
    steps = [step for step, resource in deployment.mocks.steps if resource == name]
    assert len(steps) == 1, f"{name} has steps {steps}"
    return steps[0]


@pytest.fixture(scope="module")
def certificate_run(deploy_federation: DeployFederation) -> Deployment:
    """A first run in certificate mode."""
    return accepted(deploy_federation())


@pytest.fixture(scope="module")
def switched_run(deploy_federation: DeployFederation, certificate_run: Deployment) -> Deployment:
    """The run that switches the certificate-mode stack to workload identity."""
    return accepted(deploy_federation(prior=certificate_run, **WORKLOAD_IDENTITY))


# Switching to workload identity and back


def test_switch_drops_certificate_resources(
    certificate_run: Deployment, switched_run: Deployment
) -> None:
    assert deleted_types(certificate_run, switched_run) == CERTIFICATE_ONLY


def test_switch_creates_federated_credential(switched_run: Deployment) -> None:
    credential = switched_run.one(FEDERATED_CREDENTIAL)
    assert step_of(switched_run, credential.name) == "create"


def test_switch_updates_release_in_place(switched_run: Deployment) -> None:
    assert step_of(switched_run, switched_run.one(RELEASE).name) == "update"


def test_switch_keeps_identity(switched_run: Deployment) -> None:
    for typ in IDENTITY_TYPES:
        item = switched_run.one(typ)
        assert step_of(switched_run, item.name) == "same", f"{item.name} changes"


def test_rollback_restores_certificate_resources(
    deploy_federation: DeployFederation, switched_run: Deployment
) -> None:
    rolled_back = accepted(deploy_federation(prior=switched_run))
    assert deleted_types(switched_run, rolled_back) == {FEDERATED_CREDENTIAL: 1}
    created: dict[str, int] = {}
    for item in rolled_back.registrations:
        if item.custom and step_of(rolled_back, item.name) == "create":
            created[item.type] = created.get(item.type, 0) + 1
    assert created == CERTIFICATE_ONLY
    assert step_of(rolled_back, rolled_back.one(RELEASE).name) == "update"
    for typ in IDENTITY_TYPES:
        assert step_of(rolled_back, rolled_back.one(typ).name) == "same"


# Lifting protection


def test_lifting_protect_changes_no_resource(deploy_federation: DeployFederation) -> None:
    protected = accepted(deploy_federation(protect=True))
    lifted = accepted(deploy_federation(prior=protected, protect=False))
    assert [item.name for item in lifted.registrations if item.protect] == []
    assert [step for step in lifted.mocks.steps if step[0] != "same"] == []


# Rotating both counters in one run


def test_double_rotation_order(deploy_federation: DeployFederation) -> None:
    first = accepted(deploy_federation())
    rotated = accepted(deploy_federation(prior=first, certificate_rotation=1, password_rotation=1))
    order = [name for step, name in rotated.mocks.steps if step != "same"]
    # The patches write the new bundle and password, then the pods restart. Every pod restarts
    # for the new password anyway, so the wait for the mounted bundle does not sleep.
    for patch in rotated.of_type(SECRET_PATCH):
        assert order.index(patch.name) < order.index("fed-mount-refresh"), order
    assert order.index("fed-mount-refresh") < order.index("fed-release"), order
    assert rotated.mocks.sleeps == []

    # The old credential is deleted only after the release has been updated.
    steps = rotated.mocks.steps
    assert steps.index(("delete-replaced", "fed-credential")) > steps.index(
        ("update", "fed-release")
    )


# Revoking a leaked key


def without_credential(deployment: Deployment) -> Deployment:
    """Drop the key credential from a run's state, as a refresh does once it is deleted in Entra."""
    del deployment.state[(CREDENTIAL, "fed-credential")]
    return deployment


def test_revoked_key_uploaded_again_without_rotation(deploy_federation: DeployFederation) -> None:
    first = accepted(deploy_federation())
    leaked = first.one(CREDENTIAL).plain_inputs["value"]
    again = accepted(deploy_federation(prior=without_credential(first)))
    credential = again.one(CREDENTIAL)
    assert step_of(again, credential.name) == "create"
    assert credential.plain_inputs["value"] == leaked


def test_revoked_key_replaced_with_rotation(deploy_federation: DeployFederation) -> None:
    first = accepted(deploy_federation())
    leaked = first.one(CREDENTIAL).plain_inputs["value"]
    rotated = accepted(
        deploy_federation(
            prior=without_credential(first), certificate_rotation=1, password_rotation=1
        )
    )
    credential = rotated.one(CREDENTIAL)
    assert step_of(rotated, credential.name) == "create"
    assert credential.plain_inputs["value"] != leaked
    assert step_of(rotated, rotated.one(RELEASE).name) == "update"
    assert ("delete-replaced", credential.name) not in rotated.mocks.steps
