"""Tests of the two stack files, Pulumi.dev.yaml and Pulumi.prod.yaml, as environments.

Each stack file must build the whole graph offline as committed (a preview, where the
placeholder subscription is accepted) and with a real-looking subscription (an update). The
two files may differ only in settings that describe the environment. Every other setting must
be the same, so that what was tried in dev is what runs in prod. Prod must be protected, keep
its state's secrets under a Key Vault key, and refuse `pulumi up` while placeholders remain.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import PROJECT, REQUIRED, SETTINGS, ConfigError
from components.roles import PLACEHOLDER_GUID
from tests.mocks import (
    APPLICATION,
    CERTIFICATE_GRAPH_TYPES,
    RELEASE,
    ROLE_ASSIGNMENT,
    ROLE_DEFINITION,
    SERVICE_PRINCIPAL,
    Deployment,
    deploy,
    run_main,
    stack_config,
)

ROOT = Path(__file__).resolve().parent.parent
STACK_FILES = {"dev": ROOT / "Pulumi.dev.yaml", "prod": ROOT / "Pulumi.prod.yaml"}
# Every other stack is compared with dev, the stack where changes are tried first.
COMPARED_STACKS = [stack for stack in STACK_FILES if stack != "dev"]
REAL_SUBSCRIPTION_ID = "6c1f0e2a-94b7-4d35-a8e1-2f7b9c0d4e63"
PLACEHOLDER_GROUP = f"/subscriptions/{PLACEHOLDER_GUID}/resourceGroups/coder-workspaces"

# The graph every certificate-mode stack builds, before the per-environment parts.
COMMON_TYPES = CERTIFICATE_GRAPH_TYPES
EXPECTED_TYPES = {
    # Dev uses a namespace made beforehand and assigns the built-in Contributor role.
    "dev": dict(COMMON_TYPES),
    # Prod uses an existing namespace and defines the custom role it assigns.
    "prod": {**COMMON_TYPES, ROLE_DEFINITION: 1},
}

# Settings that may differ between the stacks, each with the reason it describes the
# environment rather than the way the credential is built and delivered.
ENVIRONMENT_SETTINGS = {
    "subscriptionId": "each environment deploys into its own subscription",
    "role": "what the provisioners may change depends on the environment",
    "roleScope": "the role's scope is a subscription or resource group of the environment",
    "roleAssignments": "replaces role and roleScope with least-privilege assignments",
    "customRolesFile": "custom roles are scoped to the environment's resource groups",
    "protect": "prod's identity must survive a mistaken destroy, while dev stays disposable",
    "chartVersion": "a chart version reaches prod only after it has run in dev",
    "createNamespace": "dev owns its namespace, but prod's is managed outside the stack",
    "coderValuesFile": "access URL, database secret and replica count belong to the environment",
    "certificateSubject": "the subject names the environment the certificate belongs to",
    "owners": "who administers the application differs between environments",
    "applicationDisplayName": "the display name shows which environment an application serves",
    "kubernetes:context": "each environment's cluster, so a run never uses the wrong one",
}

# Settings that decide what the credential looks like and where Coder finds it. A difference
# here would mean prod runs something dev never tried.
SHARED_SETTINGS = (
    "authMode",
    "bundleProfile",
    "certificateKeySize",
    "certificateValidityDays",
    "certificateMountPath",
    "namespace",
    "chart",
    "chartRepository",
    "releaseName",
    "bundleSecretName",
    "bundleSecretKey",
    "clientIdSecretName",
    "clientIdSecretKey",
    "tenantIdSecretName",
    "tenantIdSecretKey",
    "subscriptionIdSecretName",
    "subscriptionIdSecretKey",
    "passwordSecretName",
    "passwordSecretKey",
    "renewalWindowDays",
    "mountRefreshSeconds",
    "allowPrivilegedRoles",
)

PROTECTED_TYPES = (APPLICATION, SERVICE_PRINCIPAL, ROLE_ASSIGNMENT, ROLE_DEFINITION)
KEY_VAULT_URL = re.compile(r"^azurekeyvault://[^/\s]+\.vault\.azure\.net/keys/[^/\s]+(/[^/\s]+)?$")


def load_stack(stack: str) -> dict[str, Any]:
    """Parse a stack file, whose top level is a mapping."""
    loaded = yaml.safe_load(STACK_FILES[stack].read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"Pulumi.{stack}.yaml is not a YAML mapping"
    return loaded


def short_key(full_key: str) -> str:
    """Return a config key without the project namespace. Keys of other namespaces stay whole."""
    namespace, _, key = full_key.partition(":")
    return key if namespace == PROJECT else full_key


def type_counts(deployment: Deployment) -> dict[str, int]:
    """Count the registrations of each resource type."""
    counts: dict[str, int] = {}
    for registration in deployment.registrations:
        counts[registration.type] = counts.get(registration.type, 0) + 1
    return counts


def real_stack_config(stack: str, directory: Path) -> dict[str, str]:
    """Copy a stack file and its custom roles file with a real-looking subscription.

    The copies go into `directory` with every all-zero GUID replaced, as a user does before the
    first `up`. Returns the config of the copied stack file.
    """
    text = STACK_FILES[stack].read_text(encoding="utf-8")
    copy = directory / f"Pulumi.{stack}.yaml"
    copy.write_text(text.replace(PLACEHOLDER_GUID, REAL_SUBSCRIPTION_ID), encoding="utf-8")
    overrides: dict[str, Any] = {}
    roles_file = load_stack(stack)["config"].get(f"{PROJECT}:customRolesFile")
    if roles_file:
        roles_text = (ROOT / roles_file).read_text(encoding="utf-8")
        roles_copy = directory / Path(roles_file).name
        roles_copy.write_text(
            roles_text.replace(PLACEHOLDER_GUID, REAL_SUBSCRIPTION_ID), encoding="utf-8"
        )
        overrides["customRolesFile"] = str(roles_copy)
    config = stack_config(copy, overrides)
    assert not any(PLACEHOLDER_GUID in value for value in config.values()), config
    return config


@pytest.fixture(scope="module")
def previews() -> dict[str, Deployment]:
    """Each stack file as committed, run as `pulumi preview` would."""
    return {
        stack: deploy(run_main, config=stack_config(path), stack=stack, preview=True)
        for stack, path in STACK_FILES.items()
    }


@pytest.fixture(scope="module")
def updates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Deployment]:
    """Each stack file with its placeholders replaced, run as `pulumi up` would."""
    result = {}
    for stack in STACK_FILES:
        directory = tmp_path_factory.mktemp(stack)
        result[stack] = deploy(run_main, config=real_stack_config(stack, directory), stack=stack)
    return result


# The whole graph, per stack


@pytest.mark.parametrize("stack", list(STACK_FILES))
def test_preview_builds_whole_graph(previews: dict[str, Deployment], stack: str) -> None:
    deployment = previews[stack]
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    assert type_counts(deployment) == EXPECTED_TYPES[stack]


@pytest.mark.parametrize("stack", list(STACK_FILES))
def test_update_builds_whole_graph(updates: dict[str, Deployment], stack: str) -> None:
    deployment = updates[stack]
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    assert type_counts(deployment) == EXPECTED_TYPES[stack]
    exported = deployment.exports["subscriptionId"][0]
    assert exported == REAL_SUBSCRIPTION_ID, exported


@pytest.mark.parametrize("stack", list(STACK_FILES))
def test_application_named_after_stack(updates: dict[str, Deployment], stack: str) -> None:
    name = updates[stack].one(APPLICATION).plain_inputs["displayName"]
    assert name == f"{PROJECT}-{stack}"


def test_prod_custom_role_on_group(updates: dict[str, Deployment]) -> None:
    group = PLACEHOLDER_GROUP.replace(PLACEHOLDER_GUID, REAL_SUBSCRIPTION_ID)
    deployment = updates["prod"]
    assignment = deployment.one(ROLE_ASSIGNMENT).plain_inputs
    definition = deployment.one(ROLE_DEFINITION)
    assert assignment["scope"] == group
    role_guid = definition.plain_inputs["roleDefinitionId"]
    assert assignment["roleDefinitionId"].endswith(f"/roleDefinitions/{role_guid}")
    assert definition.plain_inputs["assignableScopes"] == [group]


def test_prod_release_gets_prod_values(updates: dict[str, Deployment]) -> None:
    values = updates["prod"].one(RELEASE).plain_inputs["values"]["coder"]
    env = {item["name"]: item for item in values["env"]}
    assert values["replicaCount"] == 2
    assert env["CODER_ACCESS_URL"]["value"].startswith("https://")
    assert env["CODER_PG_CONNECTION_URL"]["valueFrom"]["secretKeyRef"]["name"] == "coder-db-url"
    assert "value" not in env["CODER_PG_CONNECTION_URL"], "database URL written in plain text"


# Only environment settings differ


@pytest.mark.parametrize("stack", COMPARED_STACKS)
def test_stack_differs_only_in_environment(stack: str) -> None:
    dev = load_stack("dev").get("config") or {}
    other = load_stack(stack).get("config") or {}
    differing = {
        short_key(key) for key in dev.keys() | other.keys() if dev.get(key) != other.get(key)
    }
    assert differing <= set(ENVIRONMENT_SETTINGS), differing - set(ENVIRONMENT_SETTINGS)


def effective_config(stack: str) -> dict[str, str]:
    """Return a stack's config as strings, with the program's default for each unset setting."""
    defaults = {
        f"{PROJECT}:{setting.key}": setting.default
        for setting in SETTINGS
        if setting.default is not REQUIRED
    }
    return stack_config(STACK_FILES[stack], {**defaults, **load_stack(stack)["config"]})


@pytest.mark.parametrize("stack", COMPARED_STACKS)
def test_stack_shares_credential_settings(stack: str) -> None:
    dev = effective_config("dev")
    other = effective_config(stack)
    for key in SHARED_SETTINGS:
        full_key = f"{PROJECT}:{key}"
        assert dev[full_key] == other[full_key], (
            f"{key} differs: dev {dev[full_key]!r}, {stack} {other[full_key]!r}"
        )


def test_allowed_differences_exclude_shared_settings() -> None:
    assert set(SHARED_SETTINGS).isdisjoint(ENVIRONMENT_SETTINGS)
    known = {setting.key for setting in SETTINGS}
    for key in list(ENVIRONMENT_SETTINGS) + list(SHARED_SETTINGS):
        assert key in known or ":" in key, f"{key} is not a setting"


def test_prod_environment_settings() -> None:
    config = stack_config(STACK_FILES["prod"])
    assert config[f"{PROJECT}:protect"] == "true"
    assert config[f"{PROJECT}:createNamespace"] == "false"
    assert config[f"{PROJECT}:coderValuesFile"] == "coder-values.prod.yaml"
    assert (ROOT / "coder-values.prod.yaml").is_file()
    assert f"{PROJECT}:role" not in config, "role is set beside roleAssignments"
    assignments = json.loads(config[f"{PROJECT}:roleAssignments"])
    assert assignments == [f"custom:coder-workspaces@{PLACEHOLDER_GROUP}"]


# Protection


@pytest.mark.parametrize(("stack", "protected"), [("dev", False), ("prod", True)])
def test_identity_protection(
    previews: dict[str, Deployment], updates: dict[str, Deployment], stack: str, protected: bool
) -> None:
    for deployment in (previews[stack], updates[stack]):
        identity = [item for item in deployment.registrations if item.type in PROTECTED_TYPES]
        assert {item.type for item in identity} >= {APPLICATION, SERVICE_PRINCIPAL, ROLE_ASSIGNMENT}
        for item in identity:
            assert item.protect is protected, f"{stack}: {item.name} protect={item.protect}"
        others = [
            item.name
            for item in deployment.registrations
            if item.type not in PROTECTED_TYPES and item.protect
        ]
        assert others == [], f"{stack} protects {others}, which rotate or live in Kubernetes"


# Secrets in the stack files


def test_prod_secrets_under_key_vault() -> None:
    prod = load_stack("prod")
    provider = prod.get("secretsprovider")
    assert isinstance(provider, str), f"secretsprovider is {provider!r}"
    assert KEY_VAULT_URL.match(provider), f"{provider} is not an Azure Key Vault key URL"
    assert "encryptionsalt" not in prod, "prod carries a passphrase salt"
    assert set(prod) <= {"secretsprovider", "encryptedkey", "config"}, set(prod)


@pytest.mark.parametrize("stack", list(STACK_FILES))
def test_stack_file_contains_no_secret(stack: str) -> None:
    text = STACK_FILES[stack].read_text(encoding="utf-8")
    config = load_stack(stack).get("config") or {}
    assert "secure:" not in text, f"Pulumi.{stack}.yaml contains an encrypted value"
    assert "-----BEGIN" not in text, f"Pulumi.{stack}.yaml contains a PEM block"
    for key, value in config.items():
        assert not isinstance(value, dict), f"{key} has a structured or secure value"


# Placeholders stop `pulumi up`


def test_prod_up_with_placeholders_stops() -> None:
    with pytest.raises(ConfigError) as caught:
        deploy(run_main, config=stack_config(STACK_FILES["prod"]), stack="prod")
    error = caught.value
    partial = getattr(error, "deployment", None)
    assert partial is not None, "deploy attached no deployment to the error"
    assert partial.registrations == [], [item.name for item in partial.registrations]
    keys = [problem.setting.key for problem in error.problems]
    assert keys == ["subscriptionId", "roleAssignments", "customRolesFile"], keys
    message = str(error)
    assert f"{PROJECT}:subscriptionId" in message
    assert PLACEHOLDER_GROUP in message
    assert "./scripts/deploy.sh prod config set" in message
