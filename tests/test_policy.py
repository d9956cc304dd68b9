"""The policy pack in policy/: each rule, the project's own graph, and the pack as the CLI runs it.

The rules are plain functions in `policy/rules.py`, loaded here by path so that `policy/` stays a
plain policy pack folder. Each rule gets a passing case, a failing case and an out-of-scope
case. Then the rules run over every registration the project's program makes under the mocks,
which must pass by default and fail when the configuration requests what a rule forbids. Last,
`policy/__main__.py` is run twice: once with the PolicyPack class replaced by a recorder, to
read what it registers without starting a server, and once as the Python policy analyzer host
runs it, serving gRPC on loopback.
"""

from __future__ import annotations

import base64
import datetime
import importlib.util
import re
import runpy
import selectors
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pulumi_policy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from components import roles
from tests.mocks import Deployment, deploy, run_main, stack_config

ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT / "policy"
SUBSCRIPTION = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
POLICY_NAMES = {
    "no-privileged-provisioner-role",
    "rsa-key-at-least-3072",
    "certificate-validity-at-most-730-days",
    "role-assignment-has-principal-type",
    "no-secret-in-helm-values",
    "credential-ends-by-certificate-expiry",
}


def _load_rules() -> ModuleType:
    spec = importlib.util.spec_from_file_location("coder_policy_rules", POLICY_DIR / "rules.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


rules = _load_rules()


def _role_definition_id(guid: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def _assignment(guid: str, principal_type: Any = "ServicePrincipal") -> dict[str, Any]:
    props: dict[str, Any] = {
        "principalId": "3d48e569-0a16-45d3-a792-fac265bccb00",
        "roleDefinitionId": _role_definition_id(guid),
        "scope": f"/subscriptions/{SUBSCRIPTION}",
    }
    if principal_type is not None:
        props["principalType"] = principal_type
    return props


def _certificate(days: int) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "policy-test")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return certificate, key


CERTIFICATE, CERTIFICATE_KEY = _certificate(730)
NOT_AFTER = "2028-01-01T00:00:00Z"
CERTIFICATE_PEM = CERTIFICATE.public_bytes(serialization.Encoding.PEM).decode()
CERTIFICATE_DER = CERTIFICATE.public_bytes(serialization.Encoding.DER)
KEY_PEM = CERTIFICATE_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
BUNDLE_BASE64 = base64.b64encode(
    pkcs12.serialize_key_and_certificates(
        b"coder",
        CERTIFICATE_KEY,
        CERTIFICATE,
        None,
        serialization.BestAvailableEncryption(b"bundle-password"),
    )
).decode()


def _credential(end_date: Any, value: Any = CERTIFICATE_PEM, **extra: Any) -> Any:
    props = {"type": "AsymmetricX509Cert", "encoding": "pem", "value": value, **extra}
    if end_date is not None:
        props["endDate"] = end_date
    return rules.StackResource(
        type=rules.APPLICATION_CERTIFICATE,
        props=props,
        urn="urn:pulumi:dev::coder-azure-federation::azuread:index/applicationCertificate:"
        "ApplicationCertificate::coder-azure-credential",
    )


def _release(values: Any) -> dict[str, Any]:
    return {"chart": "coder", "name": "coder", "namespace": "coder", "values": values}


def _env(*entries: Mapping[str, Any]) -> dict[str, Any]:
    return {"coder": {"env": list(entries)}}


# The policy's GUIDs are the project's.


def test_privileged_role_guids_match_the_component() -> None:
    assert rules.PRIVILEGED_ROLES == {
        roles.BUILT_IN_ROLES["Owner"]: "Owner",
        roles.BUILT_IN_ROLES["User Access Administrator"]: "User Access Administrator",
    }


# 1. no-privileged-provisioner-role


def test_contributor_for_a_service_principal_passes() -> None:
    assert (
        rules.no_privileged_provisioner_role(rules.ROLE_ASSIGNMENT, _assignment(CONTRIBUTOR)) == []
    )


@pytest.mark.parametrize(
    ("role_definition_id", "principal_type"),
    [
        (_role_definition_id(OWNER), "ServicePrincipal"),
        (_role_definition_id(USER_ACCESS_ADMINISTRATOR.upper()), "serviceprincipal"),
        (f"/providers/Microsoft.Authorization/roleDefinitions/{OWNER}", "ServicePrincipal"),
        (OWNER, None),
    ],
    ids=["owner", "uaa-upper-case", "tenant-form", "owner-no-principal-type"],
)
def test_privileged_role_for_the_provisioner_fails(
    role_definition_id: str, principal_type: str | None
) -> None:
    props = _assignment(CONTRIBUTOR, principal_type)
    props["roleDefinitionId"] = role_definition_id
    [message] = rules.no_privileged_provisioner_role(rules.ROLE_ASSIGNMENT, props)
    assert "coder-azure-federation:allowPrivilegedRoles" in message
    assert "--policy-pack-config" in message


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (rules.ROLE_ASSIGNMENT, _assignment(OWNER, "User")),
        (rules.ROLE_ASSIGNMENT, _assignment(OWNER, "Group")),
        (rules.ROLE_ASSIGNMENT, {**_assignment(CONTRIBUTOR), "roleDefinitionId": rules.UNKNOWN}),
        ("azure-native:authorization:RoleDefinition", _assignment(OWNER)),
    ],
    ids=["owner-for-user", "owner-for-group", "role-unknown", "other-type"],
)
def test_privileged_role_out_of_scope(resource_type: str, props: dict[str, Any]) -> None:
    assert rules.no_privileged_provisioner_role(resource_type, props) == []


