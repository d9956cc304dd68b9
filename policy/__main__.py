"""Policy pack for coder-azure-federation: what `pulumi preview --policy-pack policy` enforces.

Each policy here only adapts the engine's view of a resource to a plain function in `rules.py`.
The adapter copies the properties into plain dicts and lists, with `rules.UNKNOWN` for each
value unknown during preview, and reports each message the function returns as a violation.
Every policy is mandatory, so a violation fails `pulumi preview` and stops `pulumi up`.

In pulumi-policy 1.21.0, constructing the PolicyPack starts the analyzer's gRPC server and
blocks, so this file must run only as the pack's entry point.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import rules
from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

PACK_NAME = "coder-azure-federation"

DESCRIPTIONS = {
    "no-privileged-provisioner-role": (
        "Coder's provisioner identity must not be assigned Owner or User Access Administrator."
    ),
    "rsa-key-at-least-3072": "RSA keys from pulumi-tls must have at least 3072 bits.",
    "certificate-validity-at-most-730-days": (
        "Self-signed certificates from pulumi-tls must be valid for 730 days or less."
    ),
    "role-assignment-has-principal-type": (
        "Azure role assignments must state the type of their principal."
    ),
    "no-secret-in-helm-values": (
        "Helm release values must not hold private keys, bundles or literal Azure credentials."
    ),
    "credential-ends-by-certificate-expiry": (
        "An Entra ID certificate credential must not end after its certificate expires."
    ),
}


def to_plain(value: Any) -> Any:
    """Copy the engine's view of a property into plain dicts and lists.

    The policy SDK wraps properties in proxies that raise UnknownValueError when an unknown
    value is read. Here each such value becomes `rules.UNKNOWN` instead, so that one unknown
    property does not stop a rule that does not need it.
    """
    if isinstance(value, Secret):
        return to_plain(value.value)
    if isinstance(value, Mapping):
        plain: dict[str, Any] = {}
        for key in value:
            try:
                plain[key] = to_plain(value[key])
            except UnknownValueError:
                plain[key] = rules.UNKNOWN
        return plain
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(to_plain(value[index]))
            except UnknownValueError:
                items.append(rules.UNKNOWN)
        return items
    return value


def resource_policy(
    name: str, resource_type: str, check: Callable[[str, Mapping[str, Any]], list[str]]
) -> ResourceValidationPolicy:
    """Wrap a resource rule as a mandatory policy that checks only `resource_type`."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != resource_type:
            return
        for message in check(args.resource_type, to_plain(args.props)):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name,
        description=DESCRIPTIONS[name],
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def validate_credentials(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Run the credential end date rule over the stack's certificate credentials."""
    resources = [
        rules.StackResource(
            type=resource.resource_type, props=to_plain(resource.props), urn=resource.urn
        )
        for resource in args.resources
        if resource.resource_type == rules.APPLICATION_CERTIFICATE
    ]
    for violation in rules.credential_ends_by_certificate_expiry(resources):
        report_violation(violation.message, violation.urn or None)


POLICIES = [
    *(
        resource_policy(name, resource_type, check)
        for name, (resource_type, check) in rules.RESOURCE_RULES.items()
    ),
    StackValidationPolicy(
        name="credential-ends-by-certificate-expiry",
        description=DESCRIPTIONS["credential-ends-by-certificate-expiry"],
        validate=validate_credentials,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]

PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
)
