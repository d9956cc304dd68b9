"""Tests of the bundle the program delivers: readable by real decoders, and stable across runs.

The bundle is read back from the Kubernetes secret the program declares, with the password
from the password secret, exactly as the Coder pod would read them. A second run replays the
engine: resources with unchanged inputs keep their outputs, and the dynamic bundle provider is
asked for its diff.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from components.pkcs12 import Pkcs12BundleProvider, inputs_fingerprint
from tests.certs import private_key_pem, rsa_key, self_signed_certificate
from tests.decoders import go_decode, openssl_pkcs12_contents
from tests.mocks import (
    BUNDLE,
    RANDOM_PASSWORD,
    ROOT,
    TLS_CERT,
    TLS_KEY,
    Deployment,
    deploy,
    run_main,
    stack_config,
    unwrap,
)

SUBSCRIPTION_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
CONFIG = stack_config("Pulumi.dev.yaml", {"subscriptionId": SUBSCRIPTION_ID})


def secret_bytes(deployment: Deployment, secret_name: str, key: str) -> bytes:
    """Return one data value of a Kubernetes secret as the pod would read it."""
    return deployment.secret_data(secret_name)[key]


def delivered_bundle(deployment: Deployment) -> tuple[bytes, str]:
    """Return the bundle and its password from the secrets the program declares."""
    bundle = secret_bytes(deployment, "azure-client-cert-secret", "client.pfx")
    password = secret_bytes(deployment, "arm-client-cert-password", "password").decode()
    return bundle, password


def spki_sha256(public_key: object) -> str:
    der = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


@pytest.fixture(scope="module")
def first_run() -> Deployment:
    deployment = deploy(run_main, config=CONFIG)
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    return deployment


@pytest.fixture(scope="module")
def second_run(first_run: Deployment) -> Deployment:
    deployment = deploy(run_main, config=CONFIG, prior=first_run)
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    return deployment


def test_delivered_bundle_opens_in_openssl(first_run: Deployment) -> None:
    bundle, password = delivered_bundle(first_run)
    keys, certificates = openssl_pkcs12_contents(bundle, password)
    assert len(keys) == 1, f"expected one private key, found {len(keys)}"
    assert len(certificates) == 1, f"expected one certificate, found {len(certificates)}"


def test_delivered_bundle_holds_declared_key(first_run: Deployment) -> None:
    bundle, password = delivered_bundle(first_run)
    keys, _ = openssl_pkcs12_contents(bundle, password)
    declared = serialization.load_pem_private_key(
        first_run.one(TLS_KEY).plain_outputs["privateKeyPem"].encode(), password=None
    )
    opened = serialization.load_pem_private_key(keys[0].encode(), password=None)
    same = opened.private_numbers() == declared.private_numbers()  # type: ignore[union-attr]
    assert same, "the bundle holds another key than the tls.PrivateKey"


def test_delivered_bundle_holds_declared_certificate(first_run: Deployment) -> None:
    bundle, password = delivered_bundle(first_run)
    _, certificates = openssl_pkcs12_contents(bundle, password)
    declared = x509.load_pem_x509_certificate(
        first_run.one(TLS_CERT).plain_outputs["certPem"].encode()
    )
    opened = x509.load_pem_x509_certificate(certificates[0].encode())
    assert opened == declared, "the bundle holds another certificate than tls.SelfSignedCert"


@pytest.mark.parametrize("decoder", ["x-crypto", "sslmate"])
def test_delivered_bundle_decodes_in_go(first_run: Deployment, decoder: str) -> None:
    bundle, password = delivered_bundle(first_run)
    result = go_decode(bundle, password, decoder)
    declared = x509.load_pem_x509_certificate(
        first_run.one(TLS_CERT).plain_outputs["certPem"].encode()
    )
    declared_sha256 = hashlib.sha256(declared.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert result.ok, f"{decoder} failed: {result.error}"
    assert result.key_type == "RSA", f"{decoder} found a {result.key_type} key"
    assert result.key_bits == 4096, f"{decoder} found a {result.key_bits}-bit key"
    assert result.certificate_sha256 == declared_sha256, f"{decoder} returned another certificate"
    assert result.public_key_sha256 == spki_sha256(declared.public_key()), (
        f"{decoder} returned a key that does not match the certificate"
    )


def test_rerun_keeps_bundle_bytes(first_run: Deployment, second_run: Deployment) -> None:
    before, _ = delivered_bundle(first_run)
    after, _ = delivered_bundle(second_run)
    assert after == before, "an unchanged second run rebuilt the bundle"


def test_rerun_asks_bundle_diff_only(second_run: Deployment) -> None:
    calls = second_run.mocks.dynamic_calls
    assert ("diff", "coder-azure-bundle") in calls, f"the bundle was not diffed: {calls}"
    assert ("update", "coder-azure-bundle") not in calls, f"the bundle was updated: {calls}"
    assert ("create", "coder-azure-bundle") not in calls, f"the bundle was created: {calls}"


def test_rerun_keeps_password(first_run: Deployment, second_run: Deployment) -> None:
    before = first_run.one(RANDOM_PASSWORD).plain_outputs["result"]
    after = second_run.one(RANDOM_PASSWORD).plain_outputs["result"]
    assert after == before, "the bundle password changed between runs with the same inputs"


def test_profile_change_rebuilds_bundle(first_run: Deployment) -> None:
    modern = stack_config(
        "Pulumi.dev.yaml", {"subscriptionId": SUBSCRIPTION_ID, "bundleProfile": "modern"}
    )
    changed = deploy(run_main, config=modern, prior=first_run)
    before, _ = delivered_bundle(first_run)
    after, password = delivered_bundle(changed)
    assert ("update", "coder-azure-bundle") in changed.mocks.dynamic_calls, "no update was made"
    assert after != before, "the bundle kept its bytes after the profile changed"
    assert not go_decode(after, password, "x-crypto").ok, "x/crypto read a modern bundle"
    assert go_decode(after, password, "sslmate").ok, "sslmate failed on a modern bundle"


@pytest.fixture(scope="module")
def bundle_inputs() -> dict[str, str]:
    key = rsa_key("bundle-diff", 2048)
    certificate = self_signed_certificate(key, {"common_name": "diff"}, 24, ["client_auth"])
    return {
        "private_key_pem": private_key_pem(key),
        "certificate_pem": certificate.pem,
        "password": "first-password",
        "profile": "legacy",
    }


@pytest.mark.parametrize("field", ["private_key_pem", "certificate_pem", "password", "profile"])
def test_bundle_diff_sees_each_input(bundle_inputs: dict[str, str], field: str) -> None:
    provider = Pkcs12BundleProvider()
    created = provider.create(dict(bundle_inputs))
    replacement = {
        "private_key_pem": private_key_pem(rsa_key("bundle-diff-other", 2048)),
        "certificate_pem": self_signed_certificate(
            rsa_key("bundle-diff", 2048), {"common_name": "other"}, 24, ["client_auth"]
        ).pem,
        "password": "second-password",
        "profile": "modern",
    }[field]
    changed = {**bundle_inputs, field: replacement}
    diff = provider.diff(created.id, dict(created.outs or {}), changed)
    assert diff.changes, f"a new {field} did not change the bundle"
    assert not diff.replaces, "the bundle should update in place, keeping its ID"


def test_bundle_diff_ignores_same_inputs(bundle_inputs: dict[str, str]) -> None:
    provider = Pkcs12BundleProvider()
    created = provider.create(dict(bundle_inputs))
    diff = provider.diff(created.id, dict(created.outs or {}), dict(bundle_inputs))
    assert not diff.changes, "unchanged inputs changed the bundle"
    assert created.outs["inputs_fingerprint"] == inputs_fingerprint(bundle_inputs)


def test_bundle_state_omits_inputs(bundle_inputs: dict[str, str]) -> None:
    outs = Pkcs12BundleProvider().create(dict(bundle_inputs)).outs or {}
    assert "private_key_pem" not in outs, "the key is stored twice in state"
    assert "password" not in outs, "the password is stored twice in state"


def test_provider_loads_like_provider_host(first_run: Deployment) -> None:
    """The serialised provider unpickles in a fresh interpreter started in the project folder.

    Pulumi's Python dynamic provider host does the same at deploy time; it must find the class
    by importing `components.pkcs12` and must not run the program.
    """
    serialised = unwrap(first_run.one(BUNDLE).inputs["__provider"])
    script = (
        "import base64, sys, dill\n"
        "provider = dill.loads(base64.b64decode(sys.stdin.read()))\n"
        "print(type(provider).__module__, type(provider).__name__)\n"
        "print('__main__' in sys.modules and hasattr(sys.modules['__main__'], 'federation'))\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=serialised,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"unpickling failed: {result.stderr[-2000:]}"
    module_and_class, ran_program = result.stdout.split("\n")[:2]
    assert module_and_class == "components.pkcs12 Pkcs12BundleProvider"
    assert ran_program == "False", "loading the provider ran the Pulumi program"
