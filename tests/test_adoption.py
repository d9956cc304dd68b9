"""Tests of adoption: which resources of a hand-built setup Pulumi imports, and with what IDs.

A setup made with Coder's manual guide has an application, a service principal, a role
assignment, five Kubernetes secrets and a Helm release. The adopt* settings name them, and the
component must set the `import` option on exactly those resources and on nothing else. The key,
certificate, bundle and key credential are always new, because Graph never returns the private
key of an existing certificate. Each deployment runs offline under `tests.mocks`, which records
the import ID and `ignoreChanges` of every registration.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import ConfigError
from tests.conftest import SUBSCRIPTION_ID, DeployFederation
from tests.mocks import (
    APPLICATION,
    CREDENTIAL,
    RELEASE,
    ROLE_ASSIGNMENT,
    SECRET,
    SECRET_PATCH,
    SERVICE_PRINCIPAL,
    Deployment,
    Registration,
    deploy,
    run_main,
    stack_config,
)

APP_OBJECT_ID = "0c6f4b2e-9d1a-4e57-8b3c-2a7d5e9f1b46"
SP_OBJECT_ID = "7e2d9a41-3b6c-4f08-a5d2-c91e8f3b6a07"
SUBSCRIPTION_ASSIGNMENT = "a3c5e7f9-1b2d-4e6f-8a0b-c2d4e6f8a0b1"
GROUP_ASSIGNMENT = "d4f6a8c0-2e4a-4c6e-9b1d-3f5a7c9e1b2d"
SECOND_GROUP_ASSIGNMENT = "5b7d9f1a-3c5e-4a7c-8e0a-2c4e6a8c0e2f"

SUBSCRIPTION_SCOPE = f"/subscriptions/{SUBSCRIPTION_ID}"
GROUP_SCOPE = f"{SUBSCRIPTION_SCOPE}/resourceGroups/coder-workspaces"

# The names Coder's guide gives the secrets, which are the component's defaults.
GUIDE_SECRET_NAMES = (
    "azure-client-cert-secret",
    "arm-client-id",
    "arm-tenant-id",
    "arm-subscription-id",
    "arm-client-cert-password",
)
RELEASE_IGNORED = {"values", "version", "repositoryOpts", "chart"}
SECRET_IGNORED = {"data", "stringData", "metadata.labels"}

# A subscription for runs through __main__.py that are not previews, where the dev stack's
# all-zero placeholder is rejected.
MAIN_SUBSCRIPTION_ID = "8d3f5b71-2c4e-4a69-b0d8-e1f2a3b4c5d6"


def assignment_id(scope: str, name: str) -> str:
    """Build a role assignment's resource ID as `az role assignment list` prints it."""
    return f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"


def imports(deployment: Deployment) -> dict[str, str]:
    """Return the import ID of every registration that has one, keyed by resource name."""
    return {item.name: item.import_id for item in deployment.registrations if item.import_id}


def assignment_on(deployment: Deployment, scope: str) -> Registration:
    """Return the only role assignment registered on a scope."""
    found = [
        item
        for item in deployment.of_type(ROLE_ASSIGNMENT)
        if item.plain_inputs["scope"].lower() == scope.lower()
    ]
    assert len(found) == 1, f"expected one assignment on {scope}, found {len(found)}"
    return found[0]


def accepted(deployment: Deployment) -> Deployment:
    """Check that the mocks rejected no request of a deployment, and return it."""
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    return deployment


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


def adopt_everything() -> dict[str, Any]:
    """Return component arguments that adopt every part of a setup built with Coder's guide."""
    return {
        "adopt_application_object_id": APP_OBJECT_ID,
        "adopt_service_principal_object_id": SP_OBJECT_ID,
        "adopt_role_assignment_ids": [assignment_id(SUBSCRIPTION_SCOPE, SUBSCRIPTION_ASSIGNMENT)],
        "adopt_secrets": True,
        "adopt_release": True,
    }


# No adoption


