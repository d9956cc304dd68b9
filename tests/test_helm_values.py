"""Tests of the Helm values the component hands to Coder's release.

The values come from offline deployments under `tests.mocks`: the dev stack through
`__main__.py`, and the component with every secret name, key and the mount path changed.
The container fields that the values fill are validated against the Kubernetes 1.37 Pod schema
that kubernetes-validate bundles, so no network is used. Coder's chart ships no
values.schema.json, so the value keys are checked against the key list in
`tests/data/coder_chart_keys.json`. `find_conflicts` and `merge_values` are also tested alone.
"""

from __future__ import annotations

import copy
import json
import posixpath
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components import CoderAzureFederation
from components.helm_values import (
    bundle_volume,
    bundle_volume_mount,
    credential_env,
    find_conflicts,
    merge_values,
)
from tests.mocks import (
    APPLICATION,
    BUNDLE,
    RANDOM_PASSWORD,
    RELEASE,
    ROOT,
    SECRET,
    TENANT_ID,
    TLS_KEY,
    Deployment,
    deploy,
    run_main,
    stack_config,
)

KUBERNETES_VERSION = "1.37.0"
"""Newest Kubernetes version whose schemas kubernetes-validate 1.37 bundles."""

SUBSCRIPTION_ID = "6d1f0c8e-27b4-4a3f-9e55-3c8a1b7d2f40"
CHART_VERSION = "2.34.0"
CHART_KEYS_FILE = Path(__file__).resolve().parent / "data" / "coder_chart_keys.json"
DEV_STACK_FILE = ROOT / "Pulumi.dev.yaml"
DEV_VALUES_FILE = ROOT / "coder-values.dev.yaml"

# Expected values of the dev stack, written out here instead of read from the product.
VOLUME_NAME = "azure-client-cert"
MOUNT_PATH = "/home/coder/az"
BUNDLE_FILE = "/home/coder/az/client.pfx"
BUNDLE_SECRET = "azure-client-cert-secret"
ARM_PATH = "ARM_CLIENT_CERTIFICATE_PATH"
DEFAULT_REFS: dict[str, tuple[str, str]] = {
    "ARM_CLIENT_ID": ("arm-client-id", "id"),
    "ARM_TENANT_ID": ("arm-tenant-id", "id"),
    "ARM_SUBSCRIPTION_ID": ("arm-subscription-id", "id"),
    "ARM_CLIENT_CERTIFICATE_PASSWORD": ("arm-client-cert-password", "password"),
}
ARM_NAMES = (*DEFAULT_REFS, ARM_PATH)

# The component with every name, key and the mount path changed. The mount path ends in a slash
# so that a double slash in the bundle's file path would fail the tests.
CUSTOM_MOUNT_INPUT = "/etc/coder/azure/"
CUSTOM_MOUNT_PATH = "/etc/coder/azure"
CUSTOM_BUNDLE_KEY = "provisioner.pfx"
CUSTOM_BUNDLE_SECRET = "coder-azure-bundle"
CUSTOM_REFS: dict[str, tuple[str, str]] = {
    "ARM_CLIENT_ID": ("coder-azure-client", "client-id"),
    "ARM_TENANT_ID": ("coder-azure-tenant", "tenant-id"),
    "ARM_SUBSCRIPTION_ID": ("coder-azure-subscription", "subscription-id"),
    "ARM_CLIENT_CERTIFICATE_PASSWORD": ("coder-azure-bundle-password", "bundle-password"),
}
CUSTOM_USER_VALUES: dict[str, Any] = {
    "coder": {
        "env": [{"name": "CODER_ACCESS_URL", "value": "https://coder.example.org"}],
        "volumes": [{"name": "cache", "emptyDir": {}}],
        "volumeMounts": [{"name": "cache", "mountPath": "/home/coder/.cache"}],
        "service": {"type": "LoadBalancer"},
    }
}
CUSTOM_ARGS: dict[str, Any] = {
    "subscription_id": SUBSCRIPTION_ID,
    "chart_version": CHART_VERSION,
    "namespace": "coder-custom",
    "bundle_secret_name": CUSTOM_BUNDLE_SECRET,
    "bundle_secret_key": CUSTOM_BUNDLE_KEY,
    "client_id_secret_name": CUSTOM_REFS["ARM_CLIENT_ID"][0],
    "client_id_secret_key": CUSTOM_REFS["ARM_CLIENT_ID"][1],
    "tenant_id_secret_name": CUSTOM_REFS["ARM_TENANT_ID"][0],
    "tenant_id_secret_key": CUSTOM_REFS["ARM_TENANT_ID"][1],
    "subscription_id_secret_name": CUSTOM_REFS["ARM_SUBSCRIPTION_ID"][0],
    "subscription_id_secret_key": CUSTOM_REFS["ARM_SUBSCRIPTION_ID"][1],
    "password_secret_name": CUSTOM_REFS["ARM_CLIENT_CERTIFICATE_PASSWORD"][0],
    "password_secret_key": CUSTOM_REFS["ARM_CLIENT_CERTIFICATE_PASSWORD"][1],
    "certificate_mount_path": CUSTOM_MOUNT_INPUT,
    "coder_values": CUSTOM_USER_VALUES,
}

