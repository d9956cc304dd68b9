"""Tests of the files the Pulumi CLI and pip read: Pulumi.yaml, the sample stack, requirements.

Pulumi.yaml is generated from `components.config.SETTINGS`, so these tests fail when someone
edits one without the other.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from components.config import PROJECT, REQUIRED, SETTINGS, Setting
from components.roles import PLACEHOLDER_GUID

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILE = ROOT / "Pulumi.yaml"
DEV_STACK = ROOT / "Pulumi.dev.yaml"
RENDER_SCRIPT = ROOT / "scripts" / "render_project_file.py"

GUIDE_SUBJECT = "/CN=myclientcertificate/O=MyCompany, Inc./ST=CA/C=US"
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Words in a key name that suggest the value is a credential.
SECRET_WORDS = re.compile(r"password|secret|token|credential|private", re.IGNORECASE)

PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
}

RUNTIME_PACKAGES = (
    "pulumi",
    "pulumi-tls",
    "pulumi-random",
    "pulumi-azuread",
    "pulumi-azure-native",
    "pulumi-kubernetes",
    "cryptography",
)
LOWER_BOUND_OPERATORS = {">=", ">", "==", "~="}
UPPER_BOUND_OPERATORS = {"<", "<=", "==", "~="}


def load_render_script() -> ModuleType:
    """Import scripts/render_project_file.py by path, since scripts/ is not a package."""
    spec = importlib.util.spec_from_file_location("render_project_file", RENDER_SCRIPT)
    assert spec is not None and spec.loader is not None, f"cannot import {RENDER_SCRIPT}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML file whose top level is a mapping."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path.name} is not a YAML mapping"
    return loaded


def declared_settings() -> dict[str, Any]:
    """Return the `config` section of Pulumi.yaml."""
    config = load_yaml(PROJECT_FILE).get("config")
    assert isinstance(config, dict), "Pulumi.yaml has no config section"
    return config


def dev_stack_config() -> dict[str, Any]:
    """Return the `config` section of Pulumi.dev.yaml."""
    config = load_yaml(DEV_STACK).get("config")
    assert isinstance(config, dict), "Pulumi.dev.yaml has no config section"
    return config


def is_of_type(value: Any, config_type: str) -> bool:
    """Tell whether a YAML value has the Python type of a Pulumi config type."""
    if config_type == "integer" and isinstance(value, bool):
        return False
    return isinstance(value, PYTHON_TYPES[config_type])


# Pulumi.yaml


def test_project_file_matches_render() -> None:
    rendered = load_render_script().render()

    assert PROJECT_FILE.read_text(encoding="utf-8") == rendered, (
        "Pulumi.yaml differs from the settings table; run python scripts/render_project_file.py"
    )


def test_project_name_and_runtime() -> None:
    project = load_yaml(PROJECT_FILE)
    runtime = project.get("runtime")

    assert project.get("name") == PROJECT, f"project name is {project.get('name')!r}"
    assert isinstance(runtime, dict), f"runtime is {runtime!r}, not a mapping with options"
    assert runtime.get("name") == "python", f"runtime name is {runtime.get('name')!r}"
    assert runtime.get("options", {}).get("virtualenv"), "runtime sets no virtualenv option"


def test_project_declares_only_settings() -> None:
    declared = set(declared_settings())
    known = {setting.key for setting in SETTINGS}

    assert declared - known == set(), f"Pulumi.yaml declares unknown keys {declared - known}"
    assert known - declared == set(), f"Pulumi.yaml lacks keys {known - declared}"


@pytest.mark.parametrize("setting", SETTINGS, ids=[setting.key for setting in SETTINGS])
def test_setting_declared_with_type(setting: Setting) -> None:
    entry = declared_settings().get(setting.key)

    assert isinstance(entry, dict), f"Pulumi.yaml does not declare {setting.key}"
    assert entry.get("type") == setting.type, f"{setting.key} has type {entry.get('type')!r}"
    assert entry.get("description"), f"{setting.key} has no description"
    if setting.default is REQUIRED:
        assert "default" not in entry, f"required {setting.key} has a default"
        return
    assert "default" in entry, f"optional {setting.key} has no default"
    default = entry["default"]
    assert is_of_type(default, setting.type), (
        f"default {default!r} of {setting.key} is not of type {setting.type}"
    )
    assert default == setting.default, f"default of {setting.key} is {default!r}"


# Pulumi.dev.yaml


def test_dev_stack_keys_declared() -> None:
    known = {setting.key for setting in SETTINGS}

    for full_key in dev_stack_config():
        namespace, _, key = full_key.partition(":")
        assert namespace == PROJECT, f"{full_key} is not in the {PROJECT} namespace"
        assert key in known, f"{full_key} is not a declared setting"


def test_dev_stack_sets_required_keys() -> None:
    config = dev_stack_config()

    for setting in SETTINGS:
        if setting.default is REQUIRED:
            assert f"{PROJECT}:{setting.key}" in config, f"dev stack lacks {setting.key}"


def test_dev_stack_contains_no_secrets() -> None:
    text = DEV_STACK.read_text(encoding="utf-8")
    config = dev_stack_config()

    assert "secure:" not in text, "Pulumi.dev.yaml contains an encrypted value"
    assert "-----BEGIN" not in text, "Pulumi.dev.yaml contains a PEM block"
    for full_key, value in config.items():
        key = full_key.partition(":")[2]
        assert not isinstance(value, dict), f"{full_key} has a structured or secure value"
        if SECRET_WORDS.search(key):
            assert key.endswith(("SecretName", "SecretKey")), (
                f"{full_key} looks like a plaintext credential"
            )


def test_dev_stack_guids_are_placeholders() -> None:
    guids = GUID.findall(DEV_STACK.read_text(encoding="utf-8"))

    assert guids, "Pulumi.dev.yaml contains no GUID, so subscriptionId is not the placeholder"
    for guid in guids:
        assert guid == PLACEHOLDER_GUID, f"Pulumi.dev.yaml contains the real-looking GUID {guid}"


def test_dev_stack_uses_guide_subject() -> None:
    subject = dev_stack_config().get(f"{PROJECT}:certificateSubject")

    assert subject == GUIDE_SUBJECT, f"certificateSubject is {subject!r}"


def test_dev_stack_values_file_exists() -> None:
    path = dev_stack_config().get(f"{PROJECT}:coderValuesFile")

    assert isinstance(path, str) and path, "dev stack sets no coderValuesFile"
    assert not Path(path).is_absolute(), f"coderValuesFile {path!r} is not project-relative"
    assert (ROOT / path).is_file(), f"coderValuesFile {path!r} does not exist"


# requirements


def requirement_lines(path: Path) -> list[str]:
    """Return the lines of a requirements file that name a package."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text and not text.startswith("-"):
            lines.append(text)
    return lines


