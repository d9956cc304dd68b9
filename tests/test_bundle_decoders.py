"""Tests that PKCS#12 bundles from `build_bundle` open in OpenSSL and in Go's decoders.

The Go decoders are the libraries that `Pkcs12Profile` names as the bundle's consumers:
x/crypto reads only the legacy profile, and sslmate reads both. A missing openssl or Go
package makes these tests fail with the Debian package to install. They are never skipped.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from components.pkcs12 import build_bundle
from tests import decoders
from tests.certs import private_key_pem, rsa_key, self_signed_certificate
from tests.decoders import (
    IncorrectPasswordError,
    MissingDecoderError,
    go_decode,
    openssl_pkcs12_contents,
    openssl_pkcs12_info,
)

TEST_KEY_BITS = 2048
PRODUCT_KEY_BITS = 4096

SUBJECT = {"common_name": "coder-azure-federation bundle test", "organization": "Coder"}
SUBJECT_RFC4514 = "CN=coder-azure-federation bundle test,O=Coder"

# The MAC OID that x/crypto/pkcs12 rejects in modern bundles.
SHA256_OID = "2.16.840.1.101.3.4.2.1"


@dataclass(frozen=True)
class KeyAndCertificate:
    """An RSA key, a certificate for it, and their PEM encodings as build_bundle takes them."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    key_pem: str
    certificate_pem: str


def make_key_and_certificate(label: str, bits: int) -> KeyAndCertificate:
    key = rsa_key(label, bits)
    issued = self_signed_certificate(
        key, SUBJECT, 24, ["digital_signature", "key_encipherment", "client_auth"]
    )
    return KeyAndCertificate(key, issued.certificate, private_key_pem(key), issued.pem)


def new_password() -> str:
    return secrets.token_urlsafe(24)


