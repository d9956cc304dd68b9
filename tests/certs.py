"""Real RSA keys and self-signed certificates for the mocks and the bundle tests.

The mocks build what pulumi-tls would return: an RSA key of the requested size and an X.509
certificate with the requested subject, validity and key usages, signed by that key.
RSA key generation takes about a second at 4096 bits, so keys are cached per label and size.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# pulumi-tls subject fields and the X.509 attribute each one becomes.
SUBJECT_ATTRIBUTES = {
    "common_name": NameOID.COMMON_NAME,
    "organization": NameOID.ORGANIZATION_NAME,
    "organizational_unit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "locality": NameOID.LOCALITY_NAME,
    "province": NameOID.STATE_OR_PROVINCE_NAME,
    "country": NameOID.COUNTRY_NAME,
    "postal_code": NameOID.POSTAL_CODE,
    "serial_number": NameOID.SERIAL_NUMBER,
}

# pulumi-tls usage names and the `x509.KeyUsage` argument each one sets.
_KEY_USAGES = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
    "encipher_only": "encipher_only",
    "decipher_only": "decipher_only",
}
_EXTENDED_USAGES = {
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
}


@functools.cache
def rsa_key(label: str, bits: int) -> rsa.RSAPrivateKey:
    """Return an RSA key of `bits` bits, generated once per label and size."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    """Encode a key as PKCS#1 PEM (`RSA PRIVATE KEY`), as pulumi-tls does."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(key: rsa.RSAPrivateKey) -> str:
    """Encode the public half of a key as SubjectPublicKeyInfo PEM."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass(frozen=True)
class IssuedCertificate:
    """A self-signed certificate with the times pulumi-tls reports for it."""

    pem: str
    certificate: x509.Certificate
    validity_start_time: str
    validity_end_time: str


def rfc3339_nanoseconds(moment: datetime.datetime, nanoseconds: int) -> str:
    """Format a UTC time the way pulumi-tls does, with a nanosecond fraction."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanoseconds:09d}Z"


def self_signed_certificate(
    key: rsa.RSAPrivateKey,
    subject: dict[str, str],
    validity_hours: int,
    allowed_uses: list[str],
    now: datetime.datetime | None = None,
) -> IssuedCertificate:
    """Sign a certificate for `key` with the given subject, validity and usages.

    The start time carries a sub-second fraction, as the real provider's does, and the
    certificate's NotAfter is that time plus the validity with the fraction dropped, because
    X.509 stores whole seconds.
    """
    start = now or datetime.datetime.now(datetime.UTC)
    nanoseconds = start.microsecond * 1000 + 123
    start_whole = start.replace(microsecond=0)
    end_whole = start_whole + datetime.timedelta(hours=validity_hours)

    name = x509.Name(
        [
            x509.NameAttribute(SUBJECT_ATTRIBUTES[field], value)
            for field, value in subject.items()
            if value
        ]
    )
    key_usage_flags = {flag: use in allowed_uses for use, flag in _KEY_USAGES.items()}
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start_whole)
        .not_valid_after(end_whole)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**key_usage_flags), critical=True)
    )
    extended = [_EXTENDED_USAGES[use] for use in allowed_uses if use in _EXTENDED_USAGES]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    certificate = builder.sign(key, hashes.SHA256())

    return IssuedCertificate(
        pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        certificate=certificate,
        validity_start_time=rfc3339_nanoseconds(start_whole, nanoseconds),
        validity_end_time=rfc3339_nanoseconds(end_whole, nanoseconds),
    )
