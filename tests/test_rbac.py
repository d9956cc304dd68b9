"""Tests of role assignments and custom roles for the provisioner's service principal.

The component is deployed offline under `tests.mocks`, through its arguments and through
`__main__.py` with stack configuration as the Pulumi CLI passes it. The tests cover several
assignments with a custom role, the refusal of Owner and User Access Administrator, the warning
for subscription-wide assignments, invalid role settings and the example custom role file in
`examples/`.

The last group covers configurations that Azure or the Pulumi engine would reject during
`pulumi up`, which the component rejects up front with a ConfigError.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import ConfigError
from tests.conftest import SUBSCRIPTION_ID, DeployFederation
from tests.mocks import (
    COMPONENT,
    PROJECT,
    RELEASE,
    ROLE_ASSIGNMENT,
    ROLE_DEFINITION,
    ROOT,
    SERVICE_PRINCIPAL,
    Deployment,
    Registration,
    deploy,
    run_main,
    stack_config,
)

DEV_STACK_FILE = ROOT / "Pulumi.dev.yaml"
EXAMPLE_ROLES_FILE = ROOT / "examples" / "least-privilege-roles.yaml"
PLACEHOLDER_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
OTHER_SUBSCRIPTION = "9c1e7a4b-2d58-4f3a-b6e0-71d2c8a5f934"

# Built-in role definition GUIDs, which are the same in every Azure tenant.
READER_GUID = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
CONTRIBUTOR_GUID = "b24988ac-6180-42a0-ab88-20f7382dd24c"
OWNER_GUID = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
USER_ACCESS_ADMINISTRATOR_GUID = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ASSIGNMENT_RESOURCE_NAME = re.compile(r"^fed-role-[0-9a-f]{8}$")

SUBSCRIPTION_SCOPE = f"/subscriptions/{SUBSCRIPTION_ID}"
WORKSPACES_GROUP = f"{SUBSCRIPTION_SCOPE}/resourceGroups/coder-workspaces"
NETWORK_GROUP = f"{SUBSCRIPTION_SCOPE}/resourceGroups/coder-network"

WORKSPACES_ROLE: dict[str, Any] = {
    "name": "coder-workspaces",
    "description": "Coder workspace VMs in the coder-workspaces resource group.",
    "actions": [
        "Microsoft.Compute/virtualMachines/*",
        "Microsoft.Compute/disks/*",
        "Microsoft.Network/networkInterfaces/*",
        "Microsoft.Network/publicIPAddresses/*",
        "Microsoft.Network/networkSecurityGroups/*",
        "Microsoft.Network/virtualNetworks/read",
        "Microsoft.Network/virtualNetworks/subnets/join/action",
    ],
    "notActions": ["Microsoft.Compute/virtualMachines/runCommand/action"],
    "assignableScopes": [WORKSPACES_GROUP],
}
COMBINED_ASSIGNMENTS = [
    f"custom:coder-workspaces@{WORKSPACES_GROUP}",
    f"Reader@{SUBSCRIPTION_SCOPE}",
]
# A 2048-bit key keeps the certificate-mode deployments of this module fast.
FAST_KEY = {"certificate_key_size": 2048}


# Helpers


def definition_id(subscription_id: str, role_guid: str) -> str:
    """Build a role definition ID in the subscription-scoped form ARM returns."""
    return (
        f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization"
        f"/roleDefinitions/{role_guid}"
    )


def assignments_by_scope(deployment: Deployment) -> dict[str, Registration]:
    """Return the role assignments of a deployment, keyed by their scope."""
    found = {item.plain_inputs["scope"]: item for item in deployment.of_type(ROLE_ASSIGNMENT)}
    assert len(found) == len(deployment.of_type(ROLE_ASSIGNMENT)), "two assignments share a scope"
    return found


def warnings_of(deployment: Deployment) -> list[str]:
    """Return the messages logged at WARNING level during a deployment."""
    return [record.getMessage() for record in deployment.logs if record.levelno == logging.WARNING]


def rejected(deploy_federation: DeployFederation, **args: Any) -> ConfigError:
    """Deploy the component, expect ConfigError and check that nothing was registered."""
    with pytest.raises(ConfigError) as caught:
        deploy_federation(**args)
    partial = getattr(caught.value, "deployment", None)
    assert partial is not None, "deploy attached no deployment to the error"
    assert partial.registrations == [], [item.name for item in partial.registrations]
    return caught.value


def rejected_config(config: dict[str, str]) -> ConfigError:
    """Run `__main__.py` with a configuration, expect ConfigError and an empty graph."""
    with pytest.raises(ConfigError) as caught:
        deploy(run_main, config=config)
    partial = getattr(caught.value, "deployment", None)
    assert partial is not None, "deploy attached no deployment to the error"
    assert partial.registrations == [], [item.name for item in partial.registrations]
    return caught.value


def problem_keys(error: ConfigError) -> list[str]:
    """Return the setting key of each problem in a ConfigError."""
    return [problem.setting.key for problem in error.problems]


def duplicate_urns(deployment: Deployment) -> list[str]:
    """List each URN that more than one registration uses. The Pulumi engine rejects these."""
    urns = [item.urn for item in deployment.registrations]
    return sorted({urn for urn in urns if urns.count(urn) > 1})


@pytest.fixture
def roleless_stack(tmp_path: Path) -> Path:
    """Write the dev stack file without its `role` setting, so roleAssignments may be used."""
    loaded = yaml.safe_load(DEV_STACK_FILE.read_text(encoding="utf-8"))
    loaded["config"].pop(f"{PROJECT}:role")
    path = tmp_path / "Pulumi.roleless.yaml"
    path.write_text(yaml.safe_dump(loaded), encoding="utf-8")
    return path


def roles_file(tmp_path: Path, roles: Any, name: str = "custom-roles.yaml") -> Path:
    """Write custom roles to a YAML file in tmp_path and return its path."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(roles, sort_keys=False), encoding="utf-8")
    return path


