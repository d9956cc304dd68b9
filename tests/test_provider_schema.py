"""The component package in provider/, as `pulumi package add` and the engine see it.

The schema comes from the provider's own GetSchema method, the one the engine calls over gRPC,
here called directly in this process: no CLI, no engine, no network. Pulumi's SDK infers it from
the type annotations and docstrings of `CoderAzureFederationArgs` and `CoderAzureFederation`,
so these tests fail when a new argument or output has no annotation the SDK can map, no
docstring, or a type the schema would misstate.

Construct, the call that declares the component for a program in another language, runs under
the offline runtime of tests/mocks.py with inputs as they arrive from the engine: camelCase
names, and every number a float.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pulumi
import pulumi.provider
import pytest
from pulumi.provider.experimental.util import camel_case
from pulumi.provider.server import ComponentInitError, ProviderServicer
from pulumi.runtime.proto import provider_pb2

from components import CoderAzureFederation, CoderAzureFederationArgs, ConfigError
from tests.mocks import (
    COMPONENT,
    COMPONENT_OUTPUTS,
    RANDOM_PASSWORD,
    TLS_KEY,
    Deployment,
    deploy,
    resolve_output,
    unwrap,
)

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_MAIN = ROOT / "provider" / "__main__.py"
TOKEN = "coder-azure-federation:index:CoderAzureFederation"
SUBSCRIPTION_ID = "3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8"

# The schema type each argument must have, by its Python name.
STRINGS = {
    "subscription_id",
    "application_display_name",
    "certificate_subject",
    "bundle_profile",
    "role",
    "role_scope",
    "namespace",
    "bundle_secret_name",
    "bundle_secret_key",
    "client_id_secret_name",
    "client_id_secret_key",
    "tenant_id_secret_name",
    "tenant_id_secret_key",
    "subscription_id_secret_name",
    "subscription_id_secret_key",
    "password_secret_name",
    "password_secret_key",
    "certificate_mount_path",
    "release_name",
    "chart_version",
    "chart_repository",
    "chart",
    "auth_mode",
    "workload_identity_issuer",
    "workload_identity_flavor",
    "token_mount_path",
    "adopt_application_object_id",
    "adopt_service_principal_object_id",
}
INTEGERS = {
    "certificate_key_size",
    "certificate_validity_days",
    "renewal_window_days",
    "certificate_rotation",
    "password_rotation",
    "mount_refresh_seconds",
}
BOOLEANS = {
    "create_namespace",
    "allow_privileged_roles",
    "protect",
    "adopt_secrets",
    "adopt_release",
}
STRING_LISTS = {"owners", "role_assignments", "adopt_role_assignment_ids"}
OBJECT_LISTS = {"custom_roles"}
OBJECTS = {"coder_values"}

OUTPUTS = COMPONENT_OUTPUTS
# Words that would mark private material in an output's name.
PRIVATE_WORDS = ("key", "password", "pfx", "bundle", "private", "pem", "secret_value")


def load_provider_module() -> ModuleType:
    """Import provider/__main__.py as a plain module, the way the schema analyser would."""
    spec = importlib.util.spec_from_file_location("coder_federation_provider", PROVIDER_MAIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def provider_module() -> ModuleType:
    return load_provider_module()


@pytest.fixture(scope="module")
def schema(provider_module: ModuleType) -> dict[str, Any]:
    """The package schema, as the provider returns it to the engine's GetSchema call."""
    servicer = ProviderServicer(provider_module.provider(), [], "127.0.0.1:0")
    # A loop of its own: asyncio.run would leave the thread without the current loop that
    # Pulumi's offline runtime uses in the tests after this one.
    loop = asyncio.new_event_loop()
    try:
        response = loop.run_until_complete(
            servicer.GetSchema(provider_pb2.GetSchemaRequest(version=0), None)
        )
    finally:
        loop.close()
    return cast(dict[str, Any], json.loads(response.schema))


@pytest.fixture(scope="module")
def resource(schema: dict[str, Any]) -> dict[str, Any]:
    return schema["resources"][TOKEN]