def test_default_imports_nothing(deployment: Deployment) -> None:
    assert imports(deployment) == {}
    for item in deployment.registrations:
        assert item.ignore_changes in ([], ["data", "stringData"]), (
            f"{item.name} ignores {item.ignore_changes} without adoption"
        )
    assert deployment.one(RELEASE).ignore_changes == []


# Entra ID objects


def test_application_only_imported(deploy_federation: DeployFederation) -> None:
    deployment = accepted(deploy_federation(adopt_application_object_id=APP_OBJECT_ID))
    assert imports(deployment) == {"fed-app": f"/applications/{APP_OBJECT_ID}"}
    assert deployment.one(APPLICATION).ignore_changes == []


def test_application_id_lower_cased(deploy_federation: DeployFederation) -> None:
    deployment = deploy_federation(adopt_application_object_id=APP_OBJECT_ID.upper())
    assert imports(deployment) == {"fed-app": f"/applications/{APP_OBJECT_ID}"}


def test_service_principal_only_imported(deploy_federation: DeployFederation) -> None:
    # pulumi-azuread 6.x keeps a service principal's bare object ID as its resource ID, and its
    # importer rejects any ID that is not a UUID.
    deployment = accepted(deploy_federation(adopt_service_principal_object_id=SP_OBJECT_ID))
    assert imports(deployment) == {"fed-sp": SP_OBJECT_ID}
    assert deployment.one(SERVICE_PRINCIPAL).ignore_changes == []


def test_imported_objects_keep_object_ids(deploy_federation: DeployFederation) -> None:
    deployment = deploy_federation(
        adopt_application_object_id=APP_OBJECT_ID,
        adopt_service_principal_object_id=SP_OBJECT_ID,
    )
    assert deployment.one(APPLICATION).plain_outputs["objectId"] == APP_OBJECT_ID
    assert deployment.one(SERVICE_PRINCIPAL).plain_outputs["objectId"] == SP_OBJECT_ID


# Role assignments


def test_subscription_assignment_imported(deploy_federation: DeployFederation) -> None:
    adopted = assignment_id(SUBSCRIPTION_SCOPE, SUBSCRIPTION_ASSIGNMENT)
    deployment = accepted(deploy_federation(adopt_role_assignment_ids=[adopted]))
    assignment = deployment.one(ROLE_ASSIGNMENT)
    assert imports(deployment) == {assignment.name: adopted}
    assert assignment.plain_inputs["roleAssignmentName"] == SUBSCRIPTION_ASSIGNMENT
    assert assignment.plain_inputs["scope"] == SUBSCRIPTION_SCOPE


def test_group_assignment_matched_by_scope(deploy_federation: DeployFederation) -> None:
    adopted = assignment_id(GROUP_SCOPE, GROUP_ASSIGNMENT)
    deployment = accepted(
        deploy_federation(
            role_assignments=["Reader", f"Contributor@{GROUP_SCOPE}"],
            adopt_role_assignment_ids=[adopted],
        )
    )
    group = assignment_on(deployment, GROUP_SCOPE)
    subscription = assignment_on(deployment, SUBSCRIPTION_SCOPE)
    assert imports(deployment) == {group.name: adopted}
    assert group.plain_inputs["roleAssignmentName"] == GROUP_ASSIGNMENT
    assert subscription.plain_inputs["roleAssignmentName"] != GROUP_ASSIGNMENT


def test_assignments_matched_regardless_of_order(deploy_federation: DeployFederation) -> None:
    on_group = assignment_id(GROUP_SCOPE, GROUP_ASSIGNMENT)
    on_subscription = assignment_id(SUBSCRIPTION_SCOPE, SUBSCRIPTION_ASSIGNMENT)
    deployment = accepted(
        deploy_federation(
            role_assignments=["Reader", f"Contributor@{GROUP_SCOPE}"],
            adopt_role_assignment_ids=[on_group, on_subscription],
        )
    )
    group = assignment_on(deployment, GROUP_SCOPE)
    subscription = assignment_on(deployment, SUBSCRIPTION_SCOPE)
    assert imports(deployment) == {group.name: on_group, subscription.name: on_subscription}
    assert group.plain_inputs["roleAssignmentName"] == GROUP_ASSIGNMENT
    assert subscription.plain_inputs["roleAssignmentName"] == SUBSCRIPTION_ASSIGNMENT


