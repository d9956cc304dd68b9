"""The checks behind the policy pack, as plain functions over plain data.

Each resource rule takes a resource type token and the resource's properties, a mapping of
engine property names such as `rsaBits` to plain values. It returns a list of violation
messages, which is empty when the resource complies or is outside the rule's scope. The stack
rule takes a list of `StackResource` and returns a list of `StackViolation`. Nothing here needs
the Pulumi runtime, so the tests call these functions directly.

A value the engine does not know yet (an output of a resource not created, during preview)
arrives as `UNKNOWN`. A rule that needs such a value to decide skips the resource, because
`pulumi up` runs the same rules again once the values are known.

A policy pack receives secret values in plain text, like any other value, because
pulumi-policy 1.21.0 removes the secret marker before it passes the properties to a
validation. So no message here repeats a value that could be secret. Messages name the
property's path instead, because the CLI prints them and a Pulumi Cloud backend stores them
with the update.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

CONFIG = "coder-azure-federation"

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED_CERT = "tls:index/selfSignedCert:SelfSignedCert"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
APPLICATION_CERTIFICATE = "azuread:index/applicationCertificate:ApplicationCertificate"

# Built-in role definition GUIDs, the same in every Azure tenant. Either role lets its holder
# write role assignments, so a provisioner holding one could grant itself any access.
PRIVILEGED_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}

MIN_RSA_BITS = 3072
TLS_DEFAULT_RSA_BITS = 2048
"""Key size pulumi-tls uses for an RSA key when `rsaBits` is not set."""
MAX_VALIDITY_DAYS = 730
MAX_VALIDITY_HOURS = MAX_VALIDITY_DAYS * 24

CREDENTIAL_ENV_NAMES = frozenset(
    {"ARM_CLIENT_SECRET", "ARM_CLIENT_CERTIFICATE_PASSWORD", "ARM_CLIENT_CERTIFICATE"}
)
"""Environment variables whose value azurerm uses as the credential itself."""
MIN_BLOB_CHARS = 128
"""Shortest string, in base64 characters, that the Helm values rule tries to decode."""

_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_BASE64_TEXT = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_DER_SEQUENCE = b"\x30\x82"
"""ASN.1 SEQUENCE header with a two-byte length, which starts PKCS#12 bundles and DER keys."""


class Unknown:
    """The type of `UNKNOWN`, a property value the engine does not know yet."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()


@dataclass(frozen=True)
class StackResource:
    """One resource of a stack, as the stack rule reads it."""

    type: str
    props: Mapping[str, Any] = field(default_factory=dict)
    urn: str = ""


@dataclass(frozen=True)
class StackViolation:
    """A violation of the stack rule and the URN of the resource it concerns, if known."""

    message: str
    urn: str = ""


def _number(value: Any) -> float | None:
    """Return a numeric property as a float, or None when it is missing or not a number."""
    if isinstance(value, bool) or value is None or value is UNKNOWN:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _format_number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


# 1. no-privileged-provisioner-role


def _principal_in_scope(principal_type: Any) -> bool:
    """Tell whether a role assignment's principal may be the provisioner's service principal.

    The provisioner signs in as a service principal, so an assignment to a `User`, `Group`,
    `ForeignGroup` or `Device` is outside this rule. An assignment without `principalType` is
    inside it, because nothing shows that its principal is not the provisioner.
    """
    if principal_type is None:
        return True
    if not isinstance(principal_type, str):
        return False
    return principal_type.strip().lower() in ("", "serviceprincipal")


def no_privileged_provisioner_role(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Find an Owner or User Access Administrator assignment that may reach the provisioner."""
    if resource_type != ROLE_ASSIGNMENT:
        return []
    role_definition_id = props.get("roleDefinitionId")
    principal_type = props.get("principalType")
    if not isinstance(role_definition_id, str) or principal_type is UNKNOWN:
        return []
    if not _principal_in_scope(principal_type):
        return []
    guid = role_definition_id.strip().rstrip("/").rsplit("/", 1)[-1].lower()
    role = PRIVILEGED_ROLES.get(guid)
    if role is None:
        return []
    principal = (
        "a service principal"
        if principal_type
        else "a principal of unstated type (no principalType), which may be the provisioner"
    )
    scope = props.get("scope")
    where = f" on {scope}" if isinstance(scope, str) and scope else ""
    return [
        f"This role assignment gives {role}{where} to {principal}. {role} can write role "
        "assignments, so Coder's provisioner, and any workspace template or leaked "
        "certificate that acts as it, could grant itself any access in that scope. Give it "
        f"Contributor or a custom role on the resource group your templates use instead "
        f"(`{CONFIG}:role`, `{CONFIG}:roleScope` or `{CONFIG}:roleAssignments`). If the grant "
        f"is deliberate and `{CONFIG}:allowPrivilegedRoles` is true, set this policy to "
        "advisory in a file passed with `--policy-pack-config`."
    ]


# 2. rsa-key-at-least-3072


