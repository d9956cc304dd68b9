"""Tests of the component's resource graph: parents, names, providers and resource settings."""

from __future__ import annotations

import datetime
import hashlib
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_azure_native
import pulumi_azuread
import pulumi_kubernetes
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components import CoderAzureFederation, roles
from tests.mocks import (
    APPLICATION,
    BUNDLE,
    CERTIFICATE_GRAPH_TYPES,
    COMPONENT,
    COMPONENT_OUTPUTS,
    CREDENTIAL,
    MOUNT_REFRESH_WAIT,
    NAMESPACE,
    PROJECT,
    RANDOM_PASSWORD,
    RELEASE,
    ROLE_ASSIGNMENT,
    SECRET,
    SECRET_PATCH,
    SERVICE_PRINCIPAL,
    TLS_CERT,
    TLS_KEY,
    Deployment,
    Registration,
    deploy,
    unwrap,
)

DeployFederation = Callable[..., Deployment]

STACK_URN = f"urn:pulumi:dev::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-dev"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"

# Resource name suffix of each child and its resource type.
CHILD_TYPES = {
    "key": TLS_KEY,
    "cert": TLS_CERT,
    "bundle-password": RANDOM_PASSWORD,
    "bundle": BUNDLE,
    "app": APPLICATION,
    "sp": SERVICE_PRINCIPAL,
    "credential": CREDENTIAL,
    "namespace": NAMESPACE,
    "bundle-secret": SECRET,
    "bundle-secret-content": SECRET_PATCH,
    "client-id-secret": SECRET,
    "tenant-id-secret": SECRET,
    "subscription-id-secret": SECRET,
    "password-secret": SECRET,
    "password-secret-content": SECRET_PATCH,
    "mount-refresh": MOUNT_REFRESH_WAIT,
    "release": RELEASE,
}
# Role assignments are named `<component>-role-<8 hex digits>`, from their role and scope.
ROLE_ASSIGNMENT_NAME = re.compile(r"^coder-east-role-[0-9a-f]{8}$")

TYPES_WITHOUT_NAMESPACE = Counter(CERTIFICATE_GRAPH_TYPES)

CERTIFICATE_SUBJECT = "/CN=myclientcertificate/O=MyCompany, Inc./ST=CA/C=US"

# Built-in role definition GUIDs, the same in every Azure tenant.
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"

# Scopes in another subscription than the one the component gets, so that a role definition ID
# built from the wrong subscription fails the test.
SCOPE_SUBSCRIPTION = "9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
RESOURCE_GROUP_SCOPE = f"/subscriptions/{SCOPE_SUBSCRIPTION}/resourceGroups/rg-coder"
RESOURCE_SCOPE = (
    f"{RESOURCE_GROUP_SCOPE}/providers/Microsoft.ContainerService/managedClusters/aks-coder"
)


def assert_accepted(deployment: Deployment) -> None:
    """Fail when a mocked service rejected a request that the real service would reject too."""
    assert deployment.mocks.rejections == [], (
        f"the mocked services rejected requests: {deployment.mocks.rejections}"
    )


def children(deployment: Deployment) -> list[Registration]:
    """Return every registration except the component itself and provider resources."""
    return [
        item
        for item in deployment.registrations
        if item.type != COMPONENT and not item.type.startswith(PROVIDER_TYPE_PREFIX)
    ]


def certificate_of(deployment: Deployment) -> x509.Certificate:
    """Parse the PEM certificate that the mocked SelfSignedCert returned."""
    pem = deployment.one(TLS_CERT).plain_outputs["certPem"]
    return x509.load_pem_x509_certificate(pem.encode())


def key_size_of(deployment: Deployment) -> int:
    """Return the size in bits of the RSA key that the mocked PrivateKey returned."""
    pem = deployment.one(TLS_KEY).plain_outputs["privateKeyPem"]
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey), "PrivateKey returned a key that is not RSA"
    return key.key_size


