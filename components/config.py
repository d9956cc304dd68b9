"""Configuration of a federation: every setting, its default, and its validation.

`SETTINGS` is the only place a default is written. `Pulumi.yaml` declares the same keys for the
CLI; `scripts/render_project_file.py` writes it from this table, and a test keeps the two equal.

Both ways in go through `resolve`: `load_config` reads stack configuration for `__main__.py`,
and the component calls `resolve` on its args. Either raises one `ConfigError` that lists every
bad value with its key, the value, what is accepted and how to fix it, before any resource is
declared.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pulumi
import yaml

from . import helm_values, rbac, roles, rotation, workload_identity
from .pkcs12 import PROFILES

PROJECT = "coder-azure-federation"

ConfigType = Literal["string", "integer", "boolean", "array"]
Source = Literal["config", "args"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Default of a setting that has none and must be given."""


@dataclass(frozen=True)
class Setting:
    """One configuration key: its type, default and description."""

    key: str
    """Config key under the project namespace, in camelCase."""
    type: ConfigType
    default: Any
    description: str
    arg: str = ""
    """Name in `CoderAzureFederationArgs`; derived from `key` when empty."""

    @property
    def arg_name(self) -> str:
        """Return the snake_case argument name of this setting."""
        return self.arg or re.sub(r"(?<!^)(?=[A-Z])", "_", self.key).lower()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "subscriptionId",
        "string",
        REQUIRED,
        "Azure subscription ID (GUID) that Coder's provisioners deploy into. Passed to "
        "Coder as ARM_SUBSCRIPTION_ID and used as the role scope unless roleScope is set.",
    ),
    Setting(
        "applicationDisplayName",
        "string",
        "",
        "Display name of the Entra ID application. Empty means 'coder-azure-federation-<stack>'.",
    ),
    Setting(
        "owners",
        "array",
        [],
        "Object IDs (GUIDs) of the users or service principals that own the application "
        "and its service principal. Empty means the principal running `pulumi up`.",
    ),
    Setting(
        "certificateSubject",
        "string",
        "/CN=coder-azure-federation",
        "Certificate subject in OpenSSL form, for example '/CN=coder/O=Example/C=US'. "
        "Attributes: CN (required), O, OU, L, ST, C.",
    ),
    Setting("certificateKeySize", "integer", 4096, "RSA key size in bits: 2048, 3072 or 4096."),
    Setting(
        "certificateValidityDays",
        "integer",
        730,
        "Days the certificate and its Entra ID credential stay valid, 1 to 3650.",
    ),
    Setting(
        "bundleProfile",
        "string",
        "legacy",
        "PKCS#12 encryption: 'legacy' (3DES with an SHA-1 MAC, read by every Go decoder "
        "Azure tooling uses) or 'modern' (AES-256 with an SHA-256 MAC, read only by newer "
        "azurerm releases).",
    ),
    Setting(
        "role",
        "string",
        "Contributor",
        "Role given to the service principal: a built-in name (Contributor, Reader, Owner, "
        "User Access Administrator), a role definition GUID or a role definition ID.",
    ),
    Setting(
        "roleScope",
        "string",
        "",
        "Resource ID the role is assigned on: a subscription, resource group or resource. "
        "Empty means the whole subscription given by subscriptionId.",
    ),
    Setting(
        "namespace",
        "string",
        "coder",
        "Kubernetes namespace of Coder's release and the credential secrets.",
    ),
    Setting(
        "createNamespace",
        "boolean",
        False,
        "Create the namespace. Leave false when it exists already.",
    ),
    Setting(
        "bundleSecretName",
        "string",
        "azure-client-cert-secret",
        "Name of the secret that holds the PKCS#12 bundle.",
    ),
    Setting(
        "bundleSecretKey",
        "string",
        "client.pfx",
        "Key of the bundle in its secret, and its file name in the mount. Must end in .pfx.",
    ),
    Setting(
        "clientIdSecretName",
        "string",
        "arm-client-id",
        "Name of the secret that holds the application (client) ID.",
    ),
    Setting("clientIdSecretKey", "string", "id", "Key of the client ID in its secret."),
    Setting(
        "tenantIdSecretName",
        "string",
        "arm-tenant-id",
        "Name of the secret that holds the tenant ID.",
    ),
    Setting("tenantIdSecretKey", "string", "id", "Key of the tenant ID in its secret."),
    Setting(
        "subscriptionIdSecretName",
        "string",
        "arm-subscription-id",
        "Name of the secret that holds the subscription ID.",
    ),
    Setting("subscriptionIdSecretKey", "string", "id", "Key of the subscription ID in its secret."),
    Setting(
        "passwordSecretName",
        "string",
        "arm-client-cert-password",
        "Name of the secret that holds the bundle password.",
    ),
    Setting("passwordSecretKey", "string", "password", "Key of the bundle password in its secret."),
    Setting(
        "certificateMountPath",
        "string",
        "/home/coder/az",
        "Absolute directory in the Coder container where the bundle secret is mounted read-only.",
    ),
    Setting(
        "releaseName",
        "string",
        "",
        "Name of the Helm release. Empty means the chart's name.",
    ),
    Setting(
        "chart",
        "string",
        "coder",
        "Chart that receives the credential: 'coder' (the server with built-in provisioners) "
        "or 'coder-provisioner' (external provisioner daemons, so the server holds no Azure "
        "credential).",
    ),
    Setting(
        "chartVersion",
        "string",
        REQUIRED,
        "Exact version of the chart to install, for example 2.34.0.",
    ),
    Setting(
        "chartRepository",
        "string",
        "https://helm.coder.com/v2",
        "HTTPS URL of the Helm repository that serves Coder's charts.",
    ),
    Setting(
        "coderValuesFile",
        "string",
        "",
        "Path, relative to the project directory, of a YAML file with your own Coder chart "
        "values. The component appends its env, volume and mount to yours.",
        arg="coder_values",
    ),
    Setting(
        "authMode",
        "string",
        "certificate",
        "How the provisioners sign in: 'certificate' (a client certificate in a mounted "
        "PKCS#12 bundle) or 'workloadIdentity' (a federated service account token; no key, "
        "certificate or Kubernetes secret is created).",
    ),
    Setting(
        "workloadIdentityIssuer",
        "string",
        "",
        "HTTPS URL of the cluster's service account token issuer. Required with "
        "authMode workloadIdentity.",
    ),
    Setting(
        "workloadIdentityFlavor",
        "string",
        "webhook",
        "How the token reaches azurerm with authMode workloadIdentity: 'webhook' (the "
        "azure-workload-identity webhook injects it) or 'projectedToken' (a projected service "
        "account token volume, on any cluster).",
    ),
    Setting(
        "tokenMountPath",
        "string",
        "/var/run/secrets/azure/tokens",
        "Directory where the projected token is mounted with workloadIdentityFlavor "
        "projectedToken.",
    ),
    Setting(
        "renewalWindowDays",
        "integer",
        30,
        "Days before the certificate expires from which `pulumi up` renews it. Must be less "
        "than certificateValidityDays.",
    ),
    Setting(
        "certificateRotation",
        "integer",
        0,
        "Rotation counter. Raise it by one to replace the key and certificate now.",
    ),
    Setting(
        "passwordRotation",
        "integer",
        0,
        "Rotation counter. Raise it by one to generate a new bundle password; the pods restart.",
    ),
    Setting(
        "mountRefreshSeconds",
        "integer",
        90,
        "Seconds to wait after the bundle changes before the old credential is removed, so the "
        "kubelet can refresh the mounted secret. 0 to 600.",
    ),
    Setting(
        "roleAssignments",
        "array",
        [],
        "Role assignments as ROLE@SCOPE, such as 'custom:coder-workspaces@/subscriptions/<id>/"
        "resourceGroups/coder'. ROLE is a built-in name, a GUID, a role definition ID or "
        "custom:NAME. Replaces role and roleScope when set.",
    ),
    Setting(
        "customRolesFile",
        "string",
        "",
        "Path of a YAML file that defines custom roles (name, description, actions, "
        "notActions, dataActions, notDataActions, assignableScopes).",
        arg="custom_roles",
    ),
    Setting(
        "allowPrivilegedRoles",
        "boolean",
        False,
        "Allow Owner and User Access Administrator, with which the provisioner could grant "
        "itself more access.",
    ),
    Setting(
        "protect",
        "boolean",
        False,
        "Protect the application, service principal, role assignments and custom roles from "
        "deletion by Pulumi.",
    ),
    Setting(
        "adoptApplicationObjectId",
        "string",
        "",
        "Object ID of an existing application to import instead of creating one.",
    ),
    Setting(
        "adoptServicePrincipalObjectId",
        "string",
        "",
        "Object ID of an existing service principal to import instead of creating one.",
    ),
    Setting(
        "adoptRoleAssignmentIds",
        "array",
        [],
        "Resource IDs of existing role assignments to import, each matched to the configured "
        "assignment with the same scope. Keep them set for the life of the stack: removing one "
        "renames the assignment, and Azure rejects the replacement while the old one exists.",
    ),
    Setting(
        "adoptSecrets",
        "boolean",
        False,
        "Import the existing Kubernetes secrets with the configured names.",
    ),
    Setting(
        "adoptRelease",
        "boolean",
        False,
        "Import the existing Helm release with the configured name.",
    ),
)

