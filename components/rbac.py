"""Role assignments for the provisioner's service principal, and the custom roles they may use.

Each assignment is written `ROLE@SCOPE`: a built-in role name, a role definition GUID or ID, or
`custom:NAME` for a custom role defined by this component, then an optional Azure resource ID.
Without a scope the assignment covers the whole subscription. Owner and User Access
Administrator let the provisioner grant itself more access, so they are rejected unless the
configuration allows them explicitly.
"""

from __future__ import annotations

import fnmatch
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_azure_native import authorization

from . import roles

PRIVILEGED_ROLES = {
    roles.BUILT_IN_ROLES["Owner"]: "Owner",
    roles.BUILT_IN_ROLES["User Access Administrator"]: "User Access Administrator",
}
CUSTOM_PREFIX = "custom:"

# Fixed namespace for custom role definition GUIDs, so that a role keeps its ID across runs.
_DEFINITION_NAMESPACE = uuid.UUID("0b4c3e9a-7d21-4f0e-8a5b-6c1d2e3f4a5b")


@dataclass(frozen=True)
class CustomRole:
    """A custom role definition: its name, permissions and where it may be assigned."""

    name: str
    description: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()
    assignable_scopes: tuple[str, ...] = ()

    @property
    def grants_access(self) -> bool:
        """Tell whether the role may write role assignments, as Owner can."""
        allowed = any(_action_matches(pattern, ASSIGNMENT_WRITE) for pattern in self.actions)
        denied = any(_action_matches(pattern, ASSIGNMENT_WRITE) for pattern in self.not_actions)
        return allowed and not denied

    def allows_scope(self, scope_id: str) -> bool:
        """Tell whether the role may be assigned on a scope: one of its scopes or below one."""
        folded = scope_id.rstrip("/").lower()
        for assignable in self.assignable_scopes:
            base = assignable.rstrip("/").lower()
            if folded == base or folded.startswith(base + "/"):
                return True
        return False


ASSIGNMENT_WRITE = "Microsoft.Authorization/roleAssignments/write"


def _action_matches(pattern: str, action: str) -> bool:
    """Match an Azure RBAC action pattern, where `*` stands for any text, ignoring case."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def slug(text: str) -> str:
    """Return the form of a custom role name used in resource names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


@dataclass(frozen=True)
class AssignmentSpec:
    """One role assignment as configured: a role and the scope it applies to."""

    text: str
    role_guid: str = ""
    """GUID of a built-in or existing role; empty for a custom role."""
    custom_role: str = ""
    """Name of a custom role defined by this component; empty otherwise."""
    scope: roles.Scope | None = None
    """None means the whole subscription given by subscription_id."""

    @property
    def key(self) -> tuple[str, str]:
        """Return what identifies the assignment: the role and the scope, folded to lower case."""
        role = f"custom:{slug(self.custom_role)}" if self.custom_role else self.role_guid.lower()
        scope = self.scope.id.rstrip("/").lower() if self.scope else ""
        return role, scope

    @property
    def privileged_name(self) -> str:
        """Return the name of the privileged role this assigns, or an empty string."""
        return PRIVILEGED_ROLES.get(self.role_guid, "")


@dataclass
class RbacPlan:
    """Validated role assignments and custom roles, ready to declare."""

    assignments: list[AssignmentSpec] = field(default_factory=list)
    custom_roles: list[CustomRole] = field(default_factory=list)


def parse_assignment(text: str, custom_names: Sequence[str]) -> AssignmentSpec | str:
    """Parse `ROLE@SCOPE` into an AssignmentSpec, or return what is wrong with it."""
    role_text, _, scope_text = text.partition("@")
    role_text = role_text.strip()
    scope_text = scope_text.strip()

    scope = None
    if scope_text:
        scope = roles.parse_scope(scope_text)
        if scope is None:
            return f"{scope_text!r} is not a subscription, resource group or resource ID"

    if role_text.startswith(CUSTOM_PREFIX):
        name = role_text[len(CUSTOM_PREFIX) :]
        if name not in custom_names:
            known = ", ".join(custom_names) or "none"
            return f"custom role {name!r} is not defined (defined: {known})"
        return AssignmentSpec(text=text, custom_role=name, scope=scope)

    guid = roles.resolve_role(role_text)
    if guid is None:
        return (
            f"{role_text!r} is not a built-in role name, a role definition GUID or ID, "
            f"or {CUSTOM_PREFIX}NAME"
        )
    return AssignmentSpec(text=text, role_guid=guid, scope=scope)


def parse_custom_roles(document: Any) -> tuple[list[CustomRole], list[str]]:
    """Read custom roles from a parsed YAML document: a list of role mappings.

    Returns the roles and a description of each problem found. Each role needs a `name`, a
    non-empty `actions` list and at least one entry in `assignableScopes`, which must be
    subscription, resource group or resource IDs.
    """
    if document is None:
        return [], []
    if not isinstance(document, list):
        return [], ["the file must contain a list of roles"]

    found: list[CustomRole] = []
    problems: list[str] = []
    for index, entry in enumerate(document):
        where = f"role {index + 1}"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} is not a mapping")
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip() or "@" in name:
            problems.append(f"{where} needs a `name` without '@'")
            continue
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("actions", "notActions", "dataActions", "notDataActions", "assignableScopes"):
            items = entry.get(key) or []
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                problems.append(f"role {name!r}: `{key}` must be a list of strings")
                items = []
            lists[key] = tuple(items)
        if not lists["actions"] and not lists["dataActions"]:
            problems.append(f"role {name!r} needs at least one entry in `actions`")
        if not lists["assignableScopes"]:
            problems.append(f"role {name!r} needs at least one entry in `assignableScopes`")
        for scope in lists["assignableScopes"]:
            if roles.parse_scope(scope) is None:
                problems.append(f"role {name!r}: assignable scope {scope!r} is not a resource ID")
        if any(slug(role.name) == slug(name) for role in found):
            problems.append(
                f"role {name!r} is defined twice, or its name differs from another's only in "
                "letter case or punctuation"
            )
            continue
        found.append(
            CustomRole(
                name=name,
                description=str(entry.get("description") or ""),
                actions=lists["actions"],
                not_actions=lists["notActions"],
                data_actions=lists["dataActions"],
                not_data_actions=lists["notDataActions"],
                assignable_scopes=lists["assignableScopes"],
            )
        )
    return found, problems


def custom_role_guid(role: CustomRole) -> str:
    """Return the role definition GUID of a custom role, stable for its name and first scope."""
    key = f"{role.assignable_scopes[0].lower()}|{role.name}"
    return str(uuid.uuid5(_DEFINITION_NAMESPACE, key))


def declare_custom_role(
    resource_name: str, role: CustomRole, opts: pulumi.ResourceOptions
) -> authorization.RoleDefinition:
    """Declare a custom role definition at its first assignable scope."""
    return authorization.RoleDefinition(
        resource_name,
        role_definition_id=custom_role_guid(role),
        role_name=role.name,
        description=role.description or f"Custom role {role.name} for Coder's provisioners.",
        role_type="CustomRole",
        scope=role.assignable_scopes[0],
        assignable_scopes=list(role.assignable_scopes),
        permissions=[
            authorization.PermissionArgs(
                actions=list(role.actions),
                not_actions=list(role.not_actions),
                data_actions=list(role.data_actions),
                not_data_actions=list(role.not_data_actions),
            )
        ],
        opts=opts,
    )