# Several assignments with a custom role


@pytest.fixture(scope="module")
def combined(deploy_federation: DeployFederation) -> Deployment:
    """Deploy a custom role on a resource group plus Reader on the subscription."""
    return deploy_federation(
        role_assignments=list(COMBINED_ASSIGNMENTS), custom_roles=[WORKSPACES_ROLE], **FAST_KEY
    )


def test_combined_has_no_rejections(combined: Deployment) -> None:
    assert combined.mocks.rejections == [], combined.mocks.rejections
    assert duplicate_urns(combined) == []


def test_custom_role_definition(combined: Deployment) -> None:
    definition = combined.one(ROLE_DEFINITION)
    assert definition.name == "fed-custom-role-coder-workspaces"
    inputs = definition.plain_inputs
    assert inputs["roleName"] == "coder-workspaces"
    assert inputs["roleType"] == "CustomRole"
    assert inputs["description"] == WORKSPACES_ROLE["description"]
    assert inputs["scope"] == WORKSPACES_GROUP
    assert inputs["assignableScopes"] == [WORKSPACES_GROUP]
    assert GUID.match(inputs["roleDefinitionId"]), inputs["roleDefinitionId"]
    assert inputs["permissions"] == [
        {
            "actions": WORKSPACES_ROLE["actions"],
            "notActions": WORKSPACES_ROLE["notActions"],
            "dataActions": [],
            "notDataActions": [],
        }
    ]


def test_custom_role_guid_is_stable(
    combined: Deployment, deploy_federation: DeployFederation
) -> None:
    again = deploy_federation(
        role_assignments=list(COMBINED_ASSIGNMENTS), custom_roles=[WORKSPACES_ROLE], **FAST_KEY
    )
    first = combined.one(ROLE_DEFINITION).plain_inputs["roleDefinitionId"]
    second = again.one(ROLE_DEFINITION).plain_inputs["roleDefinitionId"]
    assert first == second, "a new run would replace the custom role"


def test_two_assignments_declared(combined: Deployment) -> None:
    assert sorted(assignments_by_scope(combined)) == sorted([WORKSPACES_GROUP, SUBSCRIPTION_SCOPE])


def test_custom_assignment_fields(combined: Deployment) -> None:
    principal = combined.one(SERVICE_PRINCIPAL).plain_outputs["objectId"]
    role_guid = combined.one(ROLE_DEFINITION).plain_inputs["roleDefinitionId"]
    inputs = assignments_by_scope(combined)[WORKSPACES_GROUP].plain_inputs
    assert inputs["roleDefinitionId"] == definition_id(SUBSCRIPTION_ID, role_guid)
    assert inputs["principalId"] == principal
    assert inputs["principalType"] == "ServicePrincipal"
    assert GUID.match(inputs["roleAssignmentName"]), inputs["roleAssignmentName"]