SETTINGS_BY_ARG = {setting.arg_name: setting for setting in SETTINGS}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_CHART_VERSION = re.compile(
    r"^\d+\.\d+\.\d+(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?(\+[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$"
)
_SUBJECT_ATTRIBUTES = {
    "CN": "common_name",
    "O": "organization",
    "OU": "organizational_unit",
    "L": "locality",
    "ST": "province",
    "C": "country",
}
KEY_SIZES = (2048, 3072, 4096)
AUTH_MODES = ("certificate", "workloadIdentity")
MAX_VALIDITY_DAYS = 3650


CONFIG_COMMAND = "{config}"
"""Stands in a Problem's fix for the `pulumi config` command of the stack being checked."""


@dataclass(frozen=True)
class Problem:
    """One invalid value: where it is, what it was, what is accepted and an example fix."""

    setting: Setting
    value: Any
    accepted: str
    example: Any
    fix: str = ""
    """Fix to print instead of a `pulumi config set` command, when the value itself is right."""


class ConfigError(pulumi.RunError):
    """Invalid configuration, raised before any resource is declared.

    A `pulumi.RunError` so that the CLI prints the message without a Python traceback.
    Problems are listed in the order of the settings table, which is the README's order too.
    """

    def __init__(self, problems: Sequence[Problem], source: Source, stack: str = "") -> None:
        order = {setting.key: index for index, setting in enumerate(SETTINGS)}
        self.problems = sorted(
            problems, key=lambda problem: order.get(problem.setting.key, len(order))
        )
        self.source = source
        self.stack = stack
        super().__init__(_format_problems(self.problems, source, stack))


