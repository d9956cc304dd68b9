"""The repository installs with pip as the distribution `coder-azure-federation` 0.1.0.

A user runs `pip install "coder-azure-federation @ git+<repository URL>"` or
`pip install <checkout>` and imports `coder_azure_federation`. This test does the same with a
fresh virtualenv outside the repository, then runs a script there, in a folder that is not the
repository and without PYTHONPATH, that declares the component under Pulumi's mocks.

Two shortcuts keep the test fast and offline, and neither touches what is under test:

- The new virtualenv finds its dependencies (pulumi, the provider SDKs, cryptography, PyYAML)
  and the build tools (pip, setuptools from requirements-dev.txt) through a `.pth` file that
  names the site-packages of the Python running pytest. Those packages take hundreds of
  megabytes and are installed already, and only the package itself is under test. So pip
  installs it with `--no-deps --no-build-isolation`. It lands in the new virtualenv's own
  site-packages, which comes first on sys.path.
- pip builds in the source folder, where setuptools leaves `build/` and an `.egg-info` folder.
  So the test builds from a copy of the checkout (without .git and the local virtualenvs), into
  which it also puts decoy `.venv` and `.venv-ci` packages that must not reach the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import tomllib
import venv
from pathlib import Path
from typing import Any, cast

import pytest

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "coder-azure-federation"
IMPORT_NAME = "coder_azure_federation"
VERSION = "0.1.0"

# What a checkout contains that is not source: never copied, so the copy builds like a clone.
NOT_SOURCE = (
    ".git",
    ".venv",
    ".venv-ci",
    ".pulumi-state",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "build",
    "*.egg-info",
)

# Runs in the new virtualenv. It writes its own mocks: the repository's tests are not installed.
CHECK_SCRIPT = r'''
import base64
import datetime
import json
import sys
import sysconfig
from pathlib import Path

import coder_azure_federation
import dill
import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from coder_azure_federation import CoderAzureFederation

report = {
    "file": coder_azure_federation.__file__,
    "purelib": sysconfig.get_paths()["purelib"],
    "repository_package_loaded": "components" in sys.modules,
}

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
NOT_AFTER = NOW + datetime.timedelta(days=730)
NAME = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "coder-azure-federation")])
CERTIFICATE_PEM = (
    x509.CertificateBuilder()
    .subject_name(NAME)
    .issuer_name(NAME)
    .public_key(KEY.public_key())
    .serial_number(1)
    .not_valid_before(NOW)
    .not_valid_after(NOT_AFTER)
    .sign(KEY, hashes.SHA256())
    .public_bytes(serialization.Encoding.PEM)
    .decode()
)


class Mocks(pulumi.runtime.Mocks):
    """Mock providers that return the few outputs the component reads."""

    def __init__(self) -> None:
        self.types: list[str] = []
        self.dynamic_modules: dict[str, str] = {}

    def new_resource(self, args):
        self.types.append(args.typ)
        state = dict(args.inputs)
        if "__provider" in state:
            serialised = state.pop("__provider")
            if isinstance(serialised, dict):  # sent as a secret: {signature, "value": ...}
                serialised = serialised["value"]
            provider = dill.loads(base64.b64decode(serialised))
            self.dynamic_modules[args.typ] = type(provider).__module__
        if args.typ == "tls:index/privateKey:PrivateKey":
            state["privateKeyPem"] = KEY.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
        elif args.typ == "tls:index/selfSignedCert:SelfSignedCert":
            state["certPem"] = CERTIFICATE_PEM
            state["validityEndTime"] = NOT_AFTER.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = "p" * 32
        elif args.typ == "azuread:index/application:Application":
            state.update(clientId="0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5",
                         objectId="1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6")
        elif args.typ == "azuread:index/servicePrincipal:ServicePrincipal":
            state.update(objectId="2e3f4a5b-6c7d-4e8f-90a1-b2c3d4e5f607",
                         applicationTenantId="3f4a5b6c-7d8e-4f90-a1b2-c3d4e5f60718")
        elif args.typ == "pulumi-python:dynamic/pkcs12:Bundle":
            state.update(pfx_base64="AA==", bundle_sha256="0" * 64)
        elif args.typ == "kubernetes:helm.sh/v3:Release":
            state["status"] = {"status": "deployed"}
        return f"{args.name}-id", state

    def call(self, args):
        if args.token == "azuread:index/getClientConfig:getClientConfig":
            return {"objectId": "4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d"}, []
        raise AssertionError(f"unexpected invoke {args.token}")


mocks = Mocks()
pulumi.runtime.set_mocks(mocks, project="package-check", stack="dev", preview=False)


@pulumi.runtime.test
def declare():
    federation = CoderAzureFederation(
        "coder-azure",
        {"subscription_id": "5b6c7d8e-9fa0-4b1c-8d2e-3f4a5b6c7d8e", "chart_version": "2.34.0"},
    )
    return pulumi.Output.all(
        federation.client_id, federation.secret_names, federation.release_status
    ).apply(lambda values: report.update(outputs=values))


declare()
report["types"] = sorted(set(mocks.types))
report["dynamic_modules"] = mocks.dynamic_modules
print(json.dumps(report))
'''


def copy_checkout(destination: Path) -> Path:
    """Copy the checkout as a clone would hold it, and plant packages the wheel must not take."""
    shutil.copytree(ROOT, destination, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    for decoy_venv in (".venv", ".venv-ci"):
        decoy = destination / decoy_venv / "lib" / "python3.11" / "site-packages" / "decoy"
        decoy.mkdir(parents=True)
        (decoy / "__init__.py").write_text("MARKER = 'from a local virtualenv'\n")
    return destination


def make_virtualenv(directory: Path) -> Path:
    """Create a virtualenv with the stdlib, and let it see the running Python's packages."""
    venv.EnvBuilder(with_pip=False, clear=True).create(directory)
    python = directory / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    runner_site_packages = site.getsitepackages()
    Path(purelib, "runner-site-packages.pth").write_text(
        "".join(f"{path}\n" for path in runner_site_packages)
    )
    return python


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Install the package from a copy of the checkout into a fresh virtualenv.

    Returns the virtualenv's python and the folder, outside the repository, the checks run in.
    """
    work = tmp_path_factory.mktemp("package-install")
    assert ROOT not in work.resolve().parents, "the virtualenv must live outside the repository"
    source = copy_checkout(work / "source")
    python = make_virtualenv(work / "venv")
    run_in_venv(
        python,
        work,
        [
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--quiet",
            str(source),
        ],
    )
    return python, work


@pytest.fixture(scope="module")
def report(installed: tuple[Path, Path]) -> dict[str, Any]:
    """What the check script saw when it declared the component from the installed package."""
    python, work = installed
    output = run_in_venv(python, work, ["-c", CHECK_SCRIPT])
    return cast(dict[str, Any], json.loads(output.strip().splitlines()[-1]))


def clean_environment() -> dict[str, str]:
    """The caller's environment without PYTHONPATH or an active virtualenv."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }


