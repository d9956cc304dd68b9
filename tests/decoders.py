"""Read PKCS#12 bundles back through real decoders: the OpenSSL CLI and two Go libraries.

The Go decoders are `golang.org/x/crypto/pkcs12` and `software.sslmate.com/src/go-pkcs12`,
and `Pkcs12Profile` in `components/pkcs12.py` names the consumers that use each. Each one is
a small program under `tests/go/`, built once per test session against Debian's source
packages in GOPATH mode, so the build needs no module proxy or network.

Passwords and bundles reach the decoders through the environment or standard input, never
through argv, and no helper here writes a password or private key to its output or errors.
A missing tool raises `MissingDecoderError` naming the Debian package to install, so tests
that use these helpers fail instead of being skipped.
"""

from __future__ import annotations

import atexit
import base64
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

GO_SOURCE_DIR = Path(__file__).parent / "go"

# GOPATH root of Debian's Go source packages (golang-*-dev).
DEBIAN_GOPATH = Path("/usr/share/gocode")

GO_DECODERS = ("x-crypto", "sslmate")


@dataclass(frozen=True)
class _GoDecoderSource:
    program_dir: str
    import_path: str
    debian_package: str


_GO_DECODER_SOURCES = {
    "x-crypto": _GoDecoderSource(
        "xcrypto", "golang.org/x/crypto/pkcs12", "golang-golang-x-crypto-dev"
    ),
    "sslmate": _GoDecoderSource(
        "sslmate", "software.sslmate.com/src/go-pkcs12", "golang-sslmate-src-go-pkcs12-dev"
    ),
}

_GO_PROGRAM_TIMEOUT_SECONDS = 60
_GO_BUILD_TIMEOUT_SECONDS = 300
_OPENSSL_TIMEOUT_SECONDS = 60

# The environment variable that carries the password to `openssl -passin env:`.
_PASSWORD_VARIABLE = "PKCS12_TEST_PASSWORD"

_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n.*?-----END (?P=label)-----", re.DOTALL
)
_PRIVATE_KEY_LABELS = {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"}


class MissingDecoderError(RuntimeError):
    """Error raised when a decoder tool or library is not installed on this machine."""


class DecoderError(RuntimeError):
    """Error raised when a decoder tool fails to run or to read a bundle."""


class IncorrectPasswordError(DecoderError):
    """Error raised when OpenSSL rejects the password because the bundle's MAC does not verify."""


@dataclass(frozen=True)
class GoResult:
    """Outcome of decoding a bundle with one Go library.

    On success the key and certificate are identified by SHA-256 fingerprints: of the
    SubjectPublicKeyInfo DER for public keys, and of the whole DER for the certificate.
    """

    decoder: str
    ok: bool
    error: str | None
    key_type: str | None
    key_bits: int | None
    public_key_sha256: str | None
    certificate_sha256: str | None
    certificate_subject: str | None
    certificate_public_key_sha256: str | None


def _require_openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        raise MissingDecoderError(
            "openssl was not found on PATH: install the Debian package openssl "
            "(apt-get install openssl)"
        )
    return path


def _run_openssl_pkcs12(
    pfx: bytes, password: str, options: list[str]
) -> subprocess.CompletedProcess[bytes]:
    """Run `openssl pkcs12` on a bundle fed through standard input.

    Raises IncorrectPasswordError when OpenSSL reports that the MAC does not verify, and
    DecoderError for any other non-zero exit.
    """
    openssl = _require_openssl()
    env = dict(os.environ)
    env[_PASSWORD_VARIABLE] = password
    completed = subprocess.run(
        [openssl, "pkcs12", "-passin", f"env:{_PASSWORD_VARIABLE}", *options],
        input=pfx,
        env=env,
        capture_output=True,
        timeout=_OPENSSL_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        stderr = completed.stderr.decode(errors="replace").strip()
        # OpenSSL 3.0 prints "Mac verify error: invalid password?" when the MAC does not
        # verify, which a corrupted bundle also causes.
        if "mac verify error" in stderr.lower():
            raise IncorrectPasswordError(
                "openssl pkcs12 could not verify the bundle's MAC, so the password is wrong "
                f"or the bundle is corrupted (exit {completed.returncode}): {stderr}"
            )
        raise DecoderError(f"openssl pkcs12 failed (exit {completed.returncode}): {stderr}")
    return completed


def openssl_pkcs12_contents(pfx: bytes, password: str) -> tuple[list[str], list[str]]:
    """Decrypt a bundle with `openssl pkcs12` and return its (private key PEMs, certificate PEMs).

    OpenSSL 3 writes keys as unencrypted PKCS#8 (`PRIVATE KEY`). Raises IncorrectPasswordError
    on a wrong password and MissingDecoderError when openssl is not installed.
    """
    completed = _run_openssl_pkcs12(pfx, password, ["-nodes"])
    output = completed.stdout.decode()

    keys: list[str] = []
    certificates: list[str] = []
    for block in _PEM_BLOCK.finditer(output):
        label = block.group("label")
        if label in _PRIVATE_KEY_LABELS:
            keys.append(block.group(0) + "\n")
        elif label == "CERTIFICATE":
            certificates.append(block.group(0) + "\n")
        else:
            raise DecoderError(f"openssl pkcs12 printed an unexpected PEM block {label!r}")
    return keys, certificates


def openssl_pkcs12_info(pfx: bytes, password: str) -> str:
    """Return the algorithm summary that `openssl pkcs12 -info -noout` prints for a bundle.

    The summary names the MAC digest and the encryption of each bag, for example
    `MAC: sha1, Iteration 2048`. OpenSSL 3.0 writes it to standard error, so both streams are
    returned together.
    """
    completed = _run_openssl_pkcs12(pfx, password, ["-info", "-noout"])
    return completed.stdout.decode() + completed.stderr.decode()


@functools.cache
def _build_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="pkcs12-go-decoders-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def _require_go() -> str:
    path = shutil.which("go")
    if path is None:
        raise MissingDecoderError(
            "go was not found on PATH: install the Debian package golang-go "
            "(apt-get install golang-go)"
        )
    return path


def _go_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            # GOPATH mode resolves imports from Debian's source packages without a network.
            "GO111MODULE": "off",
            "GOPATH": str(DEBIAN_GOPATH),
            "GOCACHE": str(_build_root() / "gocache"),
            "GOFLAGS": "",
            "GOPROXY": "off",
            "CGO_ENABLED": "0",
        }
    )
    return env