@pytest.fixture(scope="module")
def explicit_provider_deployment(subscription_id: str) -> Deployment:
    """The component named `coder-east`, given explicit providers through `opts`."""

    def program() -> CoderAzureFederation:
        aad = pulumi_azuread.Provider("aad")
        arm = pulumi_azure_native.Provider("arm")
        k8s = pulumi_kubernetes.Provider("k8s")
        return CoderAzureFederation(
            "coder-east",
            {
                "subscription_id": subscription_id,
                "chart_version": "2.34.0",
                "create_namespace": True,
            },
            opts=pulumi.ResourceOptions(providers=[aad, arm, k8s]),
        )

    return deploy(program)


@pytest.fixture(scope="module")
def customized_deployment(deploy_federation: DeployFederation) -> Deployment:
    """The component with a custom certificate subject and key size, and a custom release."""
    return deploy_federation(
        certificate_subject=CERTIFICATE_SUBJECT,
        certificate_key_size=2048,
        namespace="coder-system",
        release_name="coder-prod",
        chart_version="2.35.1",
    )


def test_children_parented_to_component(explicit_provider_deployment: Deployment) -> None:
    component = explicit_provider_deployment.one(COMPONENT)

    assert component.parent == STACK_URN, (
        f"CoderAzureFederation {component.name} is parented to {component.parent!r}, "
        "not to the stack"
    )
    for child in children(explicit_provider_deployment):
        assert child.parent == component.urn, (
            f"{child.name} is parented to {child.parent!r}, not to the component"
        )
    assert_accepted(explicit_provider_deployment)


def test_child_names_follow_component_name(explicit_provider_deployment: Deployment) -> None:
    found = {child.name: child.type for child in children(explicit_provider_deployment)}
    expected = {f"coder-east-{suffix}": typ for suffix, typ in CHILD_TYPES.items()}
    assignments = [name for name, typ in found.items() if typ == ROLE_ASSIGNMENT]
    assert len(assignments) == 1, f"expected one role assignment, found {assignments}"
    assert ROLE_ASSIGNMENT_NAME.match(assignments[0]), (
        f"role assignment {assignments[0]} is not named coder-east-role-<hash>"
    )
    del found[assignments[0]]

    for name in found:
        assert name.startswith("coder-east-"), (
            f"child {name} does not start with the component name coder-east"
        )
    assert found == expected, f"the children are {found}, expected {expected}"
    assert_accepted(explicit_provider_deployment)


def test_providers_reach_children(explicit_provider_deployment: Deployment) -> None:
    providers = {
        "azuread:": explicit_provider_deployment.named("aad"),
        "azure-native:": explicit_provider_deployment.named("arm"),
        "kubernetes:": explicit_provider_deployment.named("k8s"),
    }
    counts: Counter[str] = Counter()

    for child in children(explicit_provider_deployment):
        for prefix, provider in providers.items():
            if child.type.startswith(prefix):
                counts[prefix] += 1
                assert child.provider == f"{provider.urn}::{provider.id}", (
                    f"{child.name} uses provider {child.provider!r}, not {provider.name}"
                )
    assert counts == {"azuread:": 3, "azure-native:": 1, "kubernetes:": 9}, (
        f"children per provider package are {dict(counts)}"
    )
    aad = providers["azuread:"]
    invokes = zip(
        explicit_provider_deployment.monitor.invokes,
        explicit_provider_deployment.monitor.invoke_providers,
        strict=True,
    )
    checked = 0
    for (token, _), provider_reference in invokes:
        if token.startswith("azuread:"):
            checked += 1
            assert provider_reference == f"{aad.urn}::{aad.id}", (
                f"invoke {token} uses provider {provider_reference!r}, not aad"
            )
    assert checked == 1, f"expected one azuread invoke for the owners, found {checked}"
    assert_accepted(explicit_provider_deployment)