def test_assignment_scope_matched_ignoring_case(deploy_federation: DeployFederation) -> None:
    # ARM compares resource IDs without regard to case, and az sometimes prints them lower-cased.
    lower = assignment_id(GROUP_SCOPE.lower(), GROUP_ASSIGNMENT)
    deployment = accepted(
        deploy_federation(
            role_assignments=[f"Contributor@{GROUP_SCOPE}"], adopt_role_assignment_ids=[lower]
        )
    )
    group = assignment_on(deployment, GROUP_SCOPE)
    assert group.import_id == assignment_id(GROUP_SCOPE, GROUP_ASSIGNMENT)
    assert group.plain_inputs["roleAssignmentName"] == GROUP_ASSIGNMENT


def test_same_scope_assignments_matched_in_order(deploy_federation: DeployFederation) -> None:
    # The ID names no role, so two assignments on one scope are paired in configuration order.
    first = assignment_id(GROUP_SCOPE, GROUP_ASSIGNMENT)
    second = assignment_id(GROUP_SCOPE, SECOND_GROUP_ASSIGNMENT)
    deployment = accepted(
        deploy_federation(
            role_assignments=[f"Reader@{GROUP_SCOPE}", f"Contributor@{GROUP_SCOPE}"],
            adopt_role_assignment_ids=[first, second],
        )
    )
    by_role = {
        item.plain_inputs["roleDefinitionId"].rsplit("/", 1)[-1]: item
        for item in deployment.of_type(ROLE_ASSIGNMENT)
    }
    reader = by_role["acdd72a7-3385-48ef-bd42-f606fba81ae7"]
    contributor = by_role["b24988ac-6180-42a0-ab88-20f7382dd24c"]
    assert reader.import_id == first
    assert contributor.import_id == second


def test_unmatched_assignment_scope_rejected(deploy_federation: DeployFederation) -> None:
    adopted = assignment_id(GROUP_SCOPE, GROUP_ASSIGNMENT)
    error = rejected(deploy_federation, adopt_role_assignment_ids=[adopted])
    assert problem_keys(error) == ["adoptRoleAssignmentIds"]
    assert adopted in str(error)


def test_other_subscription_assignment_rejected(deploy_federation: DeployFederation) -> None:
    other = "/subscriptions/9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"
    adopted = assignment_id(other, SUBSCRIPTION_ASSIGNMENT)
    error = rejected(deploy_federation, adopt_role_assignment_ids=[adopted])
    assert problem_keys(error) == ["adoptRoleAssignmentIds"]


def test_repeated_id_for_one_assignment_rejected(deploy_federation: DeployFederation) -> None:
    adopted = assignment_id(SUBSCRIPTION_SCOPE, SUBSCRIPTION_ASSIGNMENT)
    error = rejected(deploy_federation, adopt_role_assignment_ids=[adopted, adopted])
    assert problem_keys(error) == ["adoptRoleAssignmentIds"]


def test_repeated_id_for_two_assignments_rejected(deploy_federation: DeployFederation) -> None:
    adopted = assignment_id(GROUP_SCOPE, GROUP_ASSIGNMENT)
    error = rejected(
        deploy_federation,
        role_assignments=[f"Reader@{GROUP_SCOPE}", f"Contributor@{GROUP_SCOPE}"],
        adopt_role_assignment_ids=[adopted, adopted],
    )
    assert problem_keys(error) == ["adoptRoleAssignmentIds"]


# Kubernetes secrets and the release