# Pod volume fields that name a data source. The API server requires exactly one per volume.
VOLUME_SOURCES = frozenset(
    {
        "awsElasticBlockStore",
        "azureDisk",
        "azureFile",
        "cephfs",
        "cinder",
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "fc",
        "flexVolume",
        "flocker",
        "gcePersistentDisk",
        "gitRepo",
        "glusterfs",
        "hostPath",
        "image",
        "iscsi",
        "nfs",
        "persistentVolumeClaim",
        "photonPersistentDisk",
        "portworxVolume",
        "projected",
        "quobyte",
        "rbd",
        "scaleIO",
        "secret",
        "storageos",
        "vsphereVolume",
    }
)


# Fixtures


@pytest.fixture(scope="module")
def dev_deployment() -> Deployment:
    """Deploy the dev stack offline, with a subscription ID in place of the placeholder."""
    config = stack_config(DEV_STACK_FILE, {"subscriptionId": SUBSCRIPTION_ID})
    deployment = deploy(run_main, config=config)
    assert deployment.mocks.rejections == [], (
        f"the mocks rejected requests of the dev stack: {deployment.mocks.rejections}"
    )
    return deployment


@pytest.fixture(scope="module")
def custom_deployment() -> Deployment:
    """Deploy the component alone, with every secret name, key and the mount path changed."""
    deployment = deploy(lambda: CoderAzureFederation("custom", copy.deepcopy(CUSTOM_ARGS)))
    assert deployment.mocks.rejections == [], (
        f"the mocks rejected requests of the custom deployment: {deployment.mocks.rejections}"
    )
    return deployment


@pytest.fixture(scope="module")
def dev_values(dev_deployment: Deployment) -> dict[str, Any]:
    """Return the Helm values the dev stack sends with the release."""
    return dev_deployment.one(RELEASE).plain_inputs["values"]


@pytest.fixture(scope="module")
def custom_values(custom_deployment: Deployment) -> dict[str, Any]:
    """Return the Helm values the custom deployment sends with the release."""
    return custom_deployment.one(RELEASE).plain_inputs["values"]