def test_reader_assignment_fields(combined: Deployment) -> None:
    principal = combined.one(SERVICE_PRINCIPAL).plain_outputs["objectId"]
    inputs = assignments_by_scope(combined)[SUBSCRIPTION_SCOPE].plain_inputs
    assert inputs["roleDefinitionId"] == definition_id(SUBSCRIPTION_ID, READER_GUID)
    assert inputs["principalId"] == principal
    assert inputs["principalType"] == "ServicePrincipal"
    assert GUID.match(inputs["roleAssignmentName"]), inputs["roleAssignmentName"]


def test_custom_assignment_waits_for_role(combined: Deployment) -> None:
    definition = combined.one(ROLE_DEFINITION)
    assignment = assignments_by_scope(combined)[WORKSPACES_GROUP]
    assert definition.urn in assignment.dependencies


def test_assignment_names_have_form(combined: Deployment) -> None:
    names = [item.name for item in combined.of_type(ROLE_ASSIGNMENT)]
    for name in names:
        assert ASSIGNMENT_RESOURCE_NAME.match(name), name
    assert len(set(names)) == len(names), names


def test_reordering_keeps_every_resource(
    combined: Deployment, deploy_federation: DeployFederation
) -> None:
    again = deploy_federation(
        prior=combined,
        role_assignments=list(reversed(COMBINED_ASSIGNMENTS)),
        custom_roles=[WORKSPACES_ROLE],
        **FAST_KEY,
    )
    before = {scope: item.name for scope, item in assignments_by_scope(combined).items()}
    after = {scope: item.name for scope, item in assignments_by_scope(again).items()}
    assert after == before
    rbac_names = {item.name for item in again.of_type(ROLE_ASSIGNMENT)}
    rbac_names |= {item.name for item in again.of_type(ROLE_DEFINITION)}
    steps = {name: step for step, name in again.mocks.steps if name in rbac_names}
    assert steps == dict.fromkeys(rbac_names, "same")


def test_custom_role_in_other_subscription(deploy_federation: DeployFederation) -> None:
    other_group = f"/subscriptions/{OTHER_SUBSCRIPTION}/resourceGroups/coder-workspaces"
    role = {**WORKSPACES_ROLE, "assignableScopes": [WORKSPACES_GROUP, other_group]}
    deployment = deploy_federation(
        role_assignments=[f"custom:coder-workspaces@{other_group}"],
        custom_roles=[role],
        **FAST_KEY,
    )
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    definition = deployment.one(ROLE_DEFINITION).plain_inputs
    assert definition["scope"] == WORKSPACES_GROUP
    assignment = deployment.one(ROLE_ASSIGNMENT).plain_inputs
    expected = definition_id(OTHER_SUBSCRIPTION, definition["roleDefinitionId"])
    assert assignment["roleDefinitionId"] == expected


def test_release_waits_for_rbac(combined: Deployment) -> None:
    release = combined.one(RELEASE)
    for item in [*combined.of_type(ROLE_ASSIGNMENT), *combined.of_type(ROLE_DEFINITION)]:
        assert item.urn in release.dependencies, f"the release does not wait for {item.name}"


# Privileged roles

PRIVILEGED_SPELLINGS = [
    ("Owner", "Owner"),
    ("owner", "Owner"),
    (OWNER_GUID, "Owner"),
    (OWNER_GUID.upper(), "Owner"),
    (f"/providers/Microsoft.Authorization/roleDefinitions/{OWNER_GUID}", "Owner"),
    (definition_id(SUBSCRIPTION_ID, OWNER_GUID), "Owner"),
    ("User Access Administrator", "User Access Administrator"),
    ("user access administrator", "User Access Administrator"),
    (USER_ACCESS_ADMINISTRATOR_GUID, "User Access Administrator"),
    (
        f"/providers/Microsoft.Authorization/roleDefinitions/{USER_ACCESS_ADMINISTRATOR_GUID}",
        "User Access Administrator",
    ),
    (definition_id(SUBSCRIPTION_ID, USER_ACCESS_ADMINISTRATOR_GUID), "User Access Administrator"),
]


