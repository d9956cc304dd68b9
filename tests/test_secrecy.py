"""Tests that private material stays secret in every registration, output, export and log line.

The private key, the bundle password and the bundle bytes are looked for in every string the
program hands to the engine outside a secret wrapper: resource inputs, resource outputs as the
program receives them, the component's registered outputs, the stack exports, engine log records,
and whatever the run printed. The recording monitor applies the engine's secrecy rules, so an
output is secret here exactly when it would be secret in real state.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from tests.mocks import (
    BUNDLE,
    RANDOM_PASSWORD,
    SECRET,
    TLS_CERT,
    TLS_KEY,
    Deployment,
    deploy,
    is_secret_wrapped,
    run_main,
    stack_config,
)

SUBSCRIPTION_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


@pytest.fixture(scope="module")
def run_output() -> tuple[Deployment, str]:
    """Run the dev stack once, capturing what the run printed."""
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        deployment = deploy(
            run_main, config=stack_config("Pulumi.dev.yaml", {"subscriptionId": SUBSCRIPTION_ID})
        )
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    return deployment, printed.getvalue()


@pytest.fixture(scope="module")
def deployment(run_output: tuple[Deployment, str]) -> Deployment:
    return run_output[0]


@pytest.fixture(scope="module")
def material(deployment: Deployment) -> dict[str, str]:
    """Collect fragments of every secret the run produced, each long enough to be unique."""
    key = deployment.one(TLS_KEY).plain_outputs
    password = deployment.one(RANDOM_PASSWORD).plain_outputs["result"]
    bundle_base64 = deployment.one(BUNDLE).plain_outputs["pfx_base64"]
    bundle = base64.b64decode(bundle_base64)

    # A line from the middle of each PEM body, so that a re-wrapped copy is still found.
    pkcs1_line = key["privateKeyPem"].splitlines()[5]
    pkcs8_line = key["privateKeyPemPkcs8"].splitlines()[5]
    return {
        "private key (PKCS#1)": pkcs1_line,
        "private key (PKCS#8)": pkcs8_line,
        "bundle password": password,
        "bundle password, base64": base64.b64encode(password.encode()).decode(),
        "bundle, base64": bundle_base64[100:164],
        "bundle, hex": bundle[100:132].hex(),
    }


def exposed_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield (path, text) for every string in a value that is not inside a secret wrapper."""
    if is_secret_wrapped(value):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", str(key)
            yield from exposed_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from exposed_strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def leaks(value: Any, material: dict[str, str]) -> list[str]:
    """Return where each fragment of secret material shows in a value outside a secret."""
    found = []
    for path, text in exposed_strings(value):
        for label, fragment in material.items():
            if fragment in text:
                found.append(f"{label} at {path or '<root>'}")
    return found


def test_material_fragments_are_distinctive(material: dict[str, str]) -> None:
    for label, fragment in material.items():
        assert len(fragment) >= 32, f"{label} fragment is too short to be unique"


def test_no_secret_in_resource_inputs(deployment: Deployment, material: dict[str, str]) -> None:
    for registration in deployment.registrations:
        found = leaks(registration.inputs, material)
        assert found == [], f"{registration.name} sends secret material in plain inputs: {found}"


def test_no_secret_in_resource_outputs(deployment: Deployment, material: dict[str, str]) -> None:
    for registration in deployment.registrations:
        found = leaks(registration.outputs, material)
        assert found == [], f"{registration.name} returns secret material in plain outputs: {found}"


def test_no_secret_in_component_outputs(deployment: Deployment, material: dict[str, str]) -> None:
    assert deployment.monitor.component_outputs, "the component registered no outputs"
    for urn, outputs in deployment.monitor.component_outputs.items():
        found = leaks(outputs, material)
        assert found == [], f"{urn} registers secret material in plain outputs: {found}"


def test_no_secret_in_stack_exports(deployment: Deployment, material: dict[str, str]) -> None:
    assert deployment.exports, "the program exported nothing"
    for name, (value, is_secret) in deployment.exports.items():
        if is_secret:
            continue
        found = leaks(value, material)
        assert found == [], f"export {name} holds secret material unmarked: {found}"


def test_no_secret_in_log_records(deployment: Deployment, material: dict[str, str]) -> None:
    messages = list(deployment.log_messages())
    assert messages, "no log records were captured, so this test would prove nothing"
    for message in messages:
        found = [label for label, fragment in material.items() if fragment in message]
        assert found == [], f"a log record holds {found}"


def test_no_secret_in_printed_output(
    run_output: tuple[Deployment, str], material: dict[str, str]
) -> None:
    printed = run_output[1]
    found = [label for label, fragment in material.items() if fragment in printed]
    assert found == [], f"the run printed {found}"


def test_private_key_outputs_are_secret(deployment: Deployment) -> None:
    outputs = deployment.one(TLS_KEY).outputs
    assert is_secret_wrapped(outputs["privateKeyPem"]), "privateKeyPem is not secret"
    assert is_secret_wrapped(outputs["privateKeyPemPkcs8"]), "privateKeyPemPkcs8 is not secret"


def test_certificate_receives_key_as_secret(deployment: Deployment) -> None:
    inputs = deployment.one(TLS_CERT).inputs
    assert is_secret_wrapped(inputs["privateKeyPem"]), "the certificate got the key in plain text"


def test_password_result_is_secret(deployment: Deployment) -> None:
    outputs = deployment.one(RANDOM_PASSWORD).outputs
    assert is_secret_wrapped(outputs["result"]), "the bundle password is not secret"


def test_bundle_inputs_and_output_are_secret(deployment: Deployment) -> None:
    bundle = deployment.one(BUNDLE)
    assert is_secret_wrapped(bundle.inputs["private_key_pem"]), "bundle key input is plain"
    assert is_secret_wrapped(bundle.inputs["password"]), "bundle password input is plain"
    assert is_secret_wrapped(bundle.inputs["__provider"]), "serialised provider is plain"
    assert is_secret_wrapped(bundle.outputs["pfx_base64"]), "bundle bytes are not secret"
    assert "pfx_base64" in bundle.additional_secret_outputs, "pfx_base64 not declared secret"


def test_kubernetes_secret_data_is_secret(deployment: Deployment) -> None:
    secrets = deployment.of_type(SECRET)
    assert len(secrets) == 5, f"expected five secrets, found {len(secrets)}"
    for secret in secrets:
        field = "data" if "data" in secret.inputs else "stringData"
        values = secret.inputs[field]
        assert is_secret_wrapped(values) or all(
            is_secret_wrapped(item) for item in values.values()
        ), f"{secret.name} sends {field} in plain text"
        assert is_secret_wrapped(secret.outputs["data"]), f"{secret.name} returns plain data"


def test_exports_hold_no_private_fields(deployment: Deployment) -> None:
    forbidden = ("password", "privatekey", "pfx", "bundle_base64", "pem")
    for name in deployment.exports:
        folded = name.lower().replace("_", "")
        assert not any(word in folded for word in forbidden), f"export {name} looks private"