def test_adopt_secrets_imports_five_secrets(deploy_federation: DeployFederation) -> None:
    deployment = accepted(deploy_federation(adopt_secrets=True))
    secrets = deployment.of_type(SECRET)
    assert sorted(item.plain_inputs["metadata"]["name"] for item in secrets) == sorted(
        GUIDE_SECRET_NAMES
    )
    expected = {item.name: f"coder/{item.plain_inputs['metadata']['name']}" for item in secrets}
    assert imports(deployment) == expected
    for item in secrets:
        assert set(item.ignore_changes) == SECRET_IGNORED, (item.name, item.ignore_changes)


def test_adopted_secrets_use_configured_names(deploy_federation: DeployFederation) -> None:
    deployment = accepted(
        deploy_federation(
            adopt_secrets=True,
            namespace="coder-prod",
            bundle_secret_name="prod-bundle",
            password_secret_name="prod-bundle-password",
        )
    )
    imported = set(imports(deployment).values())
    assert imported == {
        "coder-prod/prod-bundle",
        "coder-prod/arm-client-id",
        "coder-prod/arm-tenant-id",
        "coder-prod/arm-subscription-id",
        "coder-prod/prod-bundle-password",
    }


def test_adoption_run_keeps_secret_content(deploy_federation: DeployFederation) -> None:
    # The running pods read the hand-made password at start, so a new bundle in the adoption
    # run would lock them out until the next run restarts them.
    deployment = accepted(deploy_federation(adopt_secrets=True, adopt_release=True))
    assert [patch.name for patch in deployment.of_type(SECRET_PATCH)] == []


def test_adopt_release_imports_release(deploy_federation: DeployFederation) -> None:
    deployment = accepted(deploy_federation(adopt_release=True))
    release = deployment.one(RELEASE)
    assert imports(deployment) == {release.name: "coder/coder"}
    assert set(release.ignore_changes) == RELEASE_IGNORED


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"namespace": "coder-prod", "release_name": "coder-main"}, "coder-prod/coder-main"),
        ({"chart": "coder-provisioner"}, "coder/coder-provisioner"),
        (
            {"chart": "coder-provisioner", "release_name": "eu-provisioners"},
            "coder/eu-provisioners",
        ),
    ],
    ids=["custom-name", "provisioner-default", "provisioner-custom"],
)
def test_adopted_release_id_follows_names(
    deploy_federation: DeployFederation, overrides: dict[str, str], expected: str
) -> None:
    deployment = accepted(deploy_federation(adopt_release=True, **overrides))
    assert deployment.one(RELEASE).import_id == expected


def test_credential_never_imported(deploy_federation: DeployFederation) -> None:
    deployment = accepted(deploy_federation(**adopt_everything()))
    credential = deployment.one(CREDENTIAL)
    assert credential.import_id == ""
    assert credential.ignore_changes == []


def test_everything_adopted_exactly(deploy_federation: DeployFederation) -> None:
    deployment = accepted(deploy_federation(**adopt_everything()))
    assignment = deployment.one(ROLE_ASSIGNMENT)
    expected = {
        "fed-app": f"/applications/{APP_OBJECT_ID}",
        "fed-sp": SP_OBJECT_ID,
        assignment.name: assignment_id(SUBSCRIPTION_SCOPE, SUBSCRIPTION_ASSIGNMENT),
        "fed-bundle-secret": "coder/azure-client-cert-secret",
        "fed-client-id-secret": "coder/arm-client-id",
        "fed-tenant-id-secret": "coder/arm-tenant-id",
        "fed-subscription-id-secret": "coder/arm-subscription-id",
        "fed-password-secret": "coder/arm-client-cert-password",
        "fed-release": "coder/coder",
    }
    assert imports(deployment) == expected


# The run after adoption


@pytest.fixture(scope="module")
def adoption_run(deploy_federation: DeployFederation) -> Deployment:
    """The first run, which adopts every part of a hand-built setup."""
    return accepted(deploy_federation(**adopt_everything()))


@pytest.fixture(scope="module")
def follow_up_run(deploy_federation: DeployFederation, adoption_run: Deployment) -> Deployment:
    """The second run, with every adopt setting removed but the role assignment IDs."""
    assignment_ids = adopt_everything()["adopt_role_assignment_ids"]
    return accepted(deploy_federation(prior=adoption_run, adopt_role_assignment_ids=assignment_ids))