@pytest.mark.parametrize(("role", "role_name"), PRIVILEGED_SPELLINGS)
def test_privileged_assignment_rejected(
    deploy_federation: DeployFederation, role: str, role_name: str
) -> None:
    error = rejected(deploy_federation, role_assignments=[f"{role}@{WORKSPACES_GROUP}"])
    assert problem_keys(error) == ["roleAssignments"]
    message = str(error)
    assert role_name in message
    assert "allowPrivilegedRoles" in message


@pytest.mark.parametrize(("role", "role_name"), PRIVILEGED_SPELLINGS)
def test_privileged_role_rejected(
    deploy_federation: DeployFederation, role: str, role_name: str
) -> None:
    error = rejected(deploy_federation, role=role)
    assert problem_keys(error) == ["role"]
    message = str(error)
    assert role_name in message
    assert "allowPrivilegedRoles" in message


def test_privileged_rejected_in_config() -> None:
    config = stack_config(
        DEV_STACK_FILE, {"subscriptionId": SUBSCRIPTION_ID, "role": "User Access Administrator"}
    )
    error = rejected_config(config)
    assert problem_keys(error) == ["role"]
    message = str(error)
    assert f"{PROJECT}:role" in message
    assert "User Access Administrator" in message
    assert "allowPrivilegedRoles" in message


@pytest.mark.parametrize(
    ("role", "role_guid"),
    [
        ("Owner", OWNER_GUID),
        ("user access administrator", USER_ACCESS_ADMINISTRATOR_GUID),
        (definition_id(SUBSCRIPTION_ID, OWNER_GUID), OWNER_GUID),
    ],
)
def test_privileged_allowed_when_opted_in(
    deploy_federation: DeployFederation, role: str, role_guid: str
) -> None:
    deployment = deploy_federation(
        role_assignments=[f"{role}@{WORKSPACES_GROUP}"],
        allow_privileged_roles=True,
        **FAST_KEY,
    )
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    inputs = deployment.one(ROLE_ASSIGNMENT).plain_inputs
    assert inputs["roleDefinitionId"] == definition_id(SUBSCRIPTION_ID, role_guid)
    assert inputs["scope"] == WORKSPACES_GROUP


# Subscription-wide warning


def test_subscription_scope_warns(deploy_federation: DeployFederation) -> None:
    deployment = deploy_federation(
        role_assignments=[f"Reader@{SUBSCRIPTION_SCOPE}", f"Contributor@{WORKSPACES_GROUP}"],
        **FAST_KEY,
    )
    warnings = warnings_of(deployment)
    assert len(warnings) == 1, warnings
    assert "Reader" in warnings[0]
    assert "subscription" in warnings[0]


def test_unscoped_role_warns(deploy_federation: DeployFederation) -> None:
    deployment = deploy_federation(role_assignments=["Reader"], **FAST_KEY)
    warnings = warnings_of(deployment)
    assert len(warnings) == 1, warnings
    assert "Reader" in warnings[0]
    assert deployment.one(ROLE_ASSIGNMENT).plain_inputs["scope"] == SUBSCRIPTION_SCOPE


def test_default_role_warns(deploy_federation: DeployFederation) -> None:
    deployment = deploy_federation(**FAST_KEY)
    warnings = warnings_of(deployment)
    assert len(warnings) == 1, warnings
    assert "Contributor" in warnings[0]


def test_resource_group_scopes_do_not_warn(deploy_federation: DeployFederation) -> None:
    deployment = deploy_federation(
        role_assignments=[f"Contributor@{WORKSPACES_GROUP}", f"Reader@{NETWORK_GROUP}"],
        **FAST_KEY,
    )
    assert warnings_of(deployment) == []
    assignments = assignments_by_scope(deployment)
    contributor = assignments[WORKSPACES_GROUP].plain_inputs["roleDefinitionId"]
    assert contributor == definition_id(SUBSCRIPTION_ID, CONTRIBUTOR_GUID)
    reader = assignments[NETWORK_GROUP].plain_inputs["roleDefinitionId"]
    assert reader == definition_id(SUBSCRIPTION_ID, READER_GUID)