# 2. rsa-key-at-least-3072


@pytest.mark.parametrize("bits", [3072, 4096, 4096.0])
def test_rsa_key_of_3072_bits_or_more_passes(bits: float) -> None:
    props = {"algorithm": "RSA", "rsaBits": bits}
    assert rules.rsa_key_at_least_3072(rules.PRIVATE_KEY, props) == []


def test_short_rsa_key_fails() -> None:
    [message] = rules.rsa_key_at_least_3072(
        rules.PRIVATE_KEY, {"algorithm": "RSA", "rsaBits": 2048}
    )
    assert "rsaBits is 2048" in message
    assert "coder-azure-federation:certificateKeySize" in message


def test_rsa_key_without_size_fails() -> None:
    [message] = rules.rsa_key_at_least_3072(rules.PRIVATE_KEY, {"algorithm": "RSA"})
    assert "2048-bit key" in message


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (rules.PRIVATE_KEY, {"algorithm": "ECDSA", "ecdsaCurve": "P256"}),
        (rules.PRIVATE_KEY, {"algorithm": "ED25519"}),
        (rules.PRIVATE_KEY, {"algorithm": "RSA", "rsaBits": rules.UNKNOWN}),
        ("tls:index/certRequest:CertRequest", {"algorithm": "RSA", "rsaBits": 1024}),
    ],
    ids=["ecdsa", "ed25519", "size-unknown", "other-type"],
)
def test_rsa_key_out_of_scope(resource_type: str, props: dict[str, Any]) -> None:
    assert rules.rsa_key_at_least_3072(resource_type, props) == []


# 3. certificate-validity-at-most-730-days


@pytest.mark.parametrize("hours", [24, 17520, 17520.0])
def test_certificate_of_730_days_or_less_passes(hours: float) -> None:
    props = {"validityPeriodHours": hours}
    assert rules.certificate_validity_at_most_730_days(rules.SELF_SIGNED_CERT, props) == []


def test_certificate_over_730_days_fails() -> None:
    props = {"validityPeriodHours": 17544}
    [message] = rules.certificate_validity_at_most_730_days(rules.SELF_SIGNED_CERT, props)
    assert "17544 hours (731 days)" in message
    assert "coder-azure-federation:certificateValidityDays" in message


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (rules.SELF_SIGNED_CERT, {"validityPeriodHours": rules.UNKNOWN}),
        ("tls:index/locallySignedCert:LocallySignedCert", {"validityPeriodHours": 87600}),
    ],
    ids=["hours-unknown", "other-type"],
)
def test_certificate_validity_out_of_scope(resource_type: str, props: dict[str, Any]) -> None:
    assert rules.certificate_validity_at_most_730_days(resource_type, props) == []