@pytest.fixture(scope="module")
def dev_user_values() -> dict[str, Any]:
    """Return the dev stack's own Coder values, read from its file."""
    return yaml.safe_load(DEV_VALUES_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def coder_chart_keys() -> list[str]:
    """Return the value keys of the `coder` chart from the test data file.

    NOTE: the list was read from an older copy of the chart (the v2.15 line) than the 2.34.0
    that the dev stack installs, so a key that a later chart renamed would go unnoticed.
    """
    data = json.loads(CHART_KEYS_FILE.read_text(encoding="utf-8"))
    return data["charts"]["coder"]["keys"]


# Helpers


def pod_manifest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Build a Pod whose Coder container takes its env, mounts and volumes from the values."""
    coder = values["coder"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "coder", "namespace": "coder"},
        "spec": {
            "containers": [
                {
                    "name": "coder",
                    "image": f"ghcr.io/coder/coder:v{CHART_VERSION}",
                    "env": copy.deepcopy(coder["env"]),
                    "volumeMounts": copy.deepcopy(coder["volumeMounts"]),
                }
            ],
            "volumes": copy.deepcopy(coder["volumes"]),
        },
    }


def validate_pod(manifest: dict[str, Any]) -> str:
    """Validate a Pod strictly against the bundled schema and return the schema version used."""
    return kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def api_server_problems(manifest: Mapping[str, Any]) -> list[str]:
    """List breaches of API server rules that the OpenAPI schema does not express.

    The schema leaves a secretKeyRef's `name` optional and does not limit a volume's sources.
    The API server rejects an empty secret name, a volume with no source or several, a repeated
    volume name and a mount of a volume the pod does not have. Only these rules are checked.
    """
    problems: list[str] = []
    spec = manifest["spec"]
    volumes = spec.get("volumes") or []
    volume_names = [volume.get("name") for volume in volumes]
    for volume in volumes:
        sources = sorted(VOLUME_SOURCES & set(volume))
        if len(sources) != 1:
            problems.append(f"volume {volume.get('name')!r} has sources {sources}")
    for name in set(volume_names):
        if volume_names.count(name) > 1:
            problems.append(f"volume name {name!r} is used {volume_names.count(name)} times")
    for container in spec["containers"]:
        for variable in container.get("env") or []:
            reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
            if reference is not None and not reference.get("name"):
                problems.append(f"env {variable.get('name')!r} refers to a secret with no name")
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") not in volume_names:
                problems.append(f"mount {mount.get('mountPath')!r} names no volume of the pod")
    return problems


def env_entries(values: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """Return every `coder.env` entry with the given name."""
    return [entry for entry in values["coder"]["env"] if entry.get("name") == name]


def only_env(values: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Return the single `coder.env` entry with the given name."""
    found = env_entries(values, name)
    assert len(found) == 1, f"expected one env entry {name}, found {len(found)}: {found}"
    return found[0]


def only_named(items: list[dict[str, Any]], name: str, kind: str) -> dict[str, Any]:
    """Return the single item of a list of named mappings with the given name."""
    found = [item for item in items if item.get("name") == name]
    assert len(found) == 1, f"expected one {kind} named {name}, found {len(found)}: {items}"
    return found[0]


def value_paths(values: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Yield the dotted path of every leaf and every list in nested values."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from value_paths(value, f"{path}.")
        else:
            yield path


def windows(text: str, size: int) -> set[str]:
    """Return every substring of `text` that is `size` characters long."""
    return {text[start : start + size] for start in range(len(text) - size + 1)}


def secrets_by_name(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """Return the Kubernetes secrets a deployment registered, keyed by metadata name."""
    return {
        item.plain_inputs["metadata"]["name"]: item.plain_outputs
        for item in deployment.of_type(SECRET)
    }


def component_parts() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Build the env, volume and mount the component adds, with default names."""
    env = credential_env(DEFAULT_REFS, BUNDLE_FILE)
    return env, [bundle_volume(BUNDLE_SECRET)], [bundle_volume_mount(MOUNT_PATH)]


# Kubernetes schema


def test_pod_passes_strict_schema(dev_values: dict[str, Any]) -> None:
    manifest = pod_manifest(dev_values)
    version = validate_pod(manifest)
    assert version == "1.37", f"validated against Kubernetes {version}, expected 1.37"


def test_pod_meets_api_server_rules(dev_values: dict[str, Any]) -> None:
    problems = api_server_problems(pod_manifest(dev_values))
    assert problems == [], f"the pod breaks API server rules: {problems}"


def _drop_secret_key(manifest: dict[str, Any]) -> None:
    container = manifest["spec"]["containers"][0]
    reference = only_named(container["env"], "ARM_CLIENT_ID", "env entry")
    del reference["valueFrom"]["secretKeyRef"]["key"]


def _read_only_as_text(manifest: dict[str, Any]) -> None:
    container = manifest["spec"]["containers"][0]
    only_named(container["volumeMounts"], VOLUME_NAME, "mount")["readOnly"] = "yes"


def _misspell_secret_name(manifest: dict[str, Any]) -> None:
    volume = only_named(manifest["spec"]["volumes"], VOLUME_NAME, "volume")
    volume["secret"] = {"secretname": BUNDLE_SECRET}


def _drop_mount_path(manifest: dict[str, Any]) -> None:
    container = manifest["spec"]["containers"][0]
    del only_named(container["volumeMounts"], VOLUME_NAME, "mount")["mountPath"]


def _unknown_value_source(manifest: dict[str, Any]) -> None:
    container = manifest["spec"]["containers"][0]
    entry = only_named(container["env"], "ARM_TENANT_ID", "env entry")
    entry["valueFrom"] = {"secretRef": {"name": "arm-tenant-id", "key": "id"}}


def _path_as_number(manifest: dict[str, Any]) -> None:
    container = manifest["spec"]["containers"][0]
    only_named(container["env"], ARM_PATH, "env entry")["value"] = 1


SCHEMA_BREAKAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "secretKeyRef without key": _drop_secret_key,
    "readOnly as text": _read_only_as_text,
    "misspelled secretName": _misspell_secret_name,
    "mount without mountPath": _drop_mount_path,
    "unknown valueFrom field": _unknown_value_source,
    "env value not a string": _path_as_number,
}


@pytest.mark.parametrize("breakage", list(SCHEMA_BREAKAGES), ids=list(SCHEMA_BREAKAGES))
def test_schema_rejects_broken_pod(dev_values: dict[str, Any], breakage: str) -> None:
    manifest = pod_manifest(dev_values)
    SCHEMA_BREAKAGES[breakage](manifest)
    assert manifest != pod_manifest(dev_values), f"{breakage}: the mutation changed nothing"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_pod(manifest)


def _drop_secret_name(manifest: dict[str, Any]) -> None:
    container = manifest["spec"]["containers"][0]
    reference = only_named(container["env"], "ARM_CLIENT_ID", "env entry")
    del reference["valueFrom"]["secretKeyRef"]["name"]


def _drop_volume_source(manifest: dict[str, Any]) -> None:
    del only_named(manifest["spec"]["volumes"], VOLUME_NAME, "volume")["secret"]


def _add_second_source(manifest: dict[str, Any]) -> None:
    only_named(manifest["spec"]["volumes"], VOLUME_NAME, "volume")["emptyDir"] = {}


def _repeat_volume(manifest: dict[str, Any]) -> None:
    volumes = manifest["spec"]["volumes"]
    volumes.append(copy.deepcopy(only_named(volumes, VOLUME_NAME, "volume")))


def _mount_unknown_volume(manifest: dict[str, Any]) -> None:
    container = manifest["spec"]["containers"][0]
    only_named(container["volumeMounts"], VOLUME_NAME, "mount")["name"] = "no-such-volume"


API_BREAKAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "secretKeyRef without name": _drop_secret_name,
    "volume without source": _drop_volume_source,
    "volume with two sources": _add_second_source,
    "repeated volume name": _repeat_volume,
    "mount of unknown volume": _mount_unknown_volume,
}


@pytest.mark.parametrize("breakage", list(API_BREAKAGES), ids=list(API_BREAKAGES))
def test_api_rules_reject_broken_pod(dev_values: dict[str, Any], breakage: str) -> None:
    manifest = pod_manifest(dev_values)
    API_BREAKAGES[breakage](manifest)
    assert manifest != pod_manifest(dev_values), f"{breakage}: the mutation changed nothing"
    assert api_server_problems(manifest) != [], (
        f"{breakage}: the API server rule check accepted the broken pod"
    )


# Chart keys


def test_chart_key_file_lists_component_keys(coder_chart_keys: list[str]) -> None:
    for key in ("coder.env", "coder.volumes", "coder.volumeMounts"):
        assert key in coder_chart_keys, f"{key} is missing from {CHART_KEYS_FILE.name}"


@pytest.mark.parametrize("deployment_values", ["dev_values", "custom_values"])
def test_values_use_chart_keys(
    request: pytest.FixtureRequest, coder_chart_keys: list[str], deployment_values: str
) -> None:
    values: dict[str, Any] = request.getfixturevalue(deployment_values)
    paths = sorted(value_paths(values))
    for required in ("coder.env", "coder.volumes", "coder.volumeMounts", "coder.service.type"):
        assert required in paths, f"{deployment_values}: expected a value at {required}: {paths}"
    for path in paths:
        covered = any(path == key or path.startswith(f"{key}.") for key in coder_chart_keys)
        assert covered, (
            f"{deployment_values}: {path} is not a value key of the coder chart "
            f"(not found in {CHART_KEYS_FILE.name})"
        )


# The credential variables, volume and mount


def test_arm_variables_set_once(dev_values: dict[str, Any]) -> None:
    for name in ARM_NAMES:
        count = len(env_entries(dev_values, name))
        assert count == 1, f"{name} appears {count} times in coder.env"


def test_ids_and_password_use_secret_refs(dev_values: dict[str, Any]) -> None:
    for name, (secret_name, key) in DEFAULT_REFS.items():
        entry = only_env(dev_values, name)
        assert "value" not in entry, f"{name} has a literal value: {entry}"
        expected = {"secretKeyRef": {"name": secret_name, "key": key}}
        assert entry.get("valueFrom") == expected, f"{name} should read {expected}: {entry}"


def test_certificate_path_names_bundle_file(dev_values: dict[str, Any]) -> None:
    entry = only_env(dev_values, ARM_PATH)
    assert "valueFrom" not in entry, f"{ARM_PATH} should be a literal path: {entry}"
    path = entry.get("value")
    assert path == BUNDLE_FILE, f"{ARM_PATH} is {path!r}, expected {BUNDLE_FILE}"
    assert isinstance(path, str), f"{ARM_PATH} is not a string: {path!r}"
    assert path.endswith(".pfx"), f"{ARM_PATH} {path!r} does not end in .pfx"
    assert path != MOUNT_PATH, f"{ARM_PATH} names the mount directory, not the bundle file"


def test_bundle_mount_is_read_only_directory(dev_values: dict[str, Any]) -> None:
    mount = only_named(dev_values["coder"]["volumeMounts"], VOLUME_NAME, "mount")
    assert mount.get("mountPath") == MOUNT_PATH, f"bundle mount path: {mount}"
    assert mount.get("readOnly") is True, f"bundle mount is not read-only: {mount}"
    assert "subPath" not in mount, f"a subPath mount never sees secret updates: {mount}"
    assert "subPathExpr" not in mount, f"a subPathExpr mount never sees secret updates: {mount}"
    path = only_env(dev_values, ARM_PATH)["value"]
    assert posixpath.dirname(path) == mount["mountPath"], (
        f"{ARM_PATH} {path} is not directly inside the mount {mount['mountPath']}"
    )


def test_bundle_volume_uses_bundle_secret(dev_values: dict[str, Any]) -> None:
    volume = only_named(dev_values["coder"]["volumes"], VOLUME_NAME, "volume")
    expected = {"name": VOLUME_NAME, "secret": {"secretName": BUNDLE_SECRET}}
    assert volume == expected, f"bundle volume is {volume}, expected {expected}"


@pytest.mark.parametrize("which", ["dev", "custom"])
def test_secret_refs_name_real_secrets(request: pytest.FixtureRequest, which: str) -> None:
    deployment: Deployment = request.getfixturevalue(f"{which}_deployment")
    values: dict[str, Any] = request.getfixturevalue(f"{which}_values")
    secrets = secrets_by_name(deployment)
    namespace = deployment.one(RELEASE).plain_inputs["namespace"]
    for name in DEFAULT_REFS:
        reference = only_env(values, name)["valueFrom"]["secretKeyRef"]
        secret = secrets.get(reference["name"])
        assert secret is not None, f"{which}: {name} refers to a secret not found: {reference}"
        assert reference["key"] in secret["data"], (
            f"{which}: key {reference['key']} missing from secret {reference['name']}"
        )
        assert secret["metadata"]["namespace"] == namespace, (
            f"{which}: secret {reference['name']} is not in the release namespace {namespace}"
        )
    volume = only_named(values["coder"]["volumes"], VOLUME_NAME, "volume")
    bundle_secret = secrets.get(volume["secret"]["secretName"])
    assert bundle_secret is not None, f"{which}: the bundle volume's secret not found: {volume}"
    file_name = posixpath.basename(only_env(values, ARM_PATH)["value"])
    assert file_name in bundle_secret["data"], (
        f"{which}: key {file_name} missing from the bundle secret, so the file would not exist"
    )


# No secret values


def test_values_hold_no_secrets(dev_deployment: Deployment, dev_values: dict[str, Any]) -> None:
    text = json.dumps(dev_values)
    password = dev_deployment.one(RANDOM_PASSWORD).plain_outputs["result"]
    key = dev_deployment.one(TLS_KEY).plain_outputs
    bundle = dev_deployment.one(BUNDLE).plain_outputs["pfx_base64"]
    client_id = dev_deployment.one(APPLICATION).plain_outputs["clientId"]

    assert password and password not in text, "the bundle password is in the Helm values"
    for field in ("privateKeyPem", "privateKeyPemPkcs8"):
        assert key[field] not in text, f"the private key ({field}) is in the Helm values"
        body = [line for line in key[field].splitlines() if len(line) > 40]
        leaked = [line for line in body if line in text]
        assert leaked == [], f"lines of the private key ({field}) are in the Helm values"
    shared = windows(bundle, 41) & windows(text, 41)
    assert shared == set(), f"{len(shared)} pieces of the bundle's base64 are in the Helm values"
    for name, value in (
        ("client ID", client_id),
        ("tenant ID", TENANT_ID),
        ("subscription ID", SUBSCRIPTION_ID),
    ):
        assert value not in text, f"the {name} {value} is written into the Helm values"
    for name in DEFAULT_REFS:
        entry = only_env(dev_values, name)
        assert "value" not in entry, f"{name} carries a literal value: {entry}"


# Merging with the user's values


def test_release_keeps_dev_values(
    dev_values: dict[str, Any], dev_user_values: dict[str, Any]
) -> None:
    user_env = dev_user_values["coder"]["env"]
    names = [entry["name"] for entry in user_env]
    assert names == ["CODER_PG_CONNECTION_URL", "CODER_ACCESS_URL"], (
        f"the dev values file changed; this test expects its two variables: {names}"
    )
    env = dev_values["coder"]["env"]
    assert env[: len(user_env)] == user_env, f"the dev variables are not first and unchanged: {env}"
    added = sorted(entry["name"] for entry in env[len(user_env) :])
    assert added == sorted(ARM_NAMES), f"only the ARM_* variables should follow the user's: {env}"
    service_type = dev_values["coder"].get("service", {}).get("type")
    assert service_type == "ClusterIP", f"coder.service.type became {service_type!r}"
    assert set(dev_values) == set(dev_user_values), (
        f"top-level keys changed: {sorted(dev_values)} from {sorted(dev_user_values)}"
    )


def test_dev_values_have_no_conflicts(dev_user_values: dict[str, Any]) -> None:
    problems = find_conflicts(dev_user_values, MOUNT_PATH)
    assert problems == [], f"the dev values clash with the component's: {problems}"


def test_merge_appends_after_user_entries(dev_user_values: dict[str, Any]) -> None:
    user = copy.deepcopy(dev_user_values)
    user["coder"]["volumes"] = [{"name": "cache", "emptyDir": {}}]
    user["coder"]["volumeMounts"] = [{"name": "cache", "mountPath": "/home/coder/.cache"}]
    user["provisionerDaemon"] = {"pskSecretName": "coder-psk"}
    env, volumes, mounts = component_parts()

    merged = merge_values(user, env=env, volumes=volumes, volume_mounts=mounts)

    coder = merged["coder"]
    assert coder["env"] == user["coder"]["env"] + env, f"env is not user's then ours: {coder}"
    assert coder["volumes"] == user["coder"]["volumes"] + volumes, f"volumes: {coder['volumes']}"
    assert coder["volumeMounts"] == user["coder"]["volumeMounts"] + mounts, (
        f"volumeMounts: {coder['volumeMounts']}"
    )
    assert coder["service"] == {"type": "ClusterIP"}, f"coder.service changed: {coder}"
    assert merged["provisionerDaemon"] == {"pskSecretName": "coder-psk"}, (
        f"a top-level key of the user was lost: {merged}"
    )


def test_merge_leaves_input_unchanged(dev_user_values: dict[str, Any]) -> None:
    user = copy.deepcopy(dev_user_values)
    user["coder"]["volumes"] = [{"name": "cache", "emptyDir": {}}]
    before = copy.deepcopy(user)
    env, volumes, mounts = component_parts()

    merged = merge_values(user, env=env, volumes=volumes, volume_mounts=mounts)
    assert user == before, f"merge_values changed its input: {user}"

    merged["coder"]["env"][0]["name"] = "CHANGED"
    merged["coder"]["volumes"][0]["emptyDir"]["medium"] = "Memory"
    merged["coder"]["service"]["type"] = "NodePort"
    assert user == before, f"the merged values share nested objects with the input: {user}"


def test_merge_without_user_values() -> None:
    env, volumes, mounts = component_parts()
    merged = merge_values({}, env=env, volumes=volumes, volume_mounts=mounts)
    expected = {"coder": {"env": env, "volumes": volumes, "volumeMounts": mounts}}
    assert merged == expected, f"empty user values merged into {merged}"


# find_conflicts


CONFLICTS: dict[str, tuple[dict[str, Any], str]] = {
    "owned env name": (
        {"coder": {"env": [{"name": "ARM_TENANT_ID", "value": "x"}]}},
        "ARM_TENANT_ID",
    ),
    "competing client secret": (
        {"coder": {"env": [{"name": "ARM_CLIENT_SECRET", "value": "x"}]}},
        "ARM_CLIENT_SECRET",
    ),
    "volume name clash": (
        {"coder": {"volumes": [{"name": VOLUME_NAME, "emptyDir": {}}]}},
        VOLUME_NAME,
    ),
    "mount of component volume": (
        {"coder": {"volumeMounts": [{"name": VOLUME_NAME, "mountPath": "/mnt/cert"}]}},
        VOLUME_NAME,
    ),
    "same mount path": (
        {"coder": {"volumeMounts": [{"name": "other", "mountPath": MOUNT_PATH}]}},
        MOUNT_PATH,
    ),
    "same path with slash": (
        {"coder": {"volumeMounts": [{"name": "other", "mountPath": f"{MOUNT_PATH}/"}]}},
        MOUNT_PATH,
    ),
    "parent mount path": (
        {"coder": {"volumeMounts": [{"name": "home", "mountPath": "/home/coder"}]}},
        "/home/coder",
    ),
    "root mount path": (
        {"coder": {"volumeMounts": [{"name": "root", "mountPath": "/"}]}},
        "coder.volumeMounts[0]",
    ),
    "child mount path": (
        {"coder": {"volumeMounts": [{"name": "sub", "mountPath": "/home/coder/az/sub"}]}},
        "/home/coder/az/sub",
    ),
    "env not a list": (
        {"coder": {"env": {"name": "CODER_ACCESS_URL", "value": "x"}}},
        "coder.env",
    ),
    "volume without name": (
        {"coder": {"volumes": [{"emptyDir": {}}]}},
        "coder.volumes[0]",
    ),
    "env item not mapping": (
        {"coder": {"env": ["CODER_ACCESS_URL=x"]}},
        "coder.env[0]",
    ),
    "coder not a mapping": (
        {"coder": ["env"]},
        "coder",
    ),
}


@pytest.mark.parametrize("case", list(CONFLICTS), ids=list(CONFLICTS))
def test_conflict_is_reported(case: str) -> None:
    values, culprit = CONFLICTS[case]
    problems = find_conflicts(values, MOUNT_PATH)
    assert problems != [], f"{case}: no conflict reported for {values}"
    assert any(culprit in problem for problem in problems), (
        f"{case}: no problem names {culprit!r}: {problems}"
    )


def test_conflicts_point_at_right_entry() -> None:
    values = {
        "coder": {
            "env": [
                {"name": "CODER_ACCESS_URL", "value": "https://coder.example.org"},
                {"name": "ARM_CLIENT_ID", "value": "x"},
            ]
        }
    }
    problems = find_conflicts(values, MOUNT_PATH)
    assert len(problems) == 1, f"expected one problem, got {problems}"
    assert "coder.env[1]" in problems[0], f"the problem should name coder.env[1]: {problems}"


HARMLESS: dict[str, dict[str, Any]] = {
    "empty values": {},
    "empty coder": {"coder": {}},
    "sibling mount path": {
        "coder": {"volumeMounts": [{"name": "other", "mountPath": "/home/coder/other"}]}
    },
    "sibling with shared prefix": {
        "coder": {"volumeMounts": [{"name": "azure", "mountPath": "/home/coder/azure"}]}
    },
    "unrelated variables": {
        "coder": {"env": [{"name": "CODER_ACCESS_URL", "value": "https://coder.example.org"}]}
    },
}


@pytest.mark.parametrize("case", list(HARMLESS), ids=list(HARMLESS))
def test_harmless_values_accepted(case: str) -> None:
    problems = find_conflicts(HARMLESS[case], MOUNT_PATH)
    assert problems == [], f"{case}: unexpected conflicts {problems}"


# Custom settings


def test_custom_refs_follow_settings(custom_values: dict[str, Any]) -> None:
    for name, (secret_name, key) in CUSTOM_REFS.items():
        entry = only_env(custom_values, name)
        expected = {"secretKeyRef": {"name": secret_name, "key": key}}
        assert entry.get("valueFrom") == expected, f"{name} should read {expected}: {entry}"


def test_custom_path_follows_settings(custom_values: dict[str, Any]) -> None:
    expected_file = f"{CUSTOM_MOUNT_PATH}/{CUSTOM_BUNDLE_KEY}"
    path = only_env(custom_values, ARM_PATH).get("value")
    assert path == expected_file, f"{ARM_PATH} is {path!r}, expected {expected_file}"
    mount = only_named(custom_values["coder"]["volumeMounts"], VOLUME_NAME, "mount")
    assert mount.get("mountPath") == CUSTOM_MOUNT_PATH, f"bundle mount path: {mount}"
    assert mount.get("readOnly") is True, f"bundle mount is not read-only: {mount}"
    volume = only_named(custom_values["coder"]["volumes"], VOLUME_NAME, "volume")
    assert volume.get("secret") == {"secretName": CUSTOM_BUNDLE_SECRET}, (
        f"bundle volume should use {CUSTOM_BUNDLE_SECRET}: {volume}"
    )


def test_custom_values_keep_user_entries(custom_values: dict[str, Any]) -> None:
    user = CUSTOM_USER_VALUES["coder"]
    coder = custom_values["coder"]
    for field in ("env", "volumes", "volumeMounts"):
        leading = coder[field][: len(user[field])]
        assert leading == user[field], (
            f"coder.{field} does not start with the user's entries: {coder[field]}"
        )
    assert [volume["name"] for volume in coder["volumes"]] == ["cache", VOLUME_NAME], (
        f"the bundle volume should follow the user's: {coder['volumes']}"
    )
    assert coder.get("service") == {"type": "LoadBalancer"}, f"coder.service changed: {coder}"


def test_custom_pod_passes_checks(custom_values: dict[str, Any]) -> None:
    manifest = pod_manifest(custom_values)
    version = validate_pod(manifest)
    assert version == "1.37", f"validated against Kubernetes {version}, expected 1.37"
    problems = api_server_problems(manifest)
    assert problems == [], f"the custom pod breaks API server rules: {problems}"