# Invalid role settings through arguments


@pytest.mark.parametrize(
    ("extra", "conflicting"),
    [
        ({"role": "Reader"}, ["role"]),
        ({"role_scope": WORKSPACES_GROUP}, ["roleScope"]),
        ({"role": "Contributor", "role_scope": WORKSPACES_GROUP}, ["role", "roleScope"]),
    ],
)
def test_role_with_assignments_rejected(
    deploy_federation: DeployFederation, extra: dict[str, str], conflicting: list[str]
) -> None:
    error = rejected(deploy_federation, role_assignments=[f"Reader@{WORKSPACES_GROUP}"], **extra)
    assert problem_keys(error) == conflicting
    assert "roleAssignments" in str(error)


def test_unknown_custom_role_rejected(deploy_federation: DeployFederation) -> None:
    network_role = {**WORKSPACES_ROLE, "name": "coder-network"}
    error = rejected(
        deploy_federation,
        role_assignments=[f"custom:coder-storage@{WORKSPACES_GROUP}"],
        custom_roles=[WORKSPACES_ROLE, network_role],
    )
    assert problem_keys(error) == ["roleAssignments"]
    message = str(error)
    assert "'coder-storage'" in message
    assert "coder-workspaces, coder-network" in message


def test_custom_reference_without_roles(deploy_federation: DeployFederation) -> None:
    error = rejected(
        deploy_federation, role_assignments=[f"custom:coder-workspaces@{WORKSPACES_GROUP}"]
    )
    assert problem_keys(error) == ["roleAssignments"]
    assert "defined: none" in str(error)


def test_unknown_role_name_rejected(deploy_federation: DeployFederation) -> None:
    error = rejected(
        deploy_federation, role_assignments=[f"Virtual Machine Wizard@{WORKSPACES_GROUP}"]
    )
    assert problem_keys(error) == ["roleAssignments"]
    assert "'Virtual Machine Wizard'" in str(error)


def test_bad_assignment_scope_rejected(deploy_federation: DeployFederation) -> None:
    error = rejected(deploy_federation, role_assignments=["Reader@resourceGroups/coder-workspaces"])
    assert problem_keys(error) == ["roleAssignments"]
    assert "'resourceGroups/coder-workspaces'" in str(error)


# Invalid role settings through stack configuration

INVALID_ROLES = [
    pytest.param(
        [
            {
                "name": "no-actions",
                "notActions": ["*/delete"],
                "assignableScopes": [WORKSPACES_GROUP],
            }
        ],
        "role 'no-actions' needs at least one entry in `actions`",
        id="missing-actions",
    ),
    pytest.param(
        [{"name": "no-scopes", "actions": ["Microsoft.Compute/disks/read"]}],
        "role 'no-scopes' needs at least one entry in `assignableScopes`",
        id="missing-scopes",
    ),
    pytest.param(
        [
            {
                "name": "bad-scope",
                "actions": ["Microsoft.Compute/disks/read"],
                "assignableScopes": ["resourceGroups/coder-workspaces"],
            }
        ],
        "assignable scope 'resourceGroups/coder-workspaces' is not a resource ID",
        id="bad-scope",
    ),
    pytest.param(
        [WORKSPACES_ROLE, {**WORKSPACES_ROLE, "description": "second copy"}],
        "role 'coder-workspaces' is defined twice",
        id="duplicate-name",
    ),
    pytest.param(
        {"name": "coder-workspaces"},
        "the file must contain a list of roles",
        id="not-a-list",
    ),
]


@pytest.mark.parametrize(("roles", "problem"), INVALID_ROLES)
def test_invalid_roles_file_rejected(
    tmp_path: Path, roleless_stack: Path, roles: Any, problem: str
) -> None:
    path = roles_file(tmp_path, roles)
    config = stack_config(
        roleless_stack,
        {
            "subscriptionId": SUBSCRIPTION_ID,
            "customRolesFile": str(path),
            "roleAssignments": json.dumps([f"Reader@{WORKSPACES_GROUP}"]),
        },
    )
    error = rejected_config(config)
    assert set(problem_keys(error)) == {"customRolesFile"}
    message = str(error)
    assert f"{PROJECT}:customRolesFile" in message
    assert str(path) in message
    assert problem in message