def run_in_venv(python: Path, cwd: Path, arguments: list[str]) -> str:
    result = subprocess.run(
        [str(python), *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_environment(),
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"{arguments[:3]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


def test_project_metadata_names_the_distribution() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    assert project["version"] == VERSION
    assert project["requires-python"] == ">=3.11"


def test_dependencies_match_requirements() -> None:
    """The distribution requires the same packages, with the same bounds, as the program."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(project["dependencies"]) == sorted(requirements)


def test_installs_as_a_versioned_distribution(installed: tuple[Path, Path]) -> None:
    python, work = installed
    script = f"import importlib.metadata; print(importlib.metadata.version({DISTRIBUTION!r}))"
    assert run_in_venv(python, work, ["-c", script]).strip() == VERSION


def test_wheel_holds_only_the_component_package(installed: tuple[Path, Path]) -> None:
    """Only components/, renamed, is installed: no program, tests, scripts or virtualenv."""
    python, work = installed
    script = (
        "import importlib.metadata, json\n"
        f"files = importlib.metadata.distribution({DISTRIBUTION!r}).files\n"
        "print(json.dumps(sorted(str(path) for path in files)))\n"
    )
    files = json.loads(run_in_venv(python, work, ["-c", script]))
    outside = [
        path
        for path in files
        if not path.startswith((f"{IMPORT_NAME}/", f"{IMPORT_NAME}-{VERSION}.dist-info/"))
    ]
    assert not outside, f"the installation holds files outside the package: {outside}"
    modules = {path.removeprefix(f"{IMPORT_NAME}/") for path in files if path.endswith(".py")}
    assert modules == {path.name for path in (ROOT / "components").glob("*.py")}


def test_component_runs_from_site_packages(report: dict[str, Any]) -> None:
    """Outside the repository, the installed package declares the whole default graph."""
    package_file = Path(report["file"])
    assert Path(report["purelib"]) in package_file.parents, report["file"]
    assert ROOT not in package_file.resolve().parents, "imported from the repository"
    assert not report["repository_package_loaded"], "`components` was imported too"

    assert report["types"] == sorted(
        {
            "coder-azure-federation:index:CoderAzureFederation",
            "tls:index/privateKey:PrivateKey",
            "tls:index/selfSignedCert:SelfSignedCert",
            "random:index/randomPassword:RandomPassword",
            "pulumi-python:dynamic/pkcs12:Bundle",
            "azuread:index/application:Application",
            "azuread:index/servicePrincipal:ServicePrincipal",
            "azuread:index/applicationCertificate:ApplicationCertificate",
            "azure-native:authorization:RoleAssignment",
            "kubernetes:core/v1:Secret",
            "kubernetes:core/v1:SecretPatch",
            "pulumi-python:dynamic/rotation:MountRefreshWait",
            "kubernetes:helm.sh/v3:Release",
        }
    )
    client_id, secret_names, release_status = report["outputs"]
    assert client_id == "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"
    assert secret_names["bundle"] == "azure-client-cert-secret"
    assert release_status == "deployed"


def test_dynamic_providers_pickle_by_the_installed_module(report: dict[str, Any]) -> None:
    """The dynamic provider host will import the providers from `coder_azure_federation`.

    Each dynamic resource sends its provider pickled by reference to its module. Installed, that
    module is in site-packages, where the host's Python finds it from any working directory.
    """
    assert report["dynamic_modules"] == {
        "pulumi-python:dynamic/pkcs12:Bundle": f"{IMPORT_NAME}.pkcs12",
        "pulumi-python:dynamic/rotation:MountRefreshWait": f"{IMPORT_NAME}.rotation",
    }


def test_runner_site_packages_hold_what_the_venv_borrows() -> None:
    """The `.pth` shortcut names folders that contain the dependencies and the build backend."""
    folders = [Path(path) for path in site.getsitepackages()]
    assert any((folder / "pulumi").is_dir() for folder in folders), folders
    assert any((folder / "setuptools").is_dir() for folder in folders), (
        "setuptools (requirements-dev.txt) builds the package without build isolation"
    )