def test_next_run_applies_release_values(follow_up_run: Deployment) -> None:
    release = follow_up_run.one(RELEASE)
    assert release.ignore_changes == []
    assert release.import_id == ""
    for item in follow_up_run.of_type(SECRET):
        if item.name in ("fed-bundle-secret", "fed-password-secret"):
            assert set(item.ignore_changes) == {"data", "stringData"}
        else:
            assert item.ignore_changes == [], (item.name, item.ignore_changes)


def test_next_run_only_writes_content(follow_up_run: Deployment) -> None:
    # Keeping the assignment ID replaces nothing, because the engine treats an import ID equal to
    # the ID in state as an ordinary resource.
    # NOTE: the mocks keep no live state for an import. So the release shows as unchanged here,
    # although on a real cluster its hand-made values differ and this run updates them.
    changed = sorted(step for step in follow_up_run.mocks.steps if step[0] != "same")
    assert changed == [
        ("create", "fed-bundle-secret-content"),
        ("create", "fed-password-secret-content"),
    ]


def test_next_run_writes_new_bundle(follow_up_run: Deployment) -> None:
    bundle = follow_up_run.named("fed-bundle").plain_outputs["pfx_base64"]
    patch = follow_up_run.named("fed-bundle-secret-content").plain_inputs
    assert patch["data"] == {"client.pfx": bundle}
    assert patch["metadata"]["name"] == "azure-client-cert-secret"


def test_release_waits_for_new_content(follow_up_run: Deployment) -> None:
    release = follow_up_run.one(RELEASE)
    for patch in follow_up_run.of_type(SECRET_PATCH):
        assert patch.urn in release.dependencies, f"the release does not wait for {patch.name}"


def test_dropped_assignment_id_replaces_assignment(
    deploy_federation: DeployFederation, adoption_run: Deployment
) -> None:
    # Without the adopted GUID the assignment gets its computed name, which is a replacement.
    # ARM rejects the new assignment with RoleAssignmentExists while the old one exists, so
    # the runbook keeps adoptRoleAssignmentIds set after adoption.
    follow_up = deploy_federation(prior=adoption_run)
    assignment = follow_up.one(ROLE_ASSIGNMENT)
    assert assignment.plain_inputs["roleAssignmentName"] != SUBSCRIPTION_ASSIGNMENT
    assert ("replace", assignment.name) in follow_up.mocks.steps


# Invalid adoption settings


@pytest.mark.parametrize(
    ("args", "key"),
    [
        ({"adopt_application_object_id": "coder-app"}, "adoptApplicationObjectId"),
        (
            {"adopt_application_object_id": f"/applications/{APP_OBJECT_ID}"},
            "adoptApplicationObjectId",
        ),
        ({"adopt_service_principal_object_id": "1234"}, "adoptServicePrincipalObjectId"),
        (
            {"adopt_role_assignment_ids": [SUBSCRIPTION_ASSIGNMENT]},
            "adoptRoleAssignmentIds",
        ),
        (
            {"adopt_role_assignment_ids": [assignment_id(SUBSCRIPTION_SCOPE, "coder-contributor")]},
            "adoptRoleAssignmentIds",
        ),
        (
            {
                "adopt_role_assignment_ids": [
                    f"{SUBSCRIPTION_SCOPE}/roleAssignments/{SUBSCRIPTION_ASSIGNMENT}"
                ]
            },
            "adoptRoleAssignmentIds",
        ),
        (
            {
                "adopt_role_assignment_ids": [
                    assignment_id("/subscriptions/not-a-guid", SUBSCRIPTION_ASSIGNMENT)
                ]
            },
            "adoptRoleAssignmentIds",
        ),
        (
            {
                "adopt_role_assignment_ids": assignment_id(
                    SUBSCRIPTION_SCOPE, SUBSCRIPTION_ASSIGNMENT
                )
            },
            "adoptRoleAssignmentIds",
        ),
        ({"adopt_secrets": "yes"}, "adoptSecrets"),
        ({"adopt_release": 1}, "adoptRelease"),
    ],
    ids=[
        "app-name",
        "app-resource-path",
        "sp-short",
        "assignment-bare-guid",
        "assignment-name-not-guid",
        "assignment-no-provider",
        "assignment-bad-subscription",
        "assignment-not-list",
        "secrets-not-boolean",
        "release-not-boolean",
    ],
)
def test_invalid_adoption_rejected(
    deploy_federation: DeployFederation, args: dict[str, Any], key: str
) -> None:
    error = rejected(deploy_federation, **args)
    assert problem_keys(error) == [key]