def test_missing_roles_file_rejected(tmp_path: Path, roleless_stack: Path) -> None:
    path = tmp_path / "absent.yaml"
    config = stack_config(
        roleless_stack, {"subscriptionId": SUBSCRIPTION_ID, "customRolesFile": str(path)}
    )
    error = rejected_config(config)
    assert problem_keys(error) == ["customRolesFile"]
    assert str(path) in str(error)


def test_role_with_assignments_in_config() -> None:
    # The dev stack sets `role`, so adding roleAssignments makes the two clash.
    config = stack_config(
        DEV_STACK_FILE,
        {
            "subscriptionId": SUBSCRIPTION_ID,
            "roleAssignments": json.dumps([f"Reader@{WORKSPACES_GROUP}"]),
        },
    )
    error = rejected_config(config)
    assert problem_keys(error) == ["role"]
    message = str(error)
    assert f"./scripts/deploy.sh dev config rm {PROJECT}:role" in message
    assert "roleAssignments" in message


def test_unknown_custom_role_in_config(tmp_path: Path, roleless_stack: Path) -> None:
    path = roles_file(tmp_path, [WORKSPACES_ROLE])
    config = stack_config(
        roleless_stack,
        {
            "subscriptionId": SUBSCRIPTION_ID,
            "customRolesFile": str(path),
            "roleAssignments": json.dumps([f"custom:coder-vms@{WORKSPACES_GROUP}"]),
        },
    )
    error = rejected_config(config)
    assert problem_keys(error) == ["roleAssignments"]
    message = str(error)
    assert "'coder-vms'" in message
    assert "defined: coder-workspaces" in message


def test_roles_from_config_deploy(tmp_path: Path, roleless_stack: Path) -> None:
    path = roles_file(tmp_path, [WORKSPACES_ROLE])
    config = stack_config(
        roleless_stack,
        {
            "subscriptionId": SUBSCRIPTION_ID,
            "certificateKeySize": "2048",
            "customRolesFile": str(path),
            "roleAssignments": json.dumps(COMBINED_ASSIGNMENTS),
        },
    )
    deployment = deploy(run_main, config=config)
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    assert deployment.one(ROLE_DEFINITION).plain_inputs["roleName"] == "coder-workspaces"
    assert sorted(assignments_by_scope(deployment)) == sorted(
        [WORKSPACES_GROUP, SUBSCRIPTION_SCOPE]
    )


# The example custom role file


def example_roles() -> list[dict[str, Any]]:
    """Return the roles of the example file."""
    return yaml.safe_load(EXAMPLE_ROLES_FILE.read_text(encoding="utf-8"))


def test_example_has_placeholder_scope() -> None:
    roles = example_roles()
    assert [role["name"] for role in roles] == ["coder-workspaces"]
    assert roles[0]["assignableScopes"] == [
        f"/subscriptions/{PLACEHOLDER_SUBSCRIPTION}/resourceGroups/coder-workspaces"
    ]
    text = EXAMPLE_ROLES_FILE.read_text(encoding="utf-8")
    assert "replace" in text.lower(), "the example does not tell users to replace its scope"


def test_example_grants_no_authorization() -> None:
    for role in example_roles():
        for action in role["actions"]:
            assert action != "*", f"{role['name']} grants every action"
            assert not action.lower().startswith("microsoft.authorization/"), action


def test_example_previews_as_shipped(roleless_stack: Path) -> None:
    group = f"/subscriptions/{PLACEHOLDER_SUBSCRIPTION}/resourceGroups/coder-workspaces"
    config = stack_config(
        roleless_stack,
        {
            "certificateKeySize": "2048",
            "customRolesFile": "examples/least-privilege-roles.yaml",
            "roleAssignments": json.dumps([f"custom:coder-workspaces@{group}"]),
        },
    )
    deployment = deploy(run_main, config=config, preview=True)
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    assert deployment.one(ROLE_DEFINITION).plain_inputs["scope"] == group
    assert warnings_of(deployment) == []


