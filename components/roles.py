"""Azure RBAC names: built-in role GUIDs, role definition IDs, scopes and assignment names."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

# Built-in role definition GUIDs are the same in every Azure tenant. azure-native cannot look a
# role up by name (`get_role_definition` takes the GUID), so the common ones are listed here.
BUILT_IN_ROLES: dict[str, str] = {
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
}

GUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID = re.compile(rf"^{GUID_PATTERN}$")
_ROLE_DEFINITION_ID = re.compile(
    rf"^(?:/subscriptions/{GUID_PATTERN})?/providers/Microsoft\.Authorization"
    rf"/roleDefinitions/(?P<guid>{GUID_PATTERN})$",
    re.IGNORECASE,
)
# Resource group names: 1 to 90 letters, digits, underscores, hyphens, periods and
# parentheses, not ending in a period.
_RESOURCE_GROUP = r"[-\w.()]{0,89}[-\w()]"
_SCOPE = re.compile(
    rf"^/subscriptions/(?P<subscription>{GUID_PATTERN})"
    rf"(?:/resourceGroups/(?P<group>{_RESOURCE_GROUP})"
    rf"(?:/providers/[A-Za-z0-9.]+(?:/[^/\s]+/[^/\s]+)+)?)?$",
    re.IGNORECASE,
)

# Fixed namespace for assignment names, so the same (scope, principal, role) always gives the
# same GUID in every stack. A new GUID on each run would replace the assignment, and a name that
# differs from an existing assignment for the same triple fails with RoleAssignmentExists.
_ASSIGNMENT_NAMESPACE = uuid.UUID("6f1d8a52-3c1e-4f7b-9a0e-2b7c5d4e8f10")

PLACEHOLDER_GUID = "00000000-0000-0000-0000-000000000000"


def is_guid(value: str) -> bool:
    """Tell whether `value` is a GUID in the 8-4-4-4-12 hexadecimal form."""
    return bool(_GUID.match(value))


def resolve_role(value: str) -> str | None:
    """Return the role definition GUID for a built-in role name, a GUID or a role definition ID.

    Names match without regard to letter case or spaces. Returns None for any other value.
    """
    folded = value.replace(" ", "").lower()
    for name, guid in BUILT_IN_ROLES.items():
        if name.replace(" ", "").lower() == folded:
            return guid
    if is_guid(value):
        return value.lower()
    match = _ROLE_DEFINITION_ID.match(value)
    if match:
        return match.group("guid").lower()
    return None


def role_name(guid: str) -> str:
    """Return the built-in name of a role GUID, or the GUID itself for other roles."""
    for name, known in BUILT_IN_ROLES.items():
        if known == guid.lower():
            return name
    return guid


@dataclass(frozen=True)
class Scope:
    """An Azure resource ID that a role can be assigned on."""

    id: str
    subscription_id: str
    kind: str
    """`subscription`, `resourceGroup` or `resource`."""


def parse_scope(value: str) -> Scope | None:
    """Parse a subscription, resource group or resource ID. Returns None for any other value."""
    trimmed = value.rstrip("/")
    match = _SCOPE.match(trimmed)
    if not match:
        return None
    if match.group("group") is None:
        kind = "subscription"
    elif "/providers/" in trimmed.lower():
        kind = "resource"
    else:
        kind = "resourceGroup"
    return Scope(id=trimmed, subscription_id=match.group("subscription").lower(), kind=kind)


_ASSIGNMENT_ID = re.compile(
    rf"^(?P<scope>/subscriptions/.+?)/providers/Microsoft\.Authorization/roleAssignments/"
    rf"(?P<name>{GUID_PATTERN})$",
    re.IGNORECASE,
)


def parse_assignment_id(value: str) -> tuple[Scope, str] | None:
    """Split a role assignment's resource ID into its scope and its name (a GUID)."""
    match = _ASSIGNMENT_ID.match(value.rstrip("/"))
    if not match:
        return None
    scope = parse_scope(match.group("scope"))
    if scope is None:
        return None
    return scope, match.group("name").lower()


def role_definition_id(subscription_id: str, role_guid: str) -> str:
    """Return a role definition ID in the subscription-scoped form that ARM returns.

    ARM echoes role definition IDs in this exact form. Any other spelling (no subscription
    prefix, another letter case) shows as a change on every preview.
    """
    return (
        f"/subscriptions/{subscription_id.lower()}/providers/Microsoft.Authorization"
        f"/roleDefinitions/{role_guid.lower()}"
    )


def assignment_name(scope: str, principal_id: str, role_guid: str) -> str:
    """Return a role assignment name (a GUID) that is stable for (scope, principal, role).

    ARM treats scopes and GUIDs without regard to case, so they are folded to lower case first.
    """
    key = "|".join((scope.rstrip("/").lower(), principal_id.lower(), role_guid.lower()))
    return str(uuid.uuid5(_ASSIGNMENT_NAMESPACE, key))