# Through __main__.py and the stack configuration


def main_config(overrides: dict[str, str]) -> dict[str, str]:
    """Return the dev stack's configuration with a subscription, no namespace and overrides.

    Values are strings as the CLI passes them: arrays as JSON lists, booleans as "true".
    """
    return stack_config(
        "Pulumi.dev.yaml",
        {"subscriptionId": MAIN_SUBSCRIPTION_ID, "createNamespace": "false", **overrides},
    )


def test_main_adopts_everything_exactly() -> None:
    scope = f"/subscriptions/{MAIN_SUBSCRIPTION_ID}"
    adopted = assignment_id(scope, SUBSCRIPTION_ASSIGNMENT)
    config = main_config(
        {
            "adoptApplicationObjectId": APP_OBJECT_ID,
            "adoptServicePrincipalObjectId": SP_OBJECT_ID,
            "adoptRoleAssignmentIds": json.dumps([adopted]),
            "adoptSecrets": "true",
            "adoptRelease": "true",
        }
    )
    deployment = accepted(deploy(run_main, config=config))

    assignment = deployment.one(ROLE_ASSIGNMENT)
    expected = {
        "coder-azure-app": f"/applications/{APP_OBJECT_ID}",
        "coder-azure-sp": SP_OBJECT_ID,
        assignment.name: adopted,
        "coder-azure-bundle-secret": "coder/azure-client-cert-secret",
        "coder-azure-client-id-secret": "coder/arm-client-id",
        "coder-azure-tenant-id-secret": "coder/arm-tenant-id",
        "coder-azure-subscription-id-secret": "coder/arm-subscription-id",
        "coder-azure-password-secret": "coder/arm-client-cert-password",
        "coder-azure-release": "coder/coder",
    }
    assert imports(deployment) == expected
    assert assignment.plain_inputs["roleAssignmentName"] == SUBSCRIPTION_ASSIGNMENT

    assert set(deployment.one(RELEASE).ignore_changes) == RELEASE_IGNORED
    for item in deployment.of_type(SECRET):
        assert set(item.ignore_changes) == SECRET_IGNORED, (item.name, item.ignore_changes)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"adoptApplicationObjectId": "coder"}, "adoptApplicationObjectId"),
        ({"adoptServicePrincipalObjectId": "not-a-guid"}, "adoptServicePrincipalObjectId"),
        (
            {"adoptRoleAssignmentIds": json.dumps([f"/subscriptions/{MAIN_SUBSCRIPTION_ID}"])},
            "adoptRoleAssignmentIds",
        ),
        ({"adoptRoleAssignmentIds": "not a list"}, "adoptRoleAssignmentIds"),
        ({"adoptSecrets": "yes"}, "adoptSecrets"),
        ({"adoptRelease": "1"}, "adoptRelease"),
    ],
    ids=[
        "app-name",
        "sp-not-guid",
        "assignment-is-scope",
        "assignment-not-list",
        "secrets-not-boolean",
        "release-not-boolean",
    ],
)
def test_main_rejects_invalid_adoption(overrides: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        deploy(run_main, config=main_config(overrides))
    partial = getattr(caught.value, "deployment", None)
    assert partial is not None, "deploy attached no deployment to the error"
    assert partial.registrations == [], [item.name for item in partial.registrations]
    assert problem_keys(caught.value) == [key]
    assert f"coder-azure-federation:{key}" in str(caught.value)