def attribute_docstrings(class_name: str) -> dict[str, str]:
    """Read the docstring under each annotated attribute of a class in federation.py."""
    tree = ast.parse((ROOT / "components" / "federation.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            found: dict[str, str] = {}
            body = node.body
            for statement, following in zip(body, body[1:], strict=False):
                if (
                    isinstance(statement, ast.AnnAssign)
                    and isinstance(statement.target, ast.Name)
                    and isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)
                ):
                    found[statement.target.id] = following.value.value
            return found
    raise AssertionError(f"no class {class_name} in federation.py")


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Yield every mapping inside a JSON value."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


# Importing and running provider/__main__.py


def test_importing_the_provider_starts_no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(pulumi.provider, "main", lambda *args: calls.append(args))
    module = load_provider_module()
    assert calls == [], "importing provider/__main__.py started the provider"
    assert module.CoderAzureFederation is CoderAzureFederation, (
        "the provider should serve the component of this checkout"
    )


def test_running_the_provider_serves_it() -> None:
    """Run as a program, the file starts the provider, which wants the engine's address."""
    environment = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(PROVIDER_MAIN)],
        capture_output=True,
        text=True,
        cwd=ROOT / "provider",
        env=environment,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "the following arguments are required: engine" in result.stderr, result.stderr[-2000:]


def test_plugin_manifest_declares_python() -> None:
    import yaml

    manifest = yaml.safe_load((ROOT / "provider" / "PulumiPlugin.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    requirements = (ROOT / "provider" / "requirements.txt").read_text().split()
    assert "../requirements.txt" in requirements


# The package


def test_package_identity(schema: dict[str, Any], provider_module: ModuleType) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert schema["name"] == "coder-azure-federation"
    assert schema["version"] == project["version"] == provider_module.VERSION
    # The Pulumi package metaschema's rule for a namespace: lower-case words joined by dashes.
    assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", schema["namespace"])
    assert list(schema["resources"]) == [TOKEN]
    assert schema["types"] == {}


def test_token_is_the_one_the_component_registers(resource: dict[str, Any]) -> None:
    """The schema token and the type the component registers with must be the same."""
    assert COMPONENT == TOKEN
    assert resource["isComponent"] is True
    assert CoderAzureFederation.__doc__
    assert resource["description"] == CoderAzureFederation.__doc__.strip()


# Inputs


def test_every_argument_is_an_input(resource: dict[str, Any]) -> None:
    arguments = set(CoderAzureFederationArgs.__annotations__)
    assert arguments == STRINGS | INTEGERS | BOOLEANS | STRING_LISTS | OBJECT_LISTS | OBJECTS
    assert set(resource["inputProperties"]) == {camel_case(name) for name in arguments}


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (STRINGS, {"type": "string"}),
        (INTEGERS, {"type": "integer"}),
        (BOOLEANS, {"type": "boolean"}),
        (STRING_LISTS, {"type": "array", "items": {"type": "string"}}),
        (OBJECT_LISTS, {"type": "array", "items": {"type": "object"}}),
        (OBJECTS, {"type": "object"}),
    ],
    ids=["string", "integer", "boolean", "string-array", "object-array", "object"],
)
def test_input_types(resource: dict[str, Any], names: set[str], expected: dict[str, Any]) -> None:
    for name in sorted(names):
        spec = resource["inputProperties"][camel_case(name)]
        assert spec["type"] == expected["type"], name
        if "items" in expected:
            assert spec["items"]["type"] == expected["items"]["type"], name


def test_free_form_values_take_any_value(resource: dict[str, Any]) -> None:
    """Chart values and custom roles are maps whose values may be anything."""
    values = resource["inputProperties"]["coderValues"]["additionalProperties"]
    assert values["$ref"] == "pulumi.json#/Any"
    role = resource["inputProperties"]["customRoles"]["items"]
    assert role["additionalProperties"]["$ref"] == "pulumi.json#/Any"


def test_only_subscription_and_chart_version_are_required(resource: dict[str, Any]) -> None:
    """`Required[...]` in the total=False TypedDict becomes `requiredInputs` in the schema."""
    assert resource["requiredInputs"] == ["chartVersion", "subscriptionId"]
    assert CoderAzureFederationArgs.__required_keys__ == {"subscription_id", "chart_version"}