# 4. role-assignment-has-principal-type


@pytest.mark.parametrize("principal_type", ["ServicePrincipal", "User"])
def test_role_assignment_with_principal_type_passes(principal_type: str) -> None:
    props = _assignment(CONTRIBUTOR, principal_type)
    assert rules.role_assignment_has_principal_type(rules.ROLE_ASSIGNMENT, props) == []


@pytest.mark.parametrize("principal_type", [None, ""], ids=["missing", "empty"])
def test_role_assignment_without_principal_type_fails(principal_type: str | None) -> None:
    props = _assignment(CONTRIBUTOR, principal_type)
    [message] = rules.role_assignment_has_principal_type(rules.ROLE_ASSIGNMENT, props)
    assert "PrincipalNotFound" in message
    assert "ServicePrincipal" in message


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (rules.ROLE_ASSIGNMENT, _assignment(CONTRIBUTOR, rules.UNKNOWN)),
        ("azure-native:authorization:RoleDefinition", {"roleName": "coder-workspaces"}),
    ],
    ids=["type-unknown", "other-type"],
)
def test_principal_type_out_of_scope(resource_type: str, props: dict[str, Any]) -> None:
    assert rules.role_assignment_has_principal_type(resource_type, props) == []


# 5. no-secret-in-helm-values


def test_values_with_references_only_pass() -> None:
    values = _env(
        {"name": "ARM_CLIENT_CERTIFICATE_PATH", "value": "/home/coder/az/client.pfx"},
        {
            "name": "ARM_CLIENT_CERTIFICATE_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "arm-client-cert-password", "key": "password"}},
        },
        # A certificate is public, so neither its PEM nor its base64 DER is a secret.
        {"name": "CODER_TLS_CA", "value": CERTIFICATE_PEM},
        {"name": "EXTRA_CA_DER", "value": base64.b64encode(CERTIFICATE_DER).decode()},
    )
    assert rules.no_secret_in_helm_values(rules.HELM_RELEASE, _release(values)) == []


@pytest.mark.parametrize(
    ("values", "path", "what"),
    [
        (
            {"coder": {"tls": {"key": KEY_PEM}}},
            "values.coder.tls.key",
            "a PEM private key",
        ),
        (
            _env({"name": "ARM_CLIENT_SECRET", "value": "s3cr3t"}),
            "values.coder.env[0]",
            "ARM_CLIENT_SECRET to a literal value",
        ),
        (
            _env(
                {"name": "CODER_ACCESS_URL", "value": "https://coder.example.com"},
                {"name": "ARM_CLIENT_CERTIFICATE_PASSWORD", "value": rules.UNKNOWN},
            ),
            "values.coder.env[1]",
            "ARM_CLIENT_CERTIFICATE_PASSWORD to a literal value",
        ),
        (
            _env({"name": "ARM_CLIENT_CERTIFICATE", "value": "MIIK"}),
            "values.coder.env[0]",
            "ARM_CLIENT_CERTIFICATE to a literal value",
        ),
        (
            {"provisioner": {"extra": [{"bundle": BUNDLE_BASE64}]}},
            "values.provisioner.extra[0].bundle",
            "a base64 DER blob",
        ),
        (
            {"coder": {"files": {"key": base64.b64encode(KEY_PEM.encode()).decode()}}},
            "values.coder.files.key",
            "a base64-encoded PEM private key",
        ),
    ],
    ids=["pem-key", "client-secret", "computed-password", "certificate-env", "pkcs12", "b64-pem"],
)
def test_secret_in_values_fails(values: dict[str, Any], path: str, what: str) -> None:
    [message] = rules.no_secret_in_helm_values(rules.HELM_RELEASE, _release(values))
    assert message.startswith(f"{path} ")
    assert what in message
    # The message names where the secret is, never the secret itself.
    for secret in (KEY_PEM, "s3cr3t", BUNDLE_BASE64):
        assert secret not in message


