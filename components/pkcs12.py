"""PKCS#12 bundle of the provisioner's key and certificate, kept in Pulumi state.

pulumi-tls has no PKCS#12 output, so this module builds the bundle with `cryptography` and
wraps it in a dynamic resource. Serialising PKCS#12 draws fresh salts and IVs every time,
so the same key, certificate and password give different bytes on every call. Building the
bundle inside an `apply` would therefore change the Kubernetes Secret on every `pulumi up`.
The dynamic resource builds it once, stores it in state as a secret, and rebuilds it only
when its diff finds a new key, certificate, password or profile.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Literal, get_args

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pulumi import dynamic

Pkcs12Profile = Literal["legacy", "modern"]
"""Encryption profile of a bundle.

`legacy` is PBE-SHA1-3DES for the key and certificate with an SHA-1 MAC: the only profile
that Go's `golang.org/x/crypto/pkcs12` reads, and that decoder is still used by
`azidentity.ParseCertificates` and by azurerm releases before February 2023. `modern` is
AES-256-CBC with PBKDF2 and an SHA-256 MAC, which `software.sslmate.com/src/go-pkcs12` and
OpenSSL 3 read.
"""

PROFILES: tuple[str, ...] = get_args(Pkcs12Profile)

FRIENDLY_NAME = b"coder-azure-federation"

# Inputs whose change makes a new bundle. Everything else in the state is derived.
_BUNDLE_INPUTS = ("private_key_pem", "certificate_pem", "password", "profile")


def build_bundle(private_key_pem: str, certificate_pem: str, password: str, profile: str) -> bytes:
    """Serialise an RSA key and its certificate as a password-protected PKCS#12 bundle.

    Raises ValueError when the profile is unknown, the password is empty, the key is not
    RSA (older azurerm releases accept only RSA) or the certificate does not belong to the key.
    """
    if profile not in PROFILES:
        raise ValueError(
            f"unknown PKCS#12 profile {profile!r}: expected one of {', '.join(PROFILES)}"
        )
    if not password:
        raise ValueError("the bundle password is empty")
    if any(ord(character) > 0xFFFF for character in password):
        # PKCS#12 passwords are BMPString (UCS-2); Go's decoders reject anything beyond it.
        raise ValueError("the bundle password has characters outside the Basic Multilingual Plane")

    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the private key is not an RSA key")
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    if _public_key_der(certificate.public_key()) != _public_key_der(key.public_key()):
        raise ValueError("the certificate was not issued for this private key")

    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if profile == "legacy":
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(
            hashes.SHA1()
        )
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(
            hashes.SHA256()
        )
    encryption = builder.kdf_rounds(2048).build(password.encode())

    return pkcs12.serialize_key_and_certificates(
        name=FRIENDLY_NAME, key=key, cert=certificate, cas=None, encryption_algorithm=encryption
    )


def _public_key_der(public_key: Any) -> bytes:
    return bytes(
        public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def inputs_fingerprint(props: dict[str, Any]) -> str:
    """Return a SHA-256 digest over the inputs that a bundle is built from.

    The state keeps this digest instead of comparing secret inputs field by field, so the diff
    needs nothing but the previous outputs. The digest is stored as a secret all the same.
    """
    digest = hashlib.sha256()
    for field in _BUNDLE_INPUTS:
        value = str(props.get(field, "")).encode()
        digest.update(len(value).to_bytes(8, "big"))
        digest.update(value)
    return digest.hexdigest()


class Pkcs12BundleProvider(dynamic.ResourceProvider):
    """Dynamic provider that builds a bundle on create and on a change of its inputs only."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        failures = []
        profile = news.get("profile")
        if profile not in PROFILES:
            failures.append(
                dynamic.CheckFailure(
                    "profile", f"expected one of {', '.join(PROFILES)}, got {profile!r}"
                )
            )
        return dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = olds.get("inputs_fingerprint") != inputs_fingerprint(news)
        return dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        outs = self._build(props)
        # The ID names the bundle by its digest, so logs can distinguish two bundles.
        return dynamic.CreateResult(id_=outs["bundle_sha256"][:32], outs=outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(outs=self._build(news))

    @staticmethod
    def _build(props: dict[str, Any]) -> dict[str, Any]:
        bundle = build_bundle(
            props["private_key_pem"], props["certificate_pem"], props["password"], props["profile"]
        )
        return {
            "profile": props["profile"],
            "pfx_base64": base64.b64encode(bundle).decode(),
            "bundle_sha256": hashlib.sha256(bundle).hexdigest(),
            "inputs_fingerprint": inputs_fingerprint(props),
        }


class Pkcs12Bundle(dynamic.Resource, module="pkcs12", name="Bundle"):
    """A PKCS#12 bundle stored as a secret in state and rebuilt only when its inputs change.

    NOTE: The provider is pickled by reference to this module. Pulumi's Python dynamic provider
    host loads it by importing the module under the name the program used. In this repository
    that is `components.pkcs12`, found from the project directory. Installed as a package, it is
    `coder_azure_federation.pkcs12`, found in the virtualenv's site-packages. The module must
    stay importable under that name and must not declare resources when imported.
    """

    pfx_base64: pulumi.Output[str]
    """The bundle, base64 encoded. Secret."""

    bundle_sha256: pulumi.Output[str]
    """SHA-256 digest of the bundle bytes, hex encoded."""

    profile: pulumi.Output[str]
    """The encryption profile the bundle was written with."""

    def __init__(
        self,
        resource_name: str,
        private_key_pem: pulumi.Input[str],
        certificate_pem: pulumi.Input[str],
        password: pulumi.Input[str],
        profile: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        secret_outputs = pulumi.ResourceOptions(
            additional_secret_outputs=["pfx_base64", "inputs_fingerprint"]
        )
        super().__init__(
            Pkcs12BundleProvider(),
            resource_name,
            {
                "private_key_pem": pulumi.Output.secret(private_key_pem),
                "certificate_pem": certificate_pem,
                "password": pulumi.Output.secret(password),
                "profile": profile,
                "pfx_base64": None,
                "bundle_sha256": None,
                "inputs_fingerprint": None,
            },
            pulumi.ResourceOptions.merge(opts, secret_outputs),
        )