@pytest.mark.parametrize("file_name", ["requirements.txt", "requirements-dev.txt"])
def test_requirements_have_both_bounds(file_name: str) -> None:
    lines = requirement_lines(ROOT / file_name)

    assert lines, f"{file_name} names no package"
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            pytest.fail(f"{file_name}: {line!r} is not a valid requirement: {error}")
        operators = {specifier.operator for specifier in requirement.specifier}
        assert operators & LOWER_BOUND_OPERATORS, f"{file_name}: {line!r} has no lower bound"
        assert operators & UPPER_BOUND_OPERATORS, f"{file_name}: {line!r} has no upper bound"


def test_requirements_list_runtime_packages() -> None:
    names = {
        canonicalize_name(Requirement(line).name)
        for line in requirement_lines(ROOT / "requirements.txt")
    }

    for package in RUNTIME_PACKAGES:
        assert canonicalize_name(package) in names, f"requirements.txt lacks {package}"


def test_dev_requirements_include_runtime() -> None:
    text = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]

    assert "-r requirements.txt" in lines, "requirements-dev.txt does not include requirements.txt"


def test_readme_config_table_matches_settings() -> None:
    """The README's configuration table is the one rendered from the settings table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    render_module = load_render_script()
    assert render_module.config_table() in readme, (
        "README.md's configuration table differs from SETTINGS; run "
        "python scripts/render_project_file.py"
    )