def test_bundle_in_secret_out_of_scope() -> None:
    secret = {"data": {"client.pfx": BUNDLE_BASE64}, "type": "Opaque"}
    assert rules.no_secret_in_helm_values("kubernetes:core/v1:Secret", secret) == []


@pytest.mark.parametrize(
    "values",
    [
        rules.UNKNOWN,
        _env({"name": "ARM_CLIENT_SECRET", "value": ""}),
        _env({"name": "ARM_CLIENT_ID", "value": "04b07795-8ddb-461a-bbee-02f9e1bf7b46"}),
        {"coder": {"podAnnotations": {"checksum/azure-federation": "ab" * 32}}},
    ],
    ids=["values-unknown", "empty-secret", "client-id", "checksum"],
)
def test_values_out_of_scope(values: Any) -> None:
    assert rules.no_secret_in_helm_values(rules.HELM_RELEASE, _release(values)) == []


# 6. credential-ends-by-certificate-expiry


@pytest.mark.parametrize(
    "credential",
    [
        _credential(NOT_AFTER),
        _credential("2027-06-01T00:00:00Z"),
        _credential(NOT_AFTER, base64.b64encode(CERTIFICATE_DER).decode(), encoding="base64"),
        _credential(NOT_AFTER, CERTIFICATE_DER.hex(), encoding="hex"),
        _credential("2028-01-01T01:00:00+01:00"),
    ],
    ids=["at-not-after", "before", "base64", "hex", "offset"],
)
def test_credential_ending_by_expiry_passes(credential: Any) -> None:
    assert rules.credential_ends_by_certificate_expiry([credential]) == []


@pytest.mark.parametrize(
    "credential",
    [
        _credential("2028-01-01T00:00:01Z"),
        _credential("2029-01-01T00:00:00Z", CERTIFICATE_DER.hex(), encoding="hex"),
    ],
    ids=["one-second-late", "hex-a-year-late"],
)
def test_credential_ending_after_expiry_fails(credential: Any) -> None:
    [violation] = rules.credential_ends_by_certificate_expiry([credential])
    assert violation.urn == credential.urn
    assert "coder-azure-credential" in violation.message
    assert NOT_AFTER in violation.message
    assert "coder-azure-federation:certificateValidityDays" in violation.message


def test_credential_with_unreadable_end_date_or_value_fails() -> None:
    bad_date = _credential("next year")
    bad_value = _credential(NOT_AFTER, "not a certificate")
    assert [v.urn for v in rules.credential_ends_by_certificate_expiry([bad_date, bad_value])] == [
        bad_date.urn,
        bad_value.urn,
    ]


@pytest.mark.parametrize(
    "resource",
    [
        _credential(None),
        _credential(rules.UNKNOWN),
        _credential("2099-01-01T00:00:00Z", rules.UNKNOWN),
        _credential("2099-01-01T00:00:00Z", "c2VjcmV0", type="Symmetric"),
        rules.StackResource(
            type="azuread:index/applicationPassword:ApplicationPassword",
            props={"endDate": "2099-01-01T00:00:00Z", "value": CERTIFICATE_PEM},
        ),
    ],
    ids=["no-end-date", "end-unknown", "value-unknown", "symmetric", "other-type"],
)
def test_credential_out_of_scope(resource: Any) -> None:
    assert rules.credential_ends_by_certificate_expiry([resource]) == []


# The project's own graph under the mocks.


def _deploy(**overrides: Any) -> Deployment:
    config = stack_config("Pulumi.dev.yaml", {"subscriptionId": SUBSCRIPTION, **overrides})
    return deploy(run_main, config=config)


