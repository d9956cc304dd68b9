"""Tests of configuration: invalid values stop the program before any resource is declared.

Stack configuration is checked through the real program path, `__main__.py` run under the
offline mocks with the sample stack file and one changed value. Component arguments are checked
by constructing `CoderAzureFederation` directly. Accepted values are checked with `resolve`,
which needs no deployment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components import CoderAzureFederation
from components.config import (
    PROJECT,
    SETTINGS_BY_ARG,
    ConfigError,
    FederationSettings,
    Setting,
    resolve,
)
from components.roles import BUILT_IN_ROLES, PLACEHOLDER_GUID
from tests import mocks
from tests.mocks import ROOT, Registration, deploy, run_main, stack_config

DEV_STACK = ROOT / "Pulumi.dev.yaml"
SUBSCRIPTION_ID = "3f2b8c1d-6e4a-4b7f-9c2d-1a5e8f0b7d63"
CHART_VERSION = "2.34.0"
GUIDE_SUBJECT = "/CN=myclientcertificate/O=MyCompany, Inc./ST=CA/C=US"

# Names that only a Python traceback would show. A configuration message must not contain them.
TRACEBACK_NAMES = (
    "Traceback",
    "KeyError",
    "ValueError",
    "TypeError",
    "AttributeError",
    "NoneType",
)

SETTINGS_BY_KEY: dict[str, Setting] = {setting.key: setting for setting in SETTINGS_BY_ARG.values()}


@dataclass(frozen=True)
class Rejection:
    """A run that raised ConfigError, with everything it registered before it stopped."""

    error: ConfigError
    registrations: list[Registration]

    @property
    def message(self) -> str:
        """Return the text the Pulumi CLI would print for the error."""
        return str(self.error)


RejectedDeploy = Callable[..., Rejection]


@pytest.fixture
def rejected_deploy() -> RejectedDeploy:
    """Return a function that runs `deploy`, expects ConfigError and returns what was registered.

    `deploy` attaches the partial Deployment to the error it raises, with every registration made
    before the error.
    """

    def run(
        program: Callable[[], Any],
        config: Mapping[str, str] | None = None,
        preview: bool = False,
    ) -> Rejection:
        with pytest.raises(ConfigError) as caught:
            deploy(program, config=config, preview=preview)
        partial = getattr(caught.value, "deployment", None)
        assert partial is not None, "deploy attached no deployment to the error"
        return Rejection(error=caught.value, registrations=list(partial.registrations))

    return run


def fix_command(key: str, stack: str = "dev") -> str:
    """Return the start of the `pulumi config set` command that a message suggests for a key."""
    if SETTINGS_BY_KEY[key].type == "array":
        return f"./scripts/deploy.sh {stack} config set --path '{PROJECT}:{key}[0]'"
    return f"./scripts/deploy.sh {stack} config set {PROJECT}:{key} "


def traceback_names_in(message: str) -> list[str]:
    """Return the Python-only names that appear in a message."""
    return [name for name in TRACEBACK_NAMES if name in message]


@dataclass(frozen=True)
class InvalidValue:
    """One invalid stack setting and what its error message must contain."""

    key: str
    value: str
    """Config text as the CLI passes it. For coderValuesFile, a file name under tmp_path."""
    accepted: str
    """Fragment of the message that describes the accepted values."""
    value_in_message: str = ""
    """Text of the value that the message must contain. Empty means `value` itself."""
    file_text: str | None = None
    """Content of the coderValuesFile. None means the file is not created."""


def invalid(case_id: str, key: str, value: str, accepted: str, **extra: Any) -> Any:
    """Return one row of INVALID_VALUES with its test ID."""
    return pytest.param(InvalidValue(key, value, accepted, **extra), id=case_id)


def values_file(case_id: str, file_text: str | None, accepted: str) -> Any:
    """Return one INVALID_VALUES row for a coderValuesFile with the given content."""
    return invalid(case_id, "coderValuesFile", f"{case_id}.yaml", accepted, file_text=file_text)


SUBJECT_ACCEPTED = "with a CN and only the attributes CN, O, OU, L, ST, C"
SCOPE_ACCEPTED = "a resource ID starting with /subscriptions/<GUID>"
SECRET_NAME_ACCEPTED = "a DNS-1123 subdomain"
MOUNT_PATH_ACCEPTED = "an absolute directory path other than /"
CHART_VERSION_ACCEPTED = "an exact chart version such as 2.34.0"

INVALID_VALUES = [
    invalid(
        "subscription-not-guid",
        "subscriptionId",
        "my-subscription",
        "a GUID such as 11111111-2222-3333-4444-555555555555",
    ),
    invalid(
        "owner-not-guid",
        "owners",
        json.dumps(["alice@example.com"]),
        "a list of object IDs (GUIDs)",
        value_in_message="alice@example.com",
    ),
    invalid("subject-without-cn", "certificateSubject", "/O=MyCompany/C=US", SUBJECT_ACCEPTED),
    invalid("subject-unknown-attribute", "certificateSubject", "/CN=x/FOO=y", SUBJECT_ACCEPTED),
    invalid(
        "subject-three-letter-country",
        "certificateSubject",
        "/CN=coder/C=USA",
        "C is a two-letter country code",
    ),
    invalid("key-size-1024", "certificateKeySize", "1024", "one of 2048, 3072, 4096"),
    invalid("key-size-not-number", "certificateKeySize", "abc", "a whole number"),
    invalid("validity-zero", "certificateValidityDays", "0", "a whole number from 1 to 3650"),
    invalid("validity-3651", "certificateValidityDays", "3651", "a whole number from 1 to 3650"),
    invalid("validity-not-number", "certificateValidityDays", "two", "a whole number"),
    invalid("profile-aes", "bundleProfile", "aes", "one of 'legacy', 'modern'"),
    invalid("role-unknown-name", "role", "Superuser", "a built-in role name (Contributor, "),
    invalid(
        "scope-subscription-not-guid", "roleScope", "/subscriptions/not-a-guid", SCOPE_ACCEPTED
    ),
    invalid("scope-without-subscription", "roleScope", "/resourceGroups/x", SCOPE_ACCEPTED),
    invalid(
        "scope-management-group",
        "roleScope",
        "/providers/Microsoft.Management/managementGroups/platform",
        SCOPE_ACCEPTED,
    ),
    invalid(
        "namespace-upper-underscore",
        "namespace",
        "Coder_NS",
        "a DNS-1123 label: at most 63 lower-case letters",
    ),
    invalid(
        "namespace-64-characters",
        "namespace",
        "n" * 64,
        "a DNS-1123 label: at most 63 lower-case letters",
    ),
    invalid("create-namespace-yes", "createNamespace", "yes", "true or false"),
    invalid(
        "bundle-secret-name-upper", "bundleSecretName", "Azure-Client-Cert", SECRET_NAME_ACCEPTED
    ),
    invalid(
        "client-id-secret-name-underscore",
        "clientIdSecretName",
        "arm_client_id",
        SECRET_NAME_ACCEPTED,
    ),
    invalid(
        "tenant-id-secret-name-upper", "tenantIdSecretName", "ARM-TENANT-ID", SECRET_NAME_ACCEPTED
    ),
    invalid(
        "subscription-id-secret-name-underscore",
        "subscriptionIdSecretName",
        "arm_subscription_id",
        SECRET_NAME_ACCEPTED,
    ),
    invalid(
        "password-secret-name-upper", "passwordSecretName", "Bundle-Password", SECRET_NAME_ACCEPTED
    ),
    invalid(
        "secret-key-with-slash",
        "clientIdSecretKey",
        "client/id",
        "a secret data key: letters, digits, '-', '_' and '.' only",
    ),
    invalid("bundle-key-p12", "bundleSecretKey", "client.p12", "a file name ending in .pfx"),
    invalid("mount-path-relative", "certificateMountPath", "relative/path", MOUNT_PATH_ACCEPTED),
    invalid("mount-path-root", "certificateMountPath", "/", MOUNT_PATH_ACCEPTED),
    invalid("mount-path-dot-dot", "certificateMountPath", "/home/../etc", MOUNT_PATH_ACCEPTED),
    invalid(
        "release-name-54-characters",
        "releaseName",
        "coder-" + "x" * 48,
        "a DNS-1123 label: at most 53 lower-case letters",
    ),
    invalid("chart-version-range", "chartVersion", "^2.34", CHART_VERSION_ACCEPTED),
    invalid("chart-version-latest", "chartVersion", "latest", CHART_VERSION_ACCEPTED),
    invalid("chart-version-v-prefix", "chartVersion", "v2.34.0", CHART_VERSION_ACCEPTED),
    invalid(
        "chart-repository-http", "chartRepository", "http://helm.coder.com/v2", "an https:// URL"
    ),
    values_file("values-file-missing", None, "a readable file"),
    values_file(
        "values-file-invalid-yaml", "coder:\n  env: [CODER_ACCESS_URL\n", "a valid YAML file"
    ),
    values_file(
        "values-sets-arm-client-id",
        "coder:\n  env:\n    - name: ARM_CLIENT_ID\n      value: my-client-id\n",
        "sets ARM_CLIENT_ID, which this component sets",
    ),
    values_file(
        "values-volume-azure-client-cert",
        "coder:\n  volumes:\n    - name: azure-client-cert\n      emptyDir: {}\n",
        "is named 'azure-client-cert', which this component uses",
    ),
    values_file(
        "values-mount-at-bundle-path",
        "coder:\n  volumeMounts:\n    - name: cache\n      mountPath: /home/coder/az\n",
        "overlaps the component's mount path /home/coder/az",
    ),
    values_file(
        "values-env-not-list",
        "coder:\n  env:\n    CODER_ACCESS_URL: https://coder.example.com\n",
        "`coder.env` must be a list",
    ),
    values_file(
        "values-top-level-list",
        "- coder\n- env\n",
        "a YAML mapping of Coder chart values at the top level, not a list",
    ),
]


@pytest.mark.parametrize("case", INVALID_VALUES)
def test_invalid_value_stops_program(
    case: InvalidValue, tmp_path: Path, rejected_deploy: RejectedDeploy
) -> None:
    value = case.value
    value_in_message = case.value_in_message or case.value
    if case.key == "coderValuesFile":
        path = tmp_path / case.value
        if case.file_text is not None:
            path.write_text(case.file_text, encoding="utf-8")
        value = value_in_message = str(path)
    config = stack_config(DEV_STACK, {"subscriptionId": SUBSCRIPTION_ID, case.key: value})

    rejection = rejected_deploy(run_main, config)
    message = rejection.message

    assert f"{PROJECT}:{case.key}" in message, f"message does not name the key:\n{message}"
    problem_keys = [problem.setting.key for problem in rejection.error.problems]
    assert problem_keys == [case.key], f"expected one problem for {case.key}, got {problem_keys}"
    assert value_in_message in message, (
        f"message does not show the value {value_in_message!r}:\n{message}"
    )
    assert case.accepted in message, f"message lacks {case.accepted!r}:\n{message}"
    if case.key == "coderValuesFile" and case.file_text is not None:
        # The file is there but its content is wrong, so the fix is an edit of that file.
        expected_fix = f"Fix: edit {value}" if "YAML in" not in message else f"YAML in {value}"
        assert expected_fix in message, f"message lacks the file to edit:\n{message}"
    else:
        assert fix_command(case.key) in message, f"message lacks a fix command:\n{message}"
    assert not traceback_names_in(message), f"message shows Python names:\n{message}"
    assert rejection.registrations == [], (
        f"registered {[item.name for item in rejection.registrations]} despite the error"
    )


def test_placeholder_passes_preview() -> None:
    deployment = deploy(run_main, config=stack_config(DEV_STACK), preview=True)

    types = [item.type for item in deployment.registrations]
    expected = {
        mocks.COMPONENT,
        mocks.TLS_KEY,
        mocks.TLS_CERT,
        mocks.RANDOM_PASSWORD,
        mocks.BUNDLE,
        mocks.APPLICATION,
        mocks.SERVICE_PRINCIPAL,
        mocks.CREDENTIAL,
        mocks.ROLE_ASSIGNMENT,
        mocks.RELEASE,
    }
    assert deployment.mocks.rejections == [], f"rejections: {deployment.mocks.rejections}"
    assert expected <= set(types), f"missing from the preview: {expected - set(types)}"
    assert types.count(mocks.SECRET) == 5, f"expected five secrets, got {types.count(mocks.SECRET)}"


def test_placeholder_fails_up(rejected_deploy: RejectedDeploy) -> None:
    rejection = rejected_deploy(run_main, stack_config(DEV_STACK), preview=False)
    message = rejection.message

    assert f"{PROJECT}:subscriptionId" in message, f"message does not name the key:\n{message}"
    assert PLACEHOLDER_GUID in message, f"message does not show the placeholder:\n{message}"
    assert "placeholder" in message, f"message does not call it a placeholder:\n{message}"
    assert fix_command("subscriptionId") in message, f"message lacks a fix command:\n{message}"
    assert rejection.registrations == [], "resources were registered for a placeholder stack"


def test_several_bad_values_listed_together(rejected_deploy: RejectedDeploy) -> None:
    bad = {"subscriptionId": "my-subscription", "namespace": "Coder_NS", "chartVersion": "latest"}

    rejection = rejected_deploy(run_main, stack_config(DEV_STACK, bad))
    message = rejection.message

    problem_keys = sorted(problem.setting.key for problem in rejection.error.problems)
    assert problem_keys == sorted(bad), f"expected one problem per key, got {problem_keys}"
    assert "(3 problem(s))" in message, f"message does not count the problems:\n{message}"
    for key in bad:
        assert f"{PROJECT}:{key}" in message, f"message does not name {key}:\n{message}"
    assert rejection.registrations == [], "resources were registered despite the errors"


def test_type_and_value_errors_listed_together(rejected_deploy: RejectedDeploy) -> None:
    # "abc" fails the conversion to an integer and "Coder_NS" fails validation. Both must be
    # reported at once, so that fixing one does not reveal the other on the next run.
    bad = {"subscriptionId": SUBSCRIPTION_ID, "certificateKeySize": "abc", "namespace": "Coder_NS"}

    rejection = rejected_deploy(run_main, stack_config(DEV_STACK, bad))
    message = rejection.message

    assert f"{PROJECT}:certificateKeySize" in message, f"type error missing:\n{message}"
    assert f"{PROJECT}:namespace" in message, f"validation error missing:\n{message}"


@pytest.mark.parametrize("key", ["subscriptionId", "chartVersion"])
def test_missing_required_key_named(key: str, rejected_deploy: RejectedDeploy) -> None:
    config = stack_config(DEV_STACK, {"subscriptionId": SUBSCRIPTION_ID})
    del config[f"{PROJECT}:{key}"]

    rejection = rejected_deploy(run_main, config)
    message = rejection.message

    assert f"{PROJECT}:{key}" in message, f"message does not name the key:\n{message}"
    assert "it has no default" in message, f"message does not say it is required:\n{message}"
    assert fix_command(key) in message, f"message lacks a fix command:\n{message}"
    assert rejection.registrations == [], "resources were registered without a required key"


def test_missing_key_not_shown_as_none(rejected_deploy: RejectedDeploy) -> None:
    config = stack_config(DEV_STACK, {"subscriptionId": SUBSCRIPTION_ID})
    del config[f"{PROJECT}:chartVersion"]

    message = rejected_deploy(run_main, config).message

    assert "is None" not in message, f"a missing key is shown as Python's None:\n{message}"


REQUIRED_ARGS: dict[str, Any] = {"subscription_id": SUBSCRIPTION_ID, "chart_version": CHART_VERSION}


@pytest.mark.parametrize(
    ("arg", "value", "accepted"),
    [
        pytest.param(
            "bundle_secret_key", "client.p12", "a file name ending in .pfx", id="bundle-key-p12"
        ),
        pytest.param("certificate_key_size", 1024, "one of 2048, 3072, 4096", id="key-size-1024"),
        pytest.param(
            "role_scope", "/resourceGroups/coder", SCOPE_ACCEPTED, id="scope-without-subscription"
        ),
        pytest.param(
            "coder_values",
            {"coder": {"env": {"CODER_ACCESS_URL": "https://x"}}},
            "`coder.env` must be a list",
            id="values-env-mapping",
        ),
        pytest.param("subscription_id", None, "it has no default", id="subscription-missing"),
    ],
)
def test_component_rejects_bad_argument(
    arg: str, value: Any, accepted: str, rejected_deploy: RejectedDeploy
) -> None:
    def program() -> None:
        CoderAzureFederation("fed", {**REQUIRED_ARGS, arg: value})  # type: ignore[typeddict-item]

    rejection = rejected_deploy(program)
    message = rejection.message
    key = SETTINGS_BY_ARG[arg].key

    assert f"  - {arg} is " in message, f"message does not name the argument {arg}:\n{message}"
    assert f"{PROJECT}:{key}" not in message, f"message names the config key:\n{message}"
    assert accepted in message, f"message lacks {accepted!r}:\n{message}"
    assert f"For example: {arg}=" in message, f"message lacks an example:\n{message}"
    assert rejection.registrations == [], (
        f"registered {[item.name for item in rejection.registrations]} despite the error"
    )


def test_component_rejects_output_namespace(rejected_deploy: RejectedDeploy) -> None:
    def program() -> None:
        namespace = pulumi.Output.from_input("coder")
        CoderAzureFederation("fed", {**REQUIRED_ARGS, "namespace": namespace})  # type: ignore[typeddict-item]

    rejection = rejected_deploy(program)
    message = rejection.message

    assert "  - namespace is " in message, f"message does not name the argument:\n{message}"
    assert "a plain value" in message, f"message does not ask for a plain value:\n{message}"
    assert rejection.registrations == [], "resources were registered despite the error"


def test_component_accepts_output_subscription() -> None:
    def program() -> None:
        subscription = pulumi.Output.from_input(SUBSCRIPTION_ID)
        CoderAzureFederation(
            "fed",
            {
                "subscription_id": subscription,
                "chart_version": CHART_VERSION,
                # A smaller key than the default keeps this full deployment fast.
                "certificate_key_size": 2048,
            },
        )

    deployment = deploy(program)
    role = deployment.one(mocks.ROLE_ASSIGNMENT)

    assert deployment.mocks.rejections == [], f"rejections: {deployment.mocks.rejections}"
    assert deployment.one(mocks.COMPONENT).name == "fed", "the component was not registered"
    assert role.plain_inputs["scope"] == f"/subscriptions/{SUBSCRIPTION_ID}", (
        f"role scope {role.plain_inputs['scope']!r} does not use the output's subscription"
    )
    assert deployment.one(mocks.RELEASE).plain_inputs["version"] == CHART_VERSION


def resolve_args(**changes: Any) -> FederationSettings:
    """Resolve component arguments made of the required ones and `changes`."""
    return resolve({**REQUIRED_ARGS, **changes}, "args")


@pytest.mark.parametrize("name", ["contributor", "reader", "user access administrator"])
def test_role_accepts_lower_case_name(name: str) -> None:
    built_in = {key.lower(): guid for key, guid in BUILT_IN_ROLES.items()}

    settings = resolve_args(role=name, allow_privileged_roles=True)

    assert settings.role_guid == built_in[name], f"{name!r} resolved to {settings.role_guid}"


def test_role_accepts_definition_id() -> None:
    reader = BUILT_IN_ROLES["Reader"]
    definition_id = (
        f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization"
        f"/roleDefinitions/{reader}"
    )

    settings = resolve_args(role=definition_id)

    assert settings.role_guid == reader, f"role definition ID resolved to {settings.role_guid}"


@pytest.mark.parametrize(
    ("scope", "kind"),
    [
        pytest.param(
            f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-coder",
            "resourceGroup",
            id="resource-group",
        ),
        pytest.param(
            f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-coder/providers"
            "/Microsoft.Storage/storageAccounts/codercache",
            "resource",
            id="resource",
        ),
    ],
)
def test_scope_accepts_group_and_resource(scope: str, kind: str) -> None:
    settings = resolve_args(role_scope=scope)

    assert settings.role_scope is not None, f"scope {scope!r} was dropped"
    assert settings.role_scope.id == scope, f"scope changed to {settings.role_scope.id!r}"
    assert settings.role_scope.kind == kind, f"scope kind is {settings.role_scope.kind!r}"
    assert settings.role_scope.subscription_id == SUBSCRIPTION_ID


def test_subject_keeps_comma_in_organization() -> None:
    settings = resolve_args(certificate_subject=GUIDE_SUBJECT)
    subject = settings.certificate_subject

    assert subject.get("common_name") == "myclientcertificate", f"subject parsed as {subject}"
    assert subject.get("organization") == "MyCompany, Inc.", f"subject parsed as {subject}"
    assert subject.get("province") == "CA", f"subject parsed as {subject}"
    assert subject.get("country") == "US", f"subject parsed as {subject}"


@pytest.mark.parametrize("bits", [2048, 3072, 4096])
def test_key_size_accepted(bits: int) -> None:
    settings = resolve_args(certificate_key_size=bits)

    assert settings.certificate_key_size == bits


def test_config_error_is_run_error() -> None:
    assert issubclass(ConfigError, pulumi.RunError), (
        "ConfigError must be a pulumi.RunError, or the CLI prints a Python traceback"
    )


def test_unknown_key_rejected(rejected_deploy: RejectedDeploy) -> None:
    """A mistyped key is an error, not a silently ignored setting with its default in force."""
    config = stack_config(
        DEV_STACK, {"subscriptionId": SUBSCRIPTION_ID, "certificateKeysize": "1024"}
    )

    rejection = rejected_deploy(run_main, config)

    assert f"{PROJECT}:certificateKeysize" in rejection.message
    assert "did you mean certificateKeySize?" in rejection.message
    assert f"./scripts/deploy.sh dev config rm {PROJECT}:certificateKeysize" in rejection.message
    assert rejection.registrations == []


def test_privileged_fix_keeps_scope(rejected_deploy: RejectedDeploy) -> None:
    """The suggested replacement for Owner on a resource group stays on that resource group."""
    group = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/coder-workspaces"
    config = stack_config(
        DEV_STACK,
        {"subscriptionId": SUBSCRIPTION_ID, "roleAssignments": json.dumps([f"Owner@{group}"])},
    )
    config.pop(f"{PROJECT}:role")

    rejection = rejected_deploy(run_main, config)

    assert f"Contributor@{group}" in rejection.message