def test_example_deploys_with_real_scope(tmp_path: Path, roleless_stack: Path) -> None:
    text = EXAMPLE_ROLES_FILE.read_text(encoding="utf-8")
    copied = tmp_path / "custom-roles.yaml"
    copied.write_text(text.replace(PLACEHOLDER_SUBSCRIPTION, SUBSCRIPTION_ID), encoding="utf-8")
    config = stack_config(
        roleless_stack,
        {
            "subscriptionId": SUBSCRIPTION_ID,
            "certificateKeySize": "2048",
            "customRolesFile": str(copied),
            "roleAssignments": json.dumps([f"custom:coder-workspaces@{WORKSPACES_GROUP}"]),
        },
    )
    deployment = deploy(run_main, config=config)
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    assert warnings_of(deployment) == []

    definition = deployment.one(ROLE_DEFINITION)
    role = example_roles()[0]
    assert definition.plain_inputs["permissions"] == [
        {
            "actions": role["actions"],
            "notActions": [],
            "dataActions": [],
            "notDataActions": [],
        }
    ]
    assert definition.plain_inputs["assignableScopes"] == [WORKSPACES_GROUP]
    assignment = deployment.one(ROLE_ASSIGNMENT)
    assert definition.urn in assignment.dependencies
    assert deployment.one(COMPONENT).name == "coder-azure"


# Configurations that Azure or the engine would reject, caught before any resource is declared


@pytest.mark.parametrize(
    "scope",
    [SUBSCRIPTION_SCOPE, NETWORK_GROUP],
    ids=["subscription", "other-group"],
)
def test_custom_role_outside_assignable_scopes(
    deploy_federation: DeployFederation, scope: str
) -> None:
    error = rejected(
        deploy_federation,
        role_assignments=[f"custom:coder-workspaces@{scope}"],
        custom_roles=[WORKSPACES_ROLE],
        **FAST_KEY,
    )
    assert problem_keys(error) == ["roleAssignments"]
    assert "assignableScopes" in str(error)


@pytest.mark.parametrize(
    "action",
    ["*", "Microsoft.Authorization/*", "Microsoft.Authorization/roleAssignments/write"],
)
def test_custom_role_granting_access_rejected(
    deploy_federation: DeployFederation, action: str
) -> None:
    role = {**WORKSPACES_ROLE, "actions": [action]}
    error = rejected(
        deploy_federation,
        role_assignments=[f"custom:coder-workspaces@{WORKSPACES_GROUP}"],
        custom_roles=[role],
        **FAST_KEY,
    )
    assert "allowPrivilegedRoles" in str(error)


def test_custom_role_names_colliding(deploy_federation: DeployFederation) -> None:
    roles = [WORKSPACES_ROLE, {**WORKSPACES_ROLE, "name": "Coder Workspaces"}]
    try:
        deployment = deploy_federation(
            role_assignments=[f"custom:coder-workspaces@{WORKSPACES_GROUP}"],
            custom_roles=roles,
            **FAST_KEY,
        )
    except ConfigError as error:
        assert problem_keys(error) == ["customRolesFile"]
        return
    assert duplicate_urns(deployment) == []


@pytest.mark.parametrize(
    "second",
    [
        f"Reader@{WORKSPACES_GROUP}",
        f"reader@{WORKSPACES_GROUP}",
        f"{READER_GUID}@{WORKSPACES_GROUP}",
        f"Reader@{WORKSPACES_GROUP}/",
    ],
    ids=["same", "lower-case", "guid", "trailing-slash"],
)
def test_duplicate_assignment(deploy_federation: DeployFederation, second: str) -> None:
    try:
        deployment = deploy_federation(
            role_assignments=[f"Reader@{WORKSPACES_GROUP}", second], **FAST_KEY
        )
    except ConfigError as error:
        assert problem_keys(error) == ["roleAssignments"]
        return
    assert duplicate_urns(deployment) == []


def test_placeholder_scope_rejected_on_update(roleless_stack: Path) -> None:
    group = f"/subscriptions/{PLACEHOLDER_SUBSCRIPTION}/resourceGroups/coder-workspaces"
    config = stack_config(
        roleless_stack,
        {
            "subscriptionId": SUBSCRIPTION_ID,
            "certificateKeySize": "2048",
            "customRolesFile": "examples/least-privilege-roles.yaml",
            "roleAssignments": json.dumps([f"custom:coder-workspaces@{group}"]),
        },
    )
    error = rejected_config(config)
    assert PLACEHOLDER_SUBSCRIPTION in str(error)