def _violations(deployment: Deployment, outputs: bool = False) -> dict[str, list[str]]:
    """Run every rule over a deployment's registrations, by policy name."""
    registrations = deployment.monitor.registrations
    found: dict[str, list[str]] = {}
    for name, (_, check) in rules.RESOURCE_RULES.items():
        found[name] = [
            message
            for registration in registrations
            for message in check(registration.type, registration.plain_inputs)
        ]
    stack = [
        rules.StackResource(
            type=registration.type,
            props=registration.plain_outputs if outputs else registration.plain_inputs,
            urn=registration.urn,
        )
        for registration in registrations
    ]
    found["credential-ends-by-certificate-expiry"] = [
        violation.message for violation in rules.credential_ends_by_certificate_expiry(stack)
    ]
    return found


@pytest.fixture(scope="module")
def default_deployment() -> Deployment:
    return _deploy()


def test_default_program_has_no_violations(default_deployment: Deployment) -> None:
    types = {registration.type for registration in default_deployment.monitor.registrations}
    # Every resource type a rule checks is in the graph, so each rule had something to check.
    assert types >= {
        rules.ROLE_ASSIGNMENT,
        rules.PRIVATE_KEY,
        rules.SELF_SIGNED_CERT,
        rules.HELM_RELEASE,
        rules.APPLICATION_CERTIFICATE,
    }
    for outputs in (False, True):
        violations = _violations(default_deployment, outputs=outputs)
        assert set(violations) == POLICY_NAMES
        assert violations == {name: [] for name in POLICY_NAMES}


def test_workload_identity_program_has_no_violations() -> None:
    deployment = _deploy(
        authMode="workloadIdentity", workloadIdentityIssuer="https://oidc.example.com/cluster"
    )
    assert _violations(deployment) == {name: [] for name in POLICY_NAMES}


@pytest.mark.parametrize(
    ("overrides", "policy"),
    [
        ({"role": "Owner", "allowPrivilegedRoles": True}, "no-privileged-provisioner-role"),
        ({"certificateKeySize": 2048}, "rsa-key-at-least-3072"),
        ({"certificateValidityDays": 3650}, "certificate-validity-at-most-730-days"),
    ],
    ids=["owner", "rsa-2048", "ten-years"],
)
def test_program_configured_past_a_rule_is_caught(overrides: dict[str, Any], policy: str) -> None:
    violations = _violations(_deploy(**overrides))
    assert len(violations.pop(policy)) == 1
    assert violations == {name: [] for name in POLICY_NAMES - {policy}}


# The pack itself.


class _RecordedPack:
    """Recorder in place of pulumi_policy.PolicyPack, whose constructor would serve gRPC forever."""

    calls: list[dict[str, Any]] = []

    def __init__(self, **kwargs: Any) -> None:
        type(self).calls.append(kwargs)


@pytest.fixture
def recorded_pack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Run policy/__main__.py as the analyzer host does, with PolicyPack recorded."""
    monkeypatch.setattr(pulumi_policy, "PolicyPack", _RecordedPack)
    monkeypatch.setattr(_RecordedPack, "calls", [])
    monkeypatch.delitem(sys.modules, "rules", raising=False)
    try:
        runpy.run_path(str(POLICY_DIR), run_name="__main__")
    finally:
        sys.modules.pop("rules", None)
    [call] = _RecordedPack.calls
    yield call


def test_pack_registers_the_six_mandatory_policies(recorded_pack: dict[str, Any]) -> None:
    policies = recorded_pack["policies"]
    assert recorded_pack["enforcement_level"] is pulumi_policy.EnforcementLevel.MANDATORY
    assert {policy.name for policy in policies} == POLICY_NAMES
    assert len(policies) == len(POLICY_NAMES)
    for policy in policies:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", policy.name), policy.name
        assert policy.enforcement_level is pulumi_policy.EnforcementLevel.MANDATORY
        assert policy.description.endswith("."), policy.name
        assert ". " not in policy.description, policy.name
        expected = (
            pulumi_policy.StackValidationPolicy
            if policy.name == "credential-ends-by-certificate-expiry"
            else pulumi_policy.ResourceValidationPolicy
        )
        assert isinstance(policy, expected), policy.name


def _validate(policy: Any, resource_type: str, props: dict[str, Any]) -> list[str]:
    """Call a registered resource policy the way the SDK's Analyze call does."""
    reported: list[str] = []
    options = pulumi_policy.PolicyResourceOptions(
        False, [], None, [], pulumi_policy.PolicyCustomTimeouts(0, 0, 0), [], None
    )
    args = pulumi_policy.ResourceValidationArgs(
        resource_type, unknown_checking_proxy(props), "urn:test", "test", options, None
    )
    policy.validate(args, lambda message, urn=None: reported.append(message))
    return reported