def rsa_key_at_least_3072(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Find an RSA private key shorter than 3072 bits, counting an unset size as 2048."""
    if resource_type != PRIVATE_KEY:
        return []
    algorithm = props.get("algorithm")
    if not isinstance(algorithm, str) or algorithm.strip().upper() != "RSA":
        return []
    raw_bits = props.get("rsaBits")
    if raw_bits is UNKNOWN:
        return []
    if raw_bits is None:
        bits = float(TLS_DEFAULT_RSA_BITS)
        size = f"rsaBits is not set, so pulumi-tls makes a {TLS_DEFAULT_RSA_BITS}-bit key"
    else:
        parsed = _number(raw_bits)
        if parsed is None:
            return []
        bits = parsed
        size = f"rsaBits is {_format_number(bits)}"
    if bits >= MIN_RSA_BITS:
        return []
    return [
        f"This RSA key is too short: {size}, and at least {MIN_RSA_BITS} is required. The key "
        "signs the provisioner's sign-ins to Entra ID for the certificate's whole life, and "
        "NIST SP 800-57 accepts 2048-bit RSA (112-bit strength) only until the "
        f"end of 2030. Set `{CONFIG}:certificateKeySize` to 3072 or 4096 (4096 is the "
        "default); the next `pulumi up` replaces the key and certificate."
    ]


# 3. certificate-validity-at-most-730-days


def certificate_validity_at_most_730_days(
    resource_type: str, props: Mapping[str, Any]
) -> list[str]:
    """Find a self-signed certificate valid for longer than 730 days."""
    if resource_type != SELF_SIGNED_CERT:
        return []
    hours = _number(props.get("validityPeriodHours"))
    if hours is None or hours <= MAX_VALIDITY_HOURS:
        return []
    return [
        f"This certificate is valid for {_format_number(hours)} hours "
        f"({_format_number(hours / 24)} days), more than {MAX_VALIDITY_DAYS} days "
        f"({MAX_VALIDITY_HOURS} hours). It is the provisioner's credential in Entra ID, and "
        "its key stays usable by whoever copies it until the certificate expires. Set "
        f"`{CONFIG}:certificateValidityDays` to {MAX_VALIDITY_DAYS} or less; renewal "
        f"(`{CONFIG}:renewalWindowDays`) replaces the certificate before it expires."
    ]


# 4. role-assignment-has-principal-type


def role_assignment_has_principal_type(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Find a role assignment that does not state its principal's type."""
    if resource_type != ROLE_ASSIGNMENT:
        return []
    principal_type = props.get("principalType")
    if principal_type is UNKNOWN:
        return []
    if isinstance(principal_type, str) and principal_type.strip():
        return []
    return [
        "This role assignment has no principalType. Azure then has to look the principal up, "
        "and a service principal created in the same deployment may not have replicated yet, "
        "so the assignment fails with PrincipalNotFound; without it, the "
        "no-privileged-provisioner-role policy also cannot tell a user from a service "
        "principal. Set principalType to ServicePrincipal for the provisioner's identity, as "
        "the CoderAzureFederation component does, or to the principal's own type."
    ]


# 5. no-secret-in-helm-values


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Yield (path, value) for a value and everything nested in it."""
    yield path, value
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _decode_blob(text: str) -> bytes | None:
    """Decode a long base64 string, or return None when the string is not one."""
    compact = "".join(text.split())
    if len(compact) < MIN_BLOB_CHARS or len(compact) % 4 or not _BASE64_TEXT.match(compact):
        return None
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_certificate(der: bytes) -> bool:
    """Tell whether DER bytes are an X.509 certificate, which is public and allowed."""
    try:
        x509.load_der_x509_certificate(der)
    except ValueError:
        return False
    return True


def _secret_in_string(text: str) -> str:
    """Describe the secret material a string holds, or return an empty string."""
    if _PEM_PRIVATE_KEY.search(text):
        return "a PEM private key"
    decoded = _decode_blob(text)
    if decoded is None:
        return ""
    if decoded.startswith(_DER_SEQUENCE) and not _is_certificate(decoded):
        return "a base64 DER blob, such as a PKCS#12 bundle or a private key"
    if _PEM_PRIVATE_KEY.search(decoded.decode("latin-1")):
        return "a base64-encoded PEM private key"
    return ""


def _literal_credential_env(entry: Mapping[str, Any]) -> str:
    """Return the name of a credential variable given a literal value, or an empty string."""
    name = entry.get("name")
    if not isinstance(name, str) or name.strip().upper() not in CREDENTIAL_ENV_NAMES:
        return ""
    if "value" not in entry or entry["value"] is None or entry["value"] == "":
        return ""
    return name.strip()


def no_secret_in_helm_values(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Find secret material written into a Helm release's values."""
    if resource_type != HELM_RELEASE:
        return []
    values = props.get("values")
    if values is None or values is UNKNOWN:
        return []
    where_kept = (
        "Helm keeps the values in its release records, Pulumi keeps them in the stack's state, "
        "and anyone who can run `helm get values` or read the pod spec can read them."
    )
    messages: list[str] = []
    for path, value in _walk(values, "values"):
        if isinstance(value, Mapping):
            name = _literal_credential_env(value)
            if name:
                messages.append(
                    f"{path} sets {name} to a literal value. {where_kept} Put the value in a "
                    "Kubernetes secret and reference it with valueFrom.secretKeyRef, as the "
                    "CoderAzureFederation component does for ARM_CLIENT_CERTIFICATE_PASSWORD; "
                    "give the bundle as a mounted file with ARM_CLIENT_CERTIFICATE_PATH."
                )
        elif isinstance(value, str):
            found = _secret_in_string(value)
            if found:
                messages.append(
                    f"{path} holds {found}. {where_kept} Remove it from your chart values "
                    f"(`{CONFIG}:coderValuesFile`) and mount it from a Kubernetes secret "
                    "instead."
                )
    return messages


# 6. credential-ends-by-certificate-expiry


def _parse_time(text: str) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def _certificate_of(value: str, encoding: str) -> x509.Certificate | None:
    """Read the certificate of a credential's `value` in its `encoding`, or return None."""
    try:
        if encoding == "pem":
            return x509.load_pem_x509_certificate(value.encode())
        if encoding == "base64":
            data = base64.b64decode("".join(value.split()), validate=True)
        elif encoding == "hex":
            data = bytes.fromhex(value)
        else:
            return None
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except (ValueError, binascii.Error):
        return None


def _resource_label(resource: StackResource) -> str:
    name = resource.urn.rsplit("::", 1)[-1] if resource.urn else ""
    return f"Credential {name}" if name else "This credential"


def credential_ends_by_certificate_expiry(
    resources: Sequence[StackResource],
) -> list[StackViolation]:
    """Find certificate credentials whose endDate is later than their certificate's NotAfter.

    Out of scope: credentials of another type than AsymmetricX509Cert, credentials without an
    endDate (Entra ID then takes the certificate's own NotAfter), and credentials whose
    endDate, value or encoding is not known yet.
    """
    violations: list[StackViolation] = []
    for resource in resources:
        if resource.type != APPLICATION_CERTIFICATE:
            continue
        props = resource.props
        end_text = props.get("endDate")
        value = props.get("value")
        encoding = props.get("encoding") or "pem"
        credential_type = props.get("type") or "AsymmetricX509Cert"
        if not isinstance(end_text, str) or not end_text.strip():
            continue
        if not isinstance(value, str) or not isinstance(encoding, str):
            continue
        if not isinstance(credential_type, str):
            continue
        if credential_type.strip().lower() != "asymmetricx509cert":
            continue
        label = _resource_label(resource)
        end = _parse_time(end_text)
        if end is None:
            violations.append(
                StackViolation(
                    f"{label} has an endDate of {end_text!r}, which is not an RFC 3339 time, "
                    "so it cannot be compared with the certificate's expiry and Microsoft "
                    "Graph rejects it. Give the certificate's NotAfter, such as "
                    "2027-01-31T12:00:00Z.",
                    resource.urn,
                )
            )
            continue
        certificate = _certificate_of(value, encoding.strip().lower())
        if certificate is None:
            violations.append(
                StackViolation(
                    f"{label}: its value cannot be read as a certificate in the {encoding!r} "
                    "encoding, so its endDate cannot be compared with the certificate's "
                    "expiry. Give the certificate in PEM (encoding pem), or its DER bytes "
                    "in base64 or hex with the matching encoding.",
                    resource.urn,
                )
            )
            continue
        not_after = certificate.not_valid_after_utc
        if end <= not_after:
            continue
        violations.append(
            StackViolation(
                f"{label} ends at {end.strftime('%Y-%m-%dT%H:%M:%SZ')}, after its certificate "
                f"expires at {not_after.strftime('%Y-%m-%dT%H:%M:%SZ')}. Microsoft Graph "
                "rejects a key credential that outlasts its certificate, so the deployment "
                "fails at this credential. Set endDate to the certificate's NotAfter or "
                "earlier; the CoderAzureFederation component sets it to NotAfter from "
                f"`{CONFIG}:certificateValidityDays`.",
                resource.urn,
            )
        )
    return violations


RESOURCE_RULES = {
    "no-privileged-provisioner-role": (ROLE_ASSIGNMENT, no_privileged_provisioner_role),
    "rsa-key-at-least-3072": (PRIVATE_KEY, rsa_key_at_least_3072),
    "certificate-validity-at-most-730-days": (
        SELF_SIGNED_CERT,
        certificate_validity_at_most_730_days,
    ),
    "role-assignment-has-principal-type": (ROLE_ASSIGNMENT, role_assignment_has_principal_type),
    "no-secret-in-helm-values": (HELM_RELEASE, no_secret_in_helm_values),
}
"""Each resource rule by its policy name: the one type it checks, and its function."""