def spki_sha256(public_key: PublicKeyTypes) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def certificate_der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def ec_key_and_certificate() -> tuple[str, str]:
    """Return PEMs of a P-256 key and a self-signed certificate for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec bundle test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


def assert_openssl_returns_inputs(pfx: bytes, password: str, original: KeyAndCertificate) -> None:
    keys, certificates = openssl_pkcs12_contents(pfx, password)

    assert len(keys) == 1
    assert len(certificates) == 1

    returned_key = serialization.load_pem_private_key(keys[0].encode(), password=None)
    assert isinstance(returned_key, rsa.RSAPrivateKey)
    assert returned_key.public_key().public_numbers() == original.key.public_key().public_numbers()
    # Compared into a bool first so that a failure never prints private numbers.
    same_private_key = returned_key.private_numbers() == original.key.private_numbers()
    assert same_private_key, "openssl returned a different private key"

    returned_certificate = x509.load_pem_x509_certificate(certificates[0].encode())
    assert certificate_der(returned_certificate) == certificate_der(original.certificate)


def assert_go_returns_inputs(result: decoders.GoResult, original: KeyAndCertificate) -> None:
    assert result.ok, f"{result.decoder} failed: {result.error}"
    assert result.error is None
    assert result.key_type == "RSA"
    assert result.key_bits == original.key.key_size
    assert result.public_key_sha256 == spki_sha256(original.key.public_key())
    assert (
        result.certificate_sha256
        == hashlib.sha256(certificate_der(original.certificate)).hexdigest()
    )
    assert result.certificate_subject == SUBJECT_RFC4514
    assert result.certificate_public_key_sha256 == result.public_key_sha256


@pytest.mark.parametrize("bits", [TEST_KEY_BITS, PRODUCT_KEY_BITS])
def test_legacy_bundle_opens_in_openssl(bits: int) -> None:
    original = make_key_and_certificate("openssl-legacy", bits)
    password = new_password()
    pfx = build_bundle(original.key_pem, original.certificate_pem, password, "legacy")

    assert_openssl_returns_inputs(pfx, password, original)


def test_modern_bundle_opens_in_openssl() -> None:
    original = make_key_and_certificate("openssl-modern", TEST_KEY_BITS)
    password = new_password()
    pfx = build_bundle(original.key_pem, original.certificate_pem, password, "modern")

    assert_openssl_returns_inputs(pfx, password, original)


@pytest.mark.parametrize("profile", ["legacy", "modern"])
def test_openssl_rejects_wrong_password(profile: str) -> None:
    original = make_key_and_certificate("openssl-wrong-password", TEST_KEY_BITS)
    password = new_password()
    wrong_password = new_password()
    pfx = build_bundle(original.key_pem, original.certificate_pem, password, profile)

    with pytest.raises(IncorrectPasswordError) as raised:
        openssl_pkcs12_contents(pfx, wrong_password)

    message = str(raised.value)
    assert "password" in message
    password_in_message = password in message or wrong_password in message
    assert not password_in_message, "the error message contains a password"


@pytest.mark.parametrize("decoder", decoders.GO_DECODERS)
@pytest.mark.parametrize("bits", [TEST_KEY_BITS, PRODUCT_KEY_BITS])
def test_legacy_bundle_decodes_in_go(decoder: str, bits: int) -> None:
    original = make_key_and_certificate("go-legacy", bits)
    password = new_password()
    pfx = build_bundle(original.key_pem, original.certificate_pem, password, "legacy")

    result = go_decode(pfx, password, decoder)

    assert_go_returns_inputs(result, original)


def test_modern_bundle_fails_in_x_crypto() -> None:
    original = make_key_and_certificate("go-modern", TEST_KEY_BITS)
    password = new_password()
    pfx = build_bundle(original.key_pem, original.certificate_pem, password, "modern")

    result = go_decode(pfx, password, "x-crypto")

    assert not result.ok
    assert result.error is not None
    assert "unknown digest algorithm" in result.error
    assert SHA256_OID in result.error


@pytest.mark.parametrize("bits", [TEST_KEY_BITS, PRODUCT_KEY_BITS])
def test_modern_bundle_decodes_in_sslmate(bits: int) -> None:
    original = make_key_and_certificate("go-modern", bits)
    password = new_password()
    pfx = build_bundle(original.key_pem, original.certificate_pem, password, "modern")

    result = go_decode(pfx, password, "sslmate")

    assert_go_returns_inputs(result, original)


@pytest.mark.parametrize(
    ("decoder", "profile"),
    [("x-crypto", "legacy"), ("sslmate", "legacy"), ("sslmate", "modern")],
)
def test_go_decoders_reject_wrong_password(decoder: str, profile: str) -> None:
    original = make_key_and_certificate("go-wrong-password", TEST_KEY_BITS)
    pfx = build_bundle(original.key_pem, original.certificate_pem, new_password(), profile)

    result = go_decode(pfx, new_password(), decoder)

    assert not result.ok
    assert result.error == "pkcs12: decryption password incorrect"
    assert result.public_key_sha256 is None


@pytest.mark.parametrize("profile", ["legacy", "modern"])
def test_non_ascii_password_opens_everywhere(profile: str) -> None:
    # The PKCS#12 KDF takes the password as a UCS-2 BMPString. OpenSSL converts the UTF-8
    # bytes it gets from cryptography and Go converts its own strings, so a non-ASCII
    # password checks that the two conversions agree.
    original = make_key_and_certificate("non-ascii", TEST_KEY_BITS)
    password = "pässwörd-пароль-€-" + new_password()
    pfx = build_bundle(original.key_pem, original.certificate_pem, password, profile)

    assert_openssl_returns_inputs(pfx, password, original)
    assert_go_returns_inputs(go_decode(pfx, password, "sslmate"), original)
    if profile == "legacy":
        assert_go_returns_inputs(go_decode(pfx, password, "x-crypto"), original)


def test_build_rejects_unknown_profile() -> None:
    original = make_key_and_certificate("reject", TEST_KEY_BITS)

    with pytest.raises(ValueError, match="unknown PKCS#12 profile 'pbes2'"):
        build_bundle(original.key_pem, original.certificate_pem, new_password(), "pbes2")


@pytest.mark.parametrize("profile", ["legacy", "modern"])
def test_build_rejects_empty_password(profile: str) -> None:
    original = make_key_and_certificate("reject", TEST_KEY_BITS)

    with pytest.raises(ValueError, match="password is empty"):
        build_bundle(original.key_pem, original.certificate_pem, "", profile)


def test_build_rejects_certificate_of_other_key() -> None:
    original = make_key_and_certificate("reject", TEST_KEY_BITS)
    other = make_key_and_certificate("reject-other", TEST_KEY_BITS)

    with pytest.raises(ValueError, match="not issued for this private key"):
        build_bundle(original.key_pem, other.certificate_pem, new_password(), "legacy")


def test_build_rejects_ec_key() -> None:
    key_pem, certificate_pem = ec_key_and_certificate()

    with pytest.raises(ValueError, match="not an RSA key"):
        build_bundle(key_pem, certificate_pem, new_password(), "legacy")


@pytest.mark.parametrize("profile", ["legacy", "modern"])
def test_repeated_builds_differ_in_bytes(profile: str) -> None:
    # Fresh salts and IVs on every build are why the bundle is a stateful Pulumi resource
    # instead of a value computed in an `apply`.
    original = make_key_and_certificate("repeat", TEST_KEY_BITS)
    password = new_password()

    first = build_bundle(original.key_pem, original.certificate_pem, password, profile)
    second = build_bundle(original.key_pem, original.certificate_pem, password, profile)

    assert first != second
    assert_openssl_returns_inputs(first, password, original)
    assert_openssl_returns_inputs(second, password, original)


def test_legacy_bundle_uses_3des_and_sha1() -> None:
    original = make_key_and_certificate("info", TEST_KEY_BITS)
    password = new_password()
    pfx = build_bundle(original.key_pem, original.certificate_pem, password, "legacy")

    info = openssl_pkcs12_info(pfx, password)

    assert "MAC: sha1, Iteration 2048" in info
    assert "PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC" in info
    assert "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" in info
    assert "AES" not in info


def test_modern_bundle_uses_aes256_and_sha256() -> None:
    original = make_key_and_certificate("info", TEST_KEY_BITS)
    password = new_password()
    pfx = build_bundle(original.key_pem, original.certificate_pem, password, "modern")

    info = openssl_pkcs12_info(pfx, password)

    assert "MAC: sha256, Iteration 2048" in info
    assert "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC" in info
    assert "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC" in info
    assert "PRF hmacWithSHA256" in info
    assert "TripleDES" not in info


def test_missing_openssl_names_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")

    with pytest.raises(MissingDecoderError, match="install the Debian package openssl"):
        openssl_pkcs12_contents(b"", "unused")


def test_missing_go_names_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")

    # The uncached function, so that a binary built by an earlier test is not reused.
    with pytest.raises(MissingDecoderError, match="install the Debian package golang-go"):
        decoders.go_decoder_binary.__wrapped__("x-crypto")


@pytest.mark.parametrize(
    ("decoder", "package"),
    [("x-crypto", "golang-golang-x-crypto-dev"), ("sslmate", "golang-sslmate-src-go-pkcs12-dev")],
)
def test_missing_go_library_names_debian_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, decoder: str, package: str
) -> None:
    monkeypatch.setattr(decoders, "DEBIAN_GOPATH", tmp_path)

    with pytest.raises(MissingDecoderError, match=f"install the Debian package {package}"):
        decoders.go_decoder_binary.__wrapped__(decoder)