def _show(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def _shell_word(text: str) -> str:
    """Quote a value for a POSIX shell unless it has only plain word characters."""
    if text and re.match(r"^[\w.:@%+=-]+$", text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def _config_command(stack: str) -> str:
    """Return how to run `pulumi config` for a stack: through the deploy script when it is known.

    The script points the CLI at the project's state backend, as every command in the README.
    """
    if stack:
        return f"./scripts/deploy.sh {_shell_word(stack)} config"
    return "pulumi config"


def _fix_command(setting: Setting, example: Any, stack: str = "") -> str:
    name = f"{PROJECT}:{setting.key}"
    command = _config_command(stack)
    if isinstance(example, bool):
        example = str(example).lower()
    if setting.type == "array":
        return f"{command} set --path '{name}[0]' {_shell_word(str(example))}"
    return f"{command} set {name} {_shell_word(str(example))}"


def _format_problems(problems: Sequence[Problem], source: Source, stack: str = "") -> str:
    if source == "config":
        stack_file = f"Pulumi.{stack}.yaml" if stack else "the stack file"
        lines = [
            f"Invalid configuration ({len(problems)} problem(s)). Fix each one with the command "
            f"shown, or edit {stack_file}:"
        ]
        for problem in problems:
            lines.append(
                f"  - {PROJECT}:{problem.setting.key} is {_show(problem.value)}, but it must be "
                f"{problem.accepted}."
            )
            fix = problem.fix.replace(CONFIG_COMMAND, _config_command(stack))
            lines.append(f"    Fix: {fix or _fix_command(problem.setting, problem.example, stack)}")
    else:
        lines = [f"Invalid CoderAzureFederation arguments ({len(problems)} problem(s)):"]
        for problem in problems:
            lines.append(
                f"  - {problem.setting.arg_name} is {_show(problem.value)}, but it must be "
                f"{problem.accepted}. For example: {problem.setting.arg_name}="
                f"{_show(problem.example)}"
            )
    return "\n".join(lines)


@dataclass(frozen=True)
class FederationSettings:
    """Validated settings with every default filled in.

    Fields that a caller of the component may give as `pulumi.Output` keep that type; every
    other field is a plain, validated value.
    """

    subscription_id: pulumi.Input[str]
    application_display_name: str
    owners: pulumi.Input[list[str]]
    certificate_subject: dict[str, str]
    certificate_key_size: int
    certificate_validity_days: int
    bundle_profile: str
    role_guid: str
    role_scope: roles.Scope | None
    """None means the whole subscription given by `subscription_id`."""
    namespace: str
    create_namespace: bool
    bundle_secret_name: str
    bundle_secret_key: str
    client_id_secret_name: str
    client_id_secret_key: str
    tenant_id_secret_name: str
    tenant_id_secret_key: str
    subscription_id_secret_name: str
    subscription_id_secret_key: str
    password_secret_name: str
    password_secret_key: str
    certificate_mount_path: str
    release_name: str
    chart_version: str
    chart_repository: str
    coder_values: dict[str, Any] = field(default_factory=dict)
    chart: str = "coder"
    auth_mode: str = "certificate"
    workload_identity_issuer: str = ""
    workload_identity_flavor: str = "webhook"
    token_mount_path: str = "/var/run/secrets/azure/tokens"
    renewal_window_days: int = 30
    certificate_rotation: int = 0
    password_rotation: int = 0
    mount_refresh_seconds: int = 90
    role_assignments: list[rbac.AssignmentSpec] = field(default_factory=list)
    custom_roles: list[rbac.CustomRole] = field(default_factory=list)
    allow_privileged_roles: bool = False
    protect: bool = False
    adopt_application_object_id: str = ""
    adopt_service_principal_object_id: str = ""
    adopt_role_assignment_ids: dict[int, str] = field(default_factory=dict)
    """Existing assignment ID by index in `role_assignments`."""
    adopt_secrets: bool = False
    adopt_release: bool = False
    service_account_name: str = ""

    @property
    def certificate_path(self) -> str:
        """Return the path of the bundle file inside the Coder container."""
        return posixpath.join(self.certificate_mount_path, self.bundle_secret_key)


Validator = Callable[[Any], str | None]


def _one_of(choices: Sequence[Any]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value in choices:
            return None
        return "one of " + ", ".join(_show(choice) for choice in choices)

    return check


def _guid(value: Any) -> str | None:
    if isinstance(value, str) and roles.is_guid(value):
        return None
    return "a GUID such as 11111111-2222-3333-4444-555555555555"


def _dns_label(max_length: int) -> Validator:
    def check(value: Any) -> str | None:
        if isinstance(value, str) and len(value) <= max_length and _DNS_LABEL.match(value):
            return None
        return (
            f"a DNS-1123 label: at most {max_length} lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )

    return check


def _dns_subdomain(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= 253 and _DNS_SUBDOMAIN.match(value):
        return None
    return (
        "a DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' and '.', "
        "starting and ending with a letter or digit"
    )


def _secret_key(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= 253 and _SECRET_KEY.match(value):
        return None
    return "a secret data key: letters, digits, '-', '_' and '.' only"


def _bundle_key(value: Any) -> str | None:
    problem = _secret_key(value)
    if problem is None and not value.endswith(".pfx"):
        problem = "a file name ending in .pfx, because older azurerm releases read only .pfx paths"
    return problem


def _integer_between(low: int, high: int) -> Validator:
    def check(value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return None
        return f"a whole number from {low} to {high}"

    return check


def _key_size(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value in KEY_SIZES:
        return None
    return "one of " + ", ".join(str(size) for size in KEY_SIZES)


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _display_name(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= 120 and value == value.strip():
        return None
    return "at most 120 characters, without leading or trailing spaces"


def _subject(value: Any) -> str | None:
    return (
        None
        if isinstance(value, str) and parse_subject(value) is not None
        else (
            "an OpenSSL subject such as '/CN=coder/O=Example Inc./C=US' with a CN and only the "
            "attributes " + ", ".join(_SUBJECT_ATTRIBUTES) + " (C is a two-letter country code)"
        )
    )


def _role(value: Any) -> str | None:
    if isinstance(value, str) and roles.resolve_role(value) is not None:
        return None
    return (
        "a built-in role name (" + ", ".join(roles.BUILT_IN_ROLES) + "), a role definition "
        "GUID, or a role definition ID ending in /roleDefinitions/<GUID>"
    )


def _scope(value: Any) -> str | None:
    if value == "" or (isinstance(value, str) and roles.parse_scope(value) is not None):
        return None
    return (
        "empty, or a resource ID starting with /subscriptions/<GUID>: a subscription, "
        "a resource group (/resourceGroups/<name>) or a resource (/providers/...)"
    )


def _mount_path(value: Any) -> str | None:
    if (
        isinstance(value, str)
        and value.startswith("/")
        and value != "/"
        and posixpath.normpath(value) == value.rstrip("/")
        and ":" not in value
    ):
        return None
    return (
        "an absolute directory path other than / with no '..' or '.' parts, such as /home/coder/az"
    )


def _chart_version(value: Any) -> str | None:
    if isinstance(value, str) and _CHART_VERSION.match(value):
        return None
    return "an exact chart version such as 2.34.0 (ranges are not accepted)"


def _https_url(value: Any) -> str | None:
    if isinstance(value, str) and re.match(r"^https://[^\s/]+(/\S*)?$", value):
        return None
    return "an https:// URL"


def _empty_or(validator: Validator) -> Validator:
    def check(value: Any) -> str | None:
        if value == "":
            return None
        problem = validator(value)
        return None if problem is None else f"empty or {problem}"

    return check


def _empty_or_https_url(value: Any) -> str | None:
    if value == "":
        return None
    return _https_url(value)


def _empty_or_guid(value: Any) -> str | None:
    if value == "":
        return None
    return _guid(value)


def _string_list(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return None
    return "a list of strings"


def _role_assignment_ids(value: Any) -> str | None:
    if isinstance(value, list) and all(
        isinstance(item, str) and roles.parse_assignment_id(item) is not None for item in value
    ):
        return None
    return (
        "a list of role assignment IDs: "
        "<scope>/providers/Microsoft.Authorization/roleAssignments/<GUID>"
    )


def _owners(value: Any) -> str | None:
    if isinstance(value, list) and all(
        isinstance(item, str) and roles.is_guid(item) for item in value
    ):
        return None
    return "a list of object IDs (GUIDs)"


def _profile(value: Any) -> str | None:
    return _one_of(PROFILES)(value)


_VALIDATORS: dict[str, Validator] = {
    "subscriptionId": _guid,
    "applicationDisplayName": _display_name,
    "owners": _owners,
    "certificateSubject": _subject,
    "certificateKeySize": _key_size,
    "certificateValidityDays": _integer_between(1, MAX_VALIDITY_DAYS),
    "bundleProfile": _profile,
    "role": _role,
    "roleScope": _scope,
    "namespace": _dns_label(63),
    "createNamespace": _boolean,
    "bundleSecretName": _dns_subdomain,
    "bundleSecretKey": _bundle_key,
    "clientIdSecretName": _dns_subdomain,
    "clientIdSecretKey": _secret_key,
    "tenantIdSecretName": _dns_subdomain,
    "tenantIdSecretKey": _secret_key,
    "subscriptionIdSecretName": _dns_subdomain,
    "subscriptionIdSecretKey": _secret_key,
    "passwordSecretName": _dns_subdomain,
    "passwordSecretKey": _secret_key,
    "certificateMountPath": _mount_path,
    # Helm limits release names to 53 characters.
    "releaseName": _empty_or(_dns_label(53)),
    "chartVersion": _chart_version,
    "chartRepository": _https_url,
    "chart": _one_of(tuple(workload_identity.CHART_SERVICE_ACCOUNTS)),
    "authMode": _one_of(AUTH_MODES),
    "workloadIdentityIssuer": _empty_or_https_url,
    "workloadIdentityFlavor": _one_of(workload_identity.FLAVORS),
    "tokenMountPath": _mount_path,
    "renewalWindowDays": _integer_between(1, MAX_VALIDITY_DAYS - 1),
    "certificateRotation": _integer_between(0, 1_000_000),
    "passwordRotation": _integer_between(0, 1_000_000),
    "mountRefreshSeconds": _integer_between(0, rotation.MAX_MOUNT_REFRESH_SECONDS),
    "roleAssignments": _string_list,
    "allowPrivilegedRoles": _boolean,
    "protect": _boolean,
    "adoptApplicationObjectId": _empty_or_guid,
    "adoptServicePrincipalObjectId": _empty_or_guid,
    "adoptRoleAssignmentIds": _role_assignment_ids,
    "adoptSecrets": _boolean,
    "adoptRelease": _boolean,
}

# Settings that only flow into resource inputs, so they may be outputs of other resources.
_OUTPUTS_ALLOWED = {"subscriptionId", "owners"}

_EXAMPLES: dict[str, Any] = {
    "subscriptionId": "<subscription GUID>",
    "owners": "<object ID GUID>",
    "role": "Contributor",
    "roleScope": "/subscriptions/<GUID>/resourceGroups/<name>",
    "chartVersion": "2.34.0",
    "coderValuesFile": "coder-values.yaml",
    "workloadIdentityIssuer": "https://<issuer host>/<path>",
    "roleAssignments": "Contributor@/subscriptions/<GUID>/resourceGroups/<name>",
    "customRolesFile": "custom-roles.yaml",
    "adoptRoleAssignmentIds": "<role assignment ID>",
    "certificateSubject": "/CN=coder-azure-federation",
}


def parse_subject(value: str) -> dict[str, str] | None:
    """Parse an OpenSSL subject (`/CN=name/O=Org, Inc./C=US`) into pulumi-tls subject fields.

    Returns None when the text has no CN, an unknown or repeated attribute, an empty value or a
    country that is not two letters.
    """
    if not value.startswith("/"):
        return None
    fields: dict[str, str] = {}
    for part in value[1:].split("/"):
        attribute, separator, text = part.partition("=")
        if not separator or attribute not in _SUBJECT_ATTRIBUTES or not text.strip():
            return None
        name = _SUBJECT_ATTRIBUTES[attribute]
        if name in fields:
            return None
        fields[name] = text.strip()
    if "common_name" not in fields:
        return None
    if "country" in fields and not re.match(r"^[A-Z]{2}$", fields["country"]):
        return None
    return fields


def _default(setting: Setting) -> Any:
    if isinstance(setting.default, list):
        return list(setting.default)
    return setting.default


def resolve(
    raw: Mapping[str, Any],
    source: Source,
    stack: str = "",
    allow_placeholders: bool = True,
) -> FederationSettings:
    """Validate raw values keyed by argument name, fill in defaults and return the settings.

    Raises ConfigError listing every invalid or missing value. With `allow_placeholders` false,
    the all-zero GUID that the sample stack file carries is rejected too, so a real deployment
    never runs against it. Outputs are accepted only for subscription_id and owners, and pass
    through unchecked because they are not known until deployment.
    """
    problems: list[Problem] = []
    values: dict[str, Any] = {}

    for setting in SETTINGS:
        value = raw.get(setting.arg_name)
        if value is None:
            if setting.default is REQUIRED:
                problems.append(
                    Problem(setting, None, "set; it has no default", _EXAMPLES.get(setting.key, ""))
                )
                continue
            value = _default(setting)
        values[setting.arg_name] = value
        if isinstance(value, pulumi.Output):
            if setting.key not in _OUTPUTS_ALLOWED:
                problems.append(
                    Problem(
                        setting,
                        "<Output>",
                        "a plain value, because it shapes the resource "
                        "graph; only subscription_id and owners may be outputs",
                        _EXAMPLES.get(setting.key, _default(setting)),
                    )
                )
            continue
        validator = _VALIDATORS.get(setting.key)
        accepted = validator(value) if validator else None
        if accepted is not None:
            example = _EXAMPLES.get(setting.key, _default(setting))
            problems.append(Problem(setting, value, accepted, example))

    subscription = values.get("subscription_id")
    if (
        not allow_placeholders
        and isinstance(subscription, str)
        and subscription == roles.PLACEHOLDER_GUID
    ):
        problems.append(
            Problem(
                SETTINGS_BY_ARG["subscription_id"],
                subscription,
                "your real subscription ID; the all-zero GUID is the sample stack's placeholder",
                _EXAMPLES["subscriptionId"],
            )
        )

    coder_values = values.get("coder_values")
    if isinstance(coder_values, str):
        coder_values = _read_yaml_file(SETTINGS_BY_ARG["coder_values"], coder_values, problems)
    if coder_values is not None and not isinstance(coder_values, pulumi.Output):
        if not isinstance(coder_values, Mapping):
            problems.append(
                Problem(
                    SETTINGS_BY_ARG["coder_values"],
                    raw.get("coder_values"),
                    "a YAML mapping of Coder chart values at the top level, "
                    f"not a {_yaml_kind(coder_values)}",
                    _EXAMPLES["coderValuesFile"],
                    fix=f"edit {raw.get('coder_values')} so that its top level is a mapping",
                )
            )
            coder_values = {}
        elif _all_plain(values, "certificate_mount_path", "token_mount_path", "auth_mode"):
            owned = helm_values.owned_values(
                values["auth_mode"],
                values["workload_identity_flavor"],
                values["certificate_mount_path"],
                values["token_mount_path"],
            )
            for conflict in helm_values.find_conflicts(coder_values, owned):
                problems.append(
                    Problem(
                        SETTINGS_BY_ARG["coder_values"],
                        raw.get("coder_values", ""),
                        f"free of clashes with the component's values: {conflict}",
                        _EXAMPLES["coderValuesFile"],
                        fix=f"edit {raw.get('coder_values') or 'your values'} as described above",
                    )
                )

    custom_roles = _resolve_custom_roles(values.get("custom_roles"), raw, problems)
    assignments = _resolve_assignments(values, raw, custom_roles, problems)
    adopted_assignments = _match_adopted_assignments(values, assignments, problems)
    problems.extend(_cross_checks(values))
    if not allow_placeholders:
        problems.extend(_placeholder_scopes(assignments, custom_roles, raw))
    if isinstance(coder_values, Mapping) and isinstance(values.get("chart"), str):
        account = workload_identity.service_account_name(coder_values, values["chart"])
        if _dns_subdomain(account) is not None:
            problems.append(
                Problem(
                    SETTINGS_BY_ARG["coder_values"],
                    raw.get("coder_values", ""),
                    f"free of an invalid coder.serviceAccount.name ({account!r} is not a "
                    "DNS-1123 subdomain)",
                    _EXAMPLES["coderValuesFile"],
                    fix=f"edit {raw.get('coder_values') or 'your values'} as described above",
                )
            )

    if problems:
        raise ConfigError(problems, source, stack)

    display_name = values["application_display_name"] or f"{PROJECT}-{stack or 'stack'}"
    return FederationSettings(
        subscription_id=values["subscription_id"],
        application_display_name=display_name,
        owners=values["owners"],
        certificate_subject=parse_subject(values["certificate_subject"]) or {},
        certificate_key_size=values["certificate_key_size"],
        certificate_validity_days=values["certificate_validity_days"],
        bundle_profile=values["bundle_profile"],
        role_guid=roles.resolve_role(values["role"]) or "",
        role_scope=roles.parse_scope(values["role_scope"]) if values["role_scope"] else None,
        namespace=values["namespace"],
        create_namespace=values["create_namespace"],
        bundle_secret_name=values["bundle_secret_name"],
        bundle_secret_key=values["bundle_secret_key"],
        client_id_secret_name=values["client_id_secret_name"],
        client_id_secret_key=values["client_id_secret_key"],
        tenant_id_secret_name=values["tenant_id_secret_name"],
        tenant_id_secret_key=values["tenant_id_secret_key"],
        subscription_id_secret_name=values["subscription_id_secret_name"],
        subscription_id_secret_key=values["subscription_id_secret_key"],
        password_secret_name=values["password_secret_name"],
        password_secret_key=values["password_secret_key"],
        certificate_mount_path=values["certificate_mount_path"].rstrip("/"),
        release_name=values["release_name"] or values["chart"],
        chart_version=values["chart_version"],
        chart_repository=values["chart_repository"],
        coder_values=dict(coder_values or {}),
        chart=values["chart"],
        auth_mode=values["auth_mode"],
        workload_identity_issuer=values["workload_identity_issuer"],
        workload_identity_flavor=values["workload_identity_flavor"],
        token_mount_path=values["token_mount_path"].rstrip("/"),
        renewal_window_days=values["renewal_window_days"],
        certificate_rotation=values["certificate_rotation"],
        password_rotation=values["password_rotation"],
        mount_refresh_seconds=values["mount_refresh_seconds"],
        role_assignments=assignments,
        custom_roles=custom_roles,
        allow_privileged_roles=values["allow_privileged_roles"],
        protect=values["protect"],
        adopt_application_object_id=values["adopt_application_object_id"].lower(),
        adopt_service_principal_object_id=values["adopt_service_principal_object_id"].lower(),
        adopt_role_assignment_ids=adopted_assignments,
        adopt_secrets=values["adopt_secrets"],
        adopt_release=values["adopt_release"],
        service_account_name=workload_identity.service_account_name(
            coder_values if isinstance(coder_values, Mapping) else {}, values["chart"]
        ),
    )


def _all_plain(values: Mapping[str, Any], *names: str) -> bool:
    return all(isinstance(values.get(name), str) for name in names)


def _resolve_custom_roles(
    value: Any, raw: Mapping[str, Any], problems: list[Problem]
) -> list[rbac.CustomRole]:
    """Read custom roles from a file path (config) or a list of mappings (arguments)."""
    setting = SETTINGS_BY_ARG["custom_roles"]
    document = value
    if isinstance(value, str):
        document = _read_yaml_file(setting, value, problems) if value else None
    found, role_problems = rbac.parse_custom_roles(document)
    source = raw.get("custom_roles")
    where = source if isinstance(source, str) else "the custom roles"
    for problem in role_problems:
        problems.append(
            Problem(
                setting,
                source if isinstance(source, str) else "<custom roles>",
                f"a valid list of custom roles, but {problem}",
                _EXAMPLES["customRolesFile"],
                fix=f"edit {where} as described above",
            )
        )
    return found


def _resolve_assignments(
    values: Mapping[str, Any],
    raw: Mapping[str, Any],
    custom_roles: Sequence[rbac.CustomRole],
    problems: list[Problem],
) -> list[rbac.AssignmentSpec]:
    """Parse the role assignments: the roleAssignments list, or else role and roleScope."""
    names = [role.name for role in custom_roles]
    if values.get("role_assignments"):
        setting = SETTINGS_BY_ARG["role_assignments"]
        for other in ("role", "role_scope"):
            if raw.get(other) is not None:
                problems.append(
                    Problem(
                        SETTINGS_BY_ARG[other],
                        raw[other],
                        "unset when roleAssignments is set, because roleAssignments replaces it",
                        "",
                        fix=f"{CONFIG_COMMAND} rm {PROJECT}:{SETTINGS_BY_ARG[other].key}",
                    )
                )
        texts = list(values["role_assignments"])
    else:
        setting = SETTINGS_BY_ARG["role"]
        role = values.get("role")
        scope = values.get("role_scope")
        if not isinstance(role, str) or roles.resolve_role(role) is None:
            return []
        if not isinstance(scope, str) or (scope and roles.parse_scope(scope) is None):
            return []
        texts = [f"{role}@{scope}" if scope else role]

    found: list[rbac.AssignmentSpec] = []
    for text in texts:
        parsed = rbac.parse_assignment(text, names)
        if isinstance(parsed, str):
            problems.append(
                Problem(
                    setting,
                    text,
                    f"ROLE or ROLE@SCOPE, but {parsed}",
                    _EXAMPLES.get(setting.key, ""),
                )
            )
            continue
        if parsed.privileged_name and not values.get("allow_privileged_roles"):
            # The suggested fix keeps the scope: a bare role would cover the whole subscription.
            narrower = f"Contributor@{parsed.scope.id}" if parsed.scope else "Contributor"
            problems.append(
                Problem(
                    setting,
                    text,
                    f"a role other than {parsed.privileged_name}, which lets the provisioner "
                    "grant itself any access on its scope. Use a narrower role, or set "
                    "allowPrivilegedRoles to true if this is intended",
                    narrower,
                )
            )
            continue
        problem = _assignment_problem(parsed, found, custom_roles, values)
        if problem:
            problems.append(Problem(setting, text, problem, _EXAMPLES.get(setting.key, "")))
            continue
        found.append(parsed)
    return found


def _assignment_problem(
    spec: rbac.AssignmentSpec,
    earlier: Sequence[rbac.AssignmentSpec],
    custom_roles: Sequence[rbac.CustomRole],
    values: Mapping[str, Any],
) -> str:
    """Return what is wrong with an assignment beside its syntax, or an empty string."""
    subscription = values.get("subscription_id")
    scope_id = spec.scope.id if spec.scope else f"/subscriptions/{subscription}"
    if spec.key in {other.key for other in earlier}:
        return "listed once; this role and scope appear twice"
    if not spec.custom_role:
        return ""
    role = next(role for role in custom_roles if role.name == spec.custom_role)
    if role.grants_access and not values.get("allow_privileged_roles"):
        return (
            f"a role without Microsoft.Authorization/roleAssignments/write, but custom role "
            f"{role.name!r} may write role assignments and so grant itself any access. Narrow "
            "its actions, or set allowPrivilegedRoles to true if this is intended"
        )
    if isinstance(subscription, str) and not role.allows_scope(scope_id):
        return (
            f"a scope within the assignableScopes of custom role {role.name!r} "
            f"({', '.join(role.assignable_scopes)}); Azure rejects an assignment outside them"
        )
    return ""


def _match_adopted_assignments(
    values: Mapping[str, Any],
    assignments: Sequence[rbac.AssignmentSpec],
    problems: list[Problem],
) -> dict[int, str]:
    """Pair each adopted role assignment ID with the configured assignment on the same scope."""
    setting = SETTINGS_BY_ARG["adopt_role_assignment_ids"]
    subscription = values.get("subscription_id")
    adopted: dict[int, str] = {}
    seen: set[str] = set()
    for assignment_id in values.get("adopt_role_assignment_ids") or []:
        parsed = roles.parse_assignment_id(assignment_id)
        if parsed is None:
            continue
        if assignment_id.lower() in seen:
            problems.append(
                Problem(
                    setting,
                    assignment_id,
                    "listed once; one role assignment can be imported by one resource only",
                    _EXAMPLES["adoptRoleAssignmentIds"],
                )
            )
            continue
        seen.add(assignment_id.lower())
        scope, name = parsed
        if isinstance(subscription, pulumi.Output) and any(
            spec.scope is None for spec in assignments
        ):
            problems.append(
                Problem(
                    setting,
                    assignment_id,
                    "used with a subscription_id that is a plain value, or with assignments "
                    "that name their scope, because an output is not known when the program runs",
                    _EXAMPLES["adoptRoleAssignmentIds"],
                )
            )
            break
        matches = [
            index
            for index, spec in enumerate(assignments)
            if index not in adopted
            and (spec.scope.id if spec.scope else f"/subscriptions/{subscription}").lower()
            == scope.id.lower()
        ]
        if not matches:
            problems.append(
                Problem(
                    setting,
                    assignment_id,
                    "the ID of an assignment on a scope that role or roleAssignments configures",
                    _EXAMPLES["adoptRoleAssignmentIds"],
                )
            )
            continue
        adopted[matches[0]] = name
    return adopted


def _placeholder_scopes(
    assignments: Sequence[rbac.AssignmentSpec],
    custom_roles: Sequence[rbac.CustomRole],
    raw: Mapping[str, Any],
) -> list[Problem]:
    """Reject the sample files' all-zero subscription inside scopes, as for subscriptionId."""
    placeholder = f"/subscriptions/{roles.PLACEHOLDER_GUID}"
    problems: list[Problem] = []
    for spec in assignments:
        if spec.scope is not None and spec.scope.id.lower().startswith(placeholder):
            problems.append(
                Problem(
                    SETTINGS_BY_ARG["role_assignments"],
                    spec.text,
                    "a scope in your real subscription; the all-zero GUID is a placeholder",
                    re.sub(roles.PLACEHOLDER_GUID, "<subscription GUID>", spec.text),
                )
            )
    for role in custom_roles:
        if any(scope.lower().startswith(placeholder) for scope in role.assignable_scopes):
            source = raw.get("custom_roles")
            problems.append(
                Problem(
                    SETTINGS_BY_ARG["custom_roles"],
                    source if isinstance(source, str) else "<custom roles>",
                    f"custom roles scoped to your real subscription; role {role.name!r} still "
                    "has the placeholder all-zero GUID in assignableScopes",
                    _EXAMPLES["customRolesFile"],
                    fix=f"replace the placeholder in "
                    f"{source if isinstance(source, str) else 'the roles'}, or point "
                    "customRolesFile at your own copy with your scopes",
                )
            )
    return problems


def _cross_checks(values: Mapping[str, Any]) -> list[Problem]:
    """Check the rules that tie one setting to another."""
    problems: list[Problem] = []
    validity = values.get("certificate_validity_days")
    window = values.get("renewal_window_days")
    if (
        isinstance(validity, int)
        and isinstance(window, int)
        and 1 <= validity <= MAX_VALIDITY_DAYS
        and window >= validity
    ):
        problems.append(
            Problem(
                SETTINGS_BY_ARG["renewal_window_days"],
                window,
                f"less than certificateValidityDays ({validity}), or every run would renew",
                min(30, max(validity - 1, 1)),
            )
        )
    if values.get("create_namespace") and (
        values.get("adopt_secrets") or values.get("adopt_release")
    ):
        problems.append(
            Problem(
                SETTINGS_BY_ARG["create_namespace"],
                True,
                "false when adopting secrets or a release, whose namespace exists already",
                False,
            )
        )
    if values.get("auth_mode") == "workloadIdentity":
        if not values.get("workload_identity_issuer"):
            problems.append(
                Problem(
                    SETTINGS_BY_ARG["workload_identity_issuer"],
                    values.get("workload_identity_issuer"),
                    "set with authMode workloadIdentity to the cluster's token issuer URL (on "
                    "AKS: az aks show -g <group> -n <cluster> --query oidcIssuerProfile.issuerUrl)",
                    _EXAMPLES["workloadIdentityIssuer"],
                )
            )
        if values.get("adopt_secrets"):
            problems.append(
                Problem(
                    SETTINGS_BY_ARG["adopt_secrets"],
                    True,
                    "false with authMode workloadIdentity, which creates no secrets",
                    False,
                )
            )
    return problems


def _read_yaml_file(setting: Setting, path: str, problems: list[Problem]) -> Any:
    """Read a YAML file named by a setting, or record why it cannot be read."""
    if path == "":
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        problems.append(
            Problem(setting, path, f"a readable file ({error.strerror})", _EXAMPLES[setting.key])
        )
        return None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(error, "problem", None) or "a syntax error"
        problems.append(
            Problem(
                setting,
                path,
                f"a valid YAML file, but it has {reason}{where}",
                _EXAMPLES[setting.key],
                fix=f"correct the YAML in {path}",
            )
        )
        return None
    return {} if loaded is None else loaded


def _yaml_kind(value: Any) -> str:
    """Name a parsed YAML value's kind in YAML's words: mapping, list or scalar."""
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "scalar"


def load_config(config: pulumi.Config | None = None) -> dict[str, Any]:
    """Read and validate this project's stack configuration into component arguments.

    Returns a dict for `CoderAzureFederationArgs`, with the Coder values file already read.
    Raises ConfigError naming each bad key. Placeholder GUIDs pass during a preview, so a pull
    request can show the plan for the sample stack, and are rejected by `pulumi up`.
    """
    config = config or pulumi.Config(PROJECT)
    problems: list[Problem] = []
    raw: dict[str, Any] = {}

    problems.extend(_unknown_keys())
    for setting in SETTINGS:
        text = config.get(setting.key)
        if text is None:
            continue
        parsed = _parse_config_text(setting, text)
        if isinstance(parsed, Problem):
            problems.append(parsed)
        else:
            raw[setting.arg_name] = parsed

    # Values that did parse are validated too, so one run reports every problem at once.
    try:
        settings = resolve(
            raw,
            "config",
            stack=pulumi.get_stack(),
            allow_placeholders=pulumi.runtime.is_dry_run(),
        )
    except ConfigError as error:
        raise ConfigError(problems + error.problems, "config", error.stack) from None
    if problems:
        raise ConfigError(problems, "config", pulumi.get_stack())
    raw["coder_values"] = settings.coder_values
    return raw


def _unknown_keys() -> list[Problem]:
    """Report keys in this project's namespace that no setting declares, such as typos.

    Without this check a mistyped key would be ignored and its default used silently.
    """
    known = [setting.key for setting in SETTINGS]
    problems: list[Problem] = []
    for full_key in sorted(pulumi.runtime.config.CONFIG.get()):
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT or key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(
            Problem(
                Setting(key, "string", "", ""),
                "set",
                f"one of the keys declared in Pulumi.yaml{hint}",
                "",
                fix=f"{CONFIG_COMMAND} rm {full_key}",
            )
        )
    return problems


def _parse_config_text(setting: Setting, text: str) -> Any:
    """Convert a config string to the setting's type, or return the Problem with it."""
    if setting.type == "string":
        return text
    if setting.type == "integer":
        if re.match(r"^-?\d+$", text.strip()):
            return int(text)
        return Problem(setting, text, "a whole number", _default(setting))
    if setting.type == "boolean":
        if text.strip().lower() in ("true", "false"):
            return text.strip().lower() == "true"
        return Problem(setting, text, "true or false", _default(setting))
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        loaded = None
    if isinstance(loaded, list):
        return loaded
    return Problem(setting, text, "a list (set items with --path)", _EXAMPLES.get(setting.key, ""))


def project_config_schema() -> dict[str, Any]:
    """Return the `config` section of Pulumi.yaml that declares every setting."""
    schema: dict[str, Any] = {}
    for setting in SETTINGS:
        entry: dict[str, Any] = {"type": setting.type, "description": setting.description}
        if setting.type == "array":
            entry["items"] = {"type": "string"}
        if setting.default is not REQUIRED:
            entry["default"] = setting.default
        schema[setting.key] = entry
    return schema