def test_namespace_only_when_requested(
    deployment: Deployment, namespaced_deployment: Deployment
) -> None:
    assert deployment.of_type(NAMESPACE) == [], (
        "a Namespace was registered although create_namespace is false"
    )
    namespace = namespaced_deployment.one(NAMESPACE)
    assert namespace.plain_inputs["metadata"]["name"] == "coder", (
        "Namespace fed-namespace is not named after the namespace setting"
    )
    assert_accepted(deployment)
    assert_accepted(namespaced_deployment)


def test_full_graph_resource_types(
    deployment: Deployment, namespaced_deployment: Deployment
) -> None:
    with_namespace = TYPES_WITHOUT_NAMESPACE + Counter({NAMESPACE: 1})

    assert Counter(item.type for item in deployment.registrations) == TYPES_WITHOUT_NAMESPACE, (
        "the default deployment registered other resource types"
    )
    assert len(deployment.registrations) == 18, (
        f"the default deployment registered {len(deployment.registrations)} resources, not 18"
    )
    assert Counter(item.type for item in namespaced_deployment.registrations) == with_namespace, (
        "the create_namespace deployment registered other resource types"
    )
    assert len(namespaced_deployment.registrations) == 19, (
        f"the create_namespace deployment registered {len(namespaced_deployment.registrations)} "
        "resources, not 19"
    )


def test_key_defaults_to_rsa_4096(deployment: Deployment) -> None:
    inputs = deployment.one(TLS_KEY).plain_inputs

    assert inputs["algorithm"] == "RSA", f"PrivateKey fed-key algorithm is {inputs['algorithm']!r}"
    assert inputs["rsaBits"] == 4096, f"PrivateKey fed-key rsaBits is {inputs['rsaBits']}"
    assert key_size_of(deployment) == 4096, "PrivateKey fed-key returned a key of another size"
    public_key = certificate_of(deployment).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey), "the certificate's key is not RSA"
    assert public_key.key_size == 4096, "the certificate's key is not 4096 bits"
    assert_accepted(deployment)


def test_certificate_defaults(deployment: Deployment) -> None:
    inputs = deployment.one(TLS_CERT).plain_inputs
    certificate = certificate_of(deployment)

    assert inputs["validityPeriodHours"] == 17520, (
        f"SelfSignedCert fed-cert validityPeriodHours is {inputs['validityPeriodHours']}"
    )
    assert sorted(inputs["allowedUses"]) == [
        "client_auth",
        "digital_signature",
        "key_encipherment",
    ], f"SelfSignedCert fed-cert allowedUses are {inputs['allowedUses']}"
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == (
        datetime.timedelta(hours=17520)
    ), "the certificate is not valid for 730 days"

    key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    extended = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert key_usage.digital_signature, "the certificate does not allow digital signatures"
    assert key_usage.key_encipherment, "the certificate does not allow key encipherment"
    assert list(extended) == [ExtendedKeyUsageOID.CLIENT_AUTH], (
        f"the certificate's extended key usages are {list(extended)}, not client auth alone"
    )
    assert_accepted(deployment)


def test_subject_reaches_certificate(customized_deployment: Deployment) -> None:
    subject = customized_deployment.one(TLS_CERT).plain_inputs["subject"]
    name = certificate_of(customized_deployment).subject
    expected = {
        NameOID.COMMON_NAME: "myclientcertificate",
        NameOID.ORGANIZATION_NAME: "MyCompany, Inc.",
        NameOID.STATE_OR_PROVINCE_NAME: "CA",
        NameOID.COUNTRY_NAME: "US",
    }

    assert subject == {
        "commonName": "myclientcertificate",
        "organization": "MyCompany, Inc.",
        "province": "CA",
        "country": "US",
    }, f"SelfSignedCert fed-cert subject input is {subject}"
    for oid, value in expected.items():
        found = [attribute.value for attribute in name.get_attributes_for_oid(oid)]
        assert found == [value], (
            f"the certificate subject has {found} for OID {oid.dotted_string}, not {value!r}"
        )
    assert len(name) == len(expected), (
        f"the certificate subject {name.rfc4514_string()} has attributes beyond the configured ones"
    )
    assert_accepted(customized_deployment)