@functools.cache
def go_decoder_binary(decoder: str) -> Path:
    """Compile the Go program for `decoder` once per session and return the binary's path.

    Raises MissingDecoderError naming the Debian package when go or the library's source is
    not installed, and DecoderError with the compiler output when the build fails.
    """
    source = _GO_DECODER_SOURCES.get(decoder)
    if source is None:
        raise ValueError(
            f"unknown Go decoder {decoder!r}: expected one of {', '.join(GO_DECODERS)}"
        )

    go = _require_go()
    library_dir = DEBIAN_GOPATH / "src" / source.import_path
    if not library_dir.is_dir():
        raise MissingDecoderError(
            f"the Go package {source.import_path} was not found in {DEBIAN_GOPATH / 'src'}: "
            f"install the Debian package {source.debian_package} "
            f"(apt-get install {source.debian_package})"
        )

    binary = _build_root() / source.program_dir
    completed = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=GO_SOURCE_DIR / source.program_dir,
        env=_go_environment(),
        capture_output=True,
        timeout=_GO_BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).decode(errors="replace").strip()
        raise DecoderError(f"go build of the {decoder} decoder failed: {output}")
    return binary


def go_decode(pfx: bytes, password: str, decoder: str) -> GoResult:
    """Decode a bundle with the Go library `decoder` ("x-crypto" or "sslmate").

    A decode failure is returned as a GoResult with ok False and the library's error
    message. Raises DecoderError only when the Go program itself fails to run.
    """
    binary = go_decoder_binary(decoder)
    request = json.dumps({"password": password, "pfx": base64.b64encode(pfx).decode()})
    completed = subprocess.run(
        [str(binary)],
        input=request.encode(),
        capture_output=True,
        timeout=_GO_PROGRAM_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        stderr = completed.stderr.decode(errors="replace").strip()
        raise DecoderError(f"the {decoder} decoder exited with {completed.returncode}: {stderr}")

    reply = json.loads(completed.stdout)
    return GoResult(
        decoder=decoder,
        ok=bool(reply["ok"]),
        error=reply.get("error"),
        key_type=reply.get("key_type"),
        key_bits=reply.get("key_bits"),
        public_key_sha256=reply.get("public_key_sha256"),
        certificate_sha256=reply.get("certificate_sha256"),
        certificate_subject=reply.get("certificate_subject"),
        certificate_public_key_sha256=reply.get("certificate_public_key_sha256"),
    )