def test_input_descriptions_are_the_docstrings(resource: dict[str, Any]) -> None:
    docstrings = attribute_docstrings("CoderAzureFederationArgs")
    assert set(docstrings) == set(CoderAzureFederationArgs.__annotations__)
    for name, text in docstrings.items():
        assert resource["inputProperties"][camel_case(name)]["description"] == text, name


# Outputs


def test_outputs(resource: dict[str, Any]) -> None:
    assert set(resource["properties"]) == {camel_case(name) for name in OUTPUTS}
    assert sorted(resource["required"]) == sorted(camel_case(name) for name in OUTPUTS)
    for name in OUTPUTS - {"secret_names"}:
        assert resource["properties"][camel_case(name)]["type"] == "string", name
    names = resource["properties"]["secretNames"]
    assert names["type"] == "object"
    assert names["additionalProperties"]["type"] == "string"


def test_output_descriptions_are_the_docstrings(resource: dict[str, Any]) -> None:
    docstrings = attribute_docstrings("CoderAzureFederation")
    assert set(docstrings) == OUTPUTS
    for name, text in docstrings.items():
        assert resource["properties"][camel_case(name)]["description"] == text, name


def test_schema_marks_nothing_secret(schema: dict[str, Any]) -> None:
    """The SDK's inference cannot mark a property secret, and none needs it: see below."""
    assert not [node for node in walk(schema) if "secret" in node]


def test_no_output_names_private_material(resource: dict[str, Any]) -> None:
    for name in resource["properties"]:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        assert not any(word in snake for word in PRIVATE_WORDS), name


# Construct, as the engine calls it for a program in another language


@pytest.fixture(scope="module")
def constructed(provider_module: ModuleType) -> Deployment:
    """Construct the component through the provider with inputs as the engine sends them."""
    provider = provider_module.provider()
    inputs = {
        "subscriptionId": SUBSCRIPTION_ID,
        "chartVersion": "2.34.0",
        "certificateKeySize": 2048.0,
        "certificateValidityDays": 365.0,
        "createNamespace": True,
    }
    return deploy(lambda: provider.construct("coder-azure", TOKEN, inputs, None))


def test_construct_declares_the_component(constructed: Deployment) -> None:
    component = constructed.one(COMPONENT)
    assert component.name == "coder-azure"
    key = constructed.one(TLS_KEY)
    assert key.plain_inputs["rsaBits"] == 2048, "the whole-number float did not become 2048"
    assert not constructed.mocks.rejections, constructed.mocks.rejections


def test_construct_returns_every_output_in_the_clear(constructed: Deployment) -> None:
    """The state handed back to the engine has the 11 outputs, none secret, none private."""
    state = constructed.result.state
    assert set(state) == {camel_case(name) for name in OUTPUTS}
    resolved = {name: resolve_output(value) for name, value in state.items()}
    assert [name for name, (_, secret) in resolved.items() if secret] == []
    assert resolved["secretNames"][0]["bundle"] == "azure-client-cert-secret"
    assert resolved["subscriptionId"][0] == SUBSCRIPTION_ID

    password = unwrap(constructed.one(RANDOM_PASSWORD).outputs)["result"]
    private_key = unwrap(constructed.one(TLS_KEY).outputs)["privateKeyPem"]
    text = json.dumps({name: value for name, (value, _) in resolved.items()})
    assert password not in text
    assert "PRIVATE KEY" not in text
    assert private_key not in text


def test_construct_outputs_are_what_the_component_registers(constructed: Deployment) -> None:
    component = constructed.one(COMPONENT)
    registered = constructed.monitor.component_outputs[component.urn]
    assert set(registered) == OUTPUTS


def test_construct_rejects_a_fractional_integer(provider_module: ModuleType) -> None:
    """Only whole numbers become integers; the component's own check rejects the rest."""
    provider = provider_module.provider()
    inputs = {
        "subscriptionId": SUBSCRIPTION_ID,
        "chartVersion": "2.34.0",
        "certificateKeySize": 2048.5,
    }
    with pytest.raises(ComponentInitError, match="certificate_key_size is 2048.5") as raised:
        deploy(lambda: provider.construct("coder-azure", TOKEN, inputs, None))
    assert isinstance(raised.value.inner, ConfigError)