def test_key_size_2048_applied(customized_deployment: Deployment) -> None:
    inputs = customized_deployment.one(TLS_KEY).plain_inputs

    assert inputs["rsaBits"] == 2048, f"PrivateKey fed-key rsaBits is {inputs['rsaBits']}"
    assert key_size_of(customized_deployment) == 2048, "PrivateKey fed-key is not 2048 bits"
    public_key = certificate_of(customized_deployment).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey), "the certificate's key is not RSA"
    assert public_key.key_size == 2048, "the certificate's key is not 2048 bits"
    assert_accepted(customized_deployment)


def test_application_single_tenant(deployment: Deployment) -> None:
    inputs = deployment.one(APPLICATION).plain_inputs

    assert inputs["signInAudience"] == "AzureADMyOrg", (
        f"Application fed-app signInAudience is {inputs['signInAudience']!r}"
    )
    assert_accepted(deployment)


@pytest.mark.parametrize(
    ("fixture", "version", "namespace", "name"),
    [
        pytest.param("deployment", "2.34.0", "coder", "coder", id="defaults"),
        pytest.param("customized_deployment", "2.35.1", "coder-system", "coder-prod", id="custom"),
    ],
)
def test_release_installs_coder_chart(
    request: pytest.FixtureRequest, fixture: str, version: str, namespace: str, name: str
) -> None:
    deployment: Deployment = request.getfixturevalue(fixture)
    inputs = deployment.one(RELEASE).plain_inputs

    assert inputs["chart"] == "coder", f"Release fed-release chart is {inputs['chart']!r}"
    assert inputs["repositoryOpts"] == {"repo": "https://helm.coder.com/v2"}, (
        f"Release fed-release repositoryOpts are {inputs['repositoryOpts']}"
    )
    assert inputs["version"] == version, f"Release fed-release version is {inputs['version']!r}"
    assert inputs["namespace"] == namespace, (
        f"Release fed-release namespace is {inputs['namespace']!r}"
    )
    assert inputs["name"] == name, f"Release fed-release name is {inputs['name']!r}"
    assert_accepted(deployment)