def test_registered_policies_read_engine_properties(recorded_pack: dict[str, Any]) -> None:
    by_name = {policy.name: policy for policy in recorded_pack["policies"]}
    owner = {**_assignment(OWNER), "principalId": UNKNOWN_STRING_VALUE}
    # An unknown principal ID does not stop the check of the known role.
    assert (
        len(_validate(by_name["no-privileged-provisioner-role"], rules.ROLE_ASSIGNMENT, owner)) == 1
    )
    unknown_role = {**_assignment(CONTRIBUTOR), "roleDefinitionId": UNKNOWN_STRING_VALUE}
    assert (
        _validate(by_name["no-privileged-provisioner-role"], rules.ROLE_ASSIGNMENT, unknown_role)
        == []
    )
    values = _env({"name": "ARM_CLIENT_SECRET", "value": UNKNOWN_STRING_VALUE})
    assert (
        len(_validate(by_name["no-secret-in-helm-values"], rules.HELM_RELEASE, _release(values)))
        == 1
    )
    # A policy ignores types other than its own, whatever their properties.
    assert _validate(by_name["rsa-key-at-least-3072"], rules.ROLE_ASSIGNMENT, owner) == []


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(props)
    return message


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """Start the pack as `pulumi-analyzer-policy-python` does, and connect to it on loopback."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(POLICY_DIR)],
        cwd=POLICY_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=60):
            pytest.fail("the policy pack did not print its port within 60 seconds")
        port = process.stdout.readline().decode().strip()
        if not port.isdigit():
            process.kill()
            _, stderr = process.communicate(timeout=10)
            pytest.fail(f"the policy pack did not start: {port!r} {stderr.decode()}")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=10)


def test_analyzer_describes_the_pack(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "coder-azure-federation"
    mandatory = analyzer_pb2.EnforcementLevel.Value("MANDATORY")
    assert {policy.name: policy.enforcementLevel for policy in info.policies} == {
        name: mandatory for name in POLICY_NAMES
    }


def test_analyzer_reports_a_violation_during_preview(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    owner = {**_assignment(OWNER), "principalId": UNKNOWN_STRING_VALUE}
    response = analyzer.Analyze(
        analyzer_pb2.AnalyzeRequest(
            type=rules.ROLE_ASSIGNMENT, properties=_struct(owner), urn="urn:role", name="role"
        ),
        timeout=30,
    )
    assert [d.policyName for d in response.diagnostics] == ["no-privileged-provisioner-role"]
    assert response.diagnostics[0].enforcementLevel == analyzer_pb2.EnforcementLevel.Value(
        "MANDATORY"
    )


def test_analyzer_checks_the_stack(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    late = _credential("2028-06-01T00:00:00Z")
    pending = _credential("2099-01-01T00:00:00Z", UNKNOWN_STRING_VALUE)
    resources = [
        analyzer_pb2.AnalyzerResource(
            type=resource.type, properties=_struct(resource.props), urn=f"{resource.urn}-{index}"
        )
        for index, resource in enumerate((late, pending))
    ]
    response = analyzer.AnalyzeStack(
        analyzer_pb2.AnalyzeStackRequest(resources=resources), timeout=30
    )
    assert [(d.policyName, d.urn) for d in response.diagnostics] == [
        ("credential-ends-by-certificate-expiry", f"{late.urn}-0")
    ]