@pytest.mark.parametrize(
    ("role", "role_scope", "role_guid"),
    [
        pytest.param("Reader", None, READER, id="reader"),
        pytest.param("Owner", None, OWNER, id="owner"),
        pytest.param("User Access Administrator", None, USER_ACCESS_ADMINISTRATOR, id="uaa"),
        pytest.param("contributor", None, CONTRIBUTOR, id="lower-case-name"),
        pytest.param(STORAGE_BLOB_DATA_READER, None, STORAGE_BLOB_DATA_READER, id="guid"),
        pytest.param(
            STORAGE_BLOB_DATA_READER.upper(), None, STORAGE_BLOB_DATA_READER, id="upper-case-guid"
        ),
        pytest.param(
            f"/providers/Microsoft.Authorization/roleDefinitions/{READER}",
            None,
            READER,
            id="definition-id",
        ),
        # The component replaces the subscription in a given role definition ID with the scope's,
        # because ARM returns role definition IDs in that subscription-scoped form.
        pytest.param(
            f"/subscriptions/{SCOPE_SUBSCRIPTION}/providers/Microsoft.Authorization"
            f"/roleDefinitions/{OWNER}",
            None,
            OWNER,
            id="subscription-definition-id",
        ),
        pytest.param("Contributor", RESOURCE_GROUP_SCOPE, CONTRIBUTOR, id="resource-group-scope"),
        pytest.param("Reader", RESOURCE_SCOPE, READER, id="resource-scope"),
    ],
)
def test_role_and_scope_resolved(
    deploy_federation: DeployFederation,
    subscription_id: str,
    role: str,
    role_scope: str | None,
    role_guid: str,
) -> None:
    # Owner and User Access Administrator need an explicit allowance; the refusal is tested in
    # test_rbac.py.
    overrides: dict[str, Any] = {"role": role, "allow_privileged_roles": True}
    if role_scope is not None:
        overrides["role_scope"] = role_scope
    deployment = deploy_federation(**overrides)
    inputs = deployment.one(ROLE_ASSIGNMENT).plain_inputs
    principal_id = deployment.one(SERVICE_PRINCIPAL).plain_outputs["objectId"]
    scope = role_scope or f"/subscriptions/{subscription_id}"
    definition_subscription = SCOPE_SUBSCRIPTION if role_scope else subscription_id

    assert inputs["roleDefinitionId"] == (
        f"/subscriptions/{definition_subscription}/providers/Microsoft.Authorization"
        f"/roleDefinitions/{role_guid}"
    ), f"RoleAssignment fed-role roleDefinitionId is {inputs['roleDefinitionId']!r}"
    assert inputs["scope"] == scope, f"RoleAssignment fed-role scope is {inputs['scope']!r}"
    assert inputs["roleAssignmentName"] == roles.assignment_name(scope, principal_id, role_guid), (
        "RoleAssignment fed-role roleAssignmentName does not match its scope, principal and role"
    )
    assert_accepted(deployment)


def test_component_outputs_match_resources(deployment: Deployment, subscription_id: str) -> None:
    component = deployment.one(COMPONENT)
    outputs = unwrap(deployment.monitor.component_outputs[component.urn])
    application = deployment.one(APPLICATION).plain_outputs
    service_principal = deployment.one(SERVICE_PRINCIPAL).plain_outputs
    release = deployment.one(RELEASE)
    certificate = certificate_of(deployment)
    der = certificate.public_bytes(serialization.Encoding.DER)
    secret_names = {
        purpose: deployment.named(f"fed-{purpose.replace('_', '-')}-secret").plain_outputs[
            "metadata"
        ]["name"]
        for purpose in ("bundle", "client_id", "tenant_id", "subscription_id", "password")
    }

    assert set(outputs) == COMPONENT_OUTPUTS, f"the component registered outputs {sorted(outputs)}"
    assert outputs["client_id"] == application["clientId"], "client_id is not the client ID"
    assert outputs["tenant_id"] == service_principal["applicationTenantId"], (
        "tenant_id is not the service principal's applicationTenantId"
    )
    assert outputs["subscription_id"] == subscription_id, (
        "subscription_id is not the configured subscription ID"
    )
    assert outputs["application_object_id"] == application["objectId"], (
        "application_object_id is not the application's objectId"
    )
    assert outputs["service_principal_object_id"] == service_principal["objectId"], (
        "service_principal_object_id is not the service principal's objectId"
    )
    assert outputs["certificate_thumbprint"] == hashlib.sha1(der).hexdigest().upper(), (
        "certificate_thumbprint is not the upper-case SHA-1 of the certificate's DER"
    )
    assert outputs["certificate_expiry"] == certificate.not_valid_after_utc.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    ), "certificate_expiry is not the certificate's NotAfter in whole seconds"
    assert outputs["secret_names"] == secret_names, (
        f"secret_names are {outputs['secret_names']}, expected {secret_names}"
    )
    assert outputs["release_name"] == release.plain_outputs["name"], (
        "release_name is not the name of Release fed-release"
    )
    assert outputs["namespace"] == release.plain_inputs["namespace"], (
        "namespace is not the namespace of Release fed-release"
    )
    assert outputs["release_status"] == release.plain_outputs["status"]["status"], (
        "release_status is not the Helm status of Release fed-release"
    )
    assert_accepted(deployment)
