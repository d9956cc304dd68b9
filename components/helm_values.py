"""Coder Helm values: the credential wiring the component owns, merged into the user's values.

The component adds five `ARM_*` environment variables, a secret volume with the bundle and its
mount to `coder.env`, `coder.volumes` and `coder.volumeMounts`. Everything else the user set is
kept as it is. Helm keeps chart values in plain text in its release record and Pulumi keeps them
in plain text in state, so secret values reach the pod only through `secretKeyRef` and the
secret volume, never as literal values.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

VOLUME_NAME = "azure-client-cert"
"""Name of the pod volume that contains the bundle, as in Coder's guide."""

ENV_CLIENT_ID = "ARM_CLIENT_ID"
ENV_TENANT_ID = "ARM_TENANT_ID"
ENV_SUBSCRIPTION_ID = "ARM_SUBSCRIPTION_ID"
ENV_CERTIFICATE_PATH = "ARM_CLIENT_CERTIFICATE_PATH"
ENV_CERTIFICATE_PASSWORD = "ARM_CLIENT_CERTIFICATE_PASSWORD"

OWNED_ENV = (
    ENV_CLIENT_ID,
    ENV_TENANT_ID,
    ENV_SUBSCRIPTION_ID,
    ENV_CERTIFICATE_PATH,
    ENV_CERTIFICATE_PASSWORD,
)
"""Variables azurerm reads for client-certificate authentication, set by the component."""

# Variables that would make azurerm pick another credential, or a second certificate, over the
# bundle. A user value with one of these names is rejected like an owned name.
COMPETING_ENV = ("ARM_CLIENT_CERTIFICATE", "ARM_CLIENT_SECRET")

_LISTS = ("env", "volumes", "volumeMounts")


@dataclass(frozen=True)
class OwnedValues:
    """Chart values the component sets, which the user's values must therefore leave alone."""

    env: tuple[str, ...] = OWNED_ENV
    competing_env: tuple[str, ...] = COMPETING_ENV
    volume_name: str = VOLUME_NAME
    mount_path: str = ""
    pod_annotations: tuple[str, ...] = ()
    pod_labels: tuple[str, ...] = ()
    service_account_annotations: tuple[str, ...] = ()


def owned_values(
    auth_mode: str, flavor: str, certificate_mount_path: str, token_mount_path: str
) -> OwnedValues:
    """Return what the component sets in the chart values for an authentication mode."""
    # Imported here because workload_identity builds on this module's names.
    from . import rotation, workload_identity

    annotations = (rotation.CHECKSUM_ANNOTATION,)
    if auth_mode == "certificate":
        return OwnedValues(mount_path=certificate_mount_path, pod_annotations=annotations)
    competing = (*COMPETING_ENV, ENV_CERTIFICATE_PATH, ENV_CERTIFICATE_PASSWORD)
    if flavor == "webhook":
        return OwnedValues(
            env=workload_identity.owned_env(flavor),
            competing_env=competing,
            volume_name="",
            pod_annotations=annotations,
            pod_labels=(workload_identity.WEBHOOK_LABEL,),
            service_account_annotations=(
                workload_identity.CLIENT_ID_ANNOTATION,
                workload_identity.TENANT_ID_ANNOTATION,
            ),
        )
    return OwnedValues(
        env=workload_identity.owned_env(flavor),
        competing_env=competing,
        volume_name=workload_identity.TOKEN_VOLUME_NAME,
        mount_path=token_mount_path,
        pod_annotations=annotations,
    )


def find_conflicts(user_values: Mapping[str, Any], owned: OwnedValues | str) -> list[str]:
    """Describe each place where the user's values clash with what the component sets.

    Returns an empty list when the values can be merged. Checks the shape of `coder.env`,
    `coder.volumes` and `coder.volumeMounts`, and the variable names and volume name the
    component owns. Also checks mount paths equal to, inside or above the component's mount
    path, and the pod annotations, pod labels and service account annotations it sets. A plain
    string for `owned` is the bundle's mount path in certificate mode.
    """
    if isinstance(owned, str):
        owned = OwnedValues(mount_path=owned)

    # Helm reads a null value as "use the chart's default", as a file with every entry commented
    # out produces, so null counts as empty here.
    problems: list[str] = []
    coder = user_values.get("coder") or {}
    if not isinstance(coder, Mapping):
        return [f"`coder` must be a mapping, got {type(coder).__name__}"]

    for field in _LISTS:
        items = coder.get(field) or []
        if not isinstance(items, list):
            problems.append(f"`coder.{field}` must be a list, got {type(items).__name__}")
            continue
        for index, item in enumerate(items):
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                problems.append(f"`coder.{field}[{index}]` must be a mapping with a `name`")
    if problems:
        return problems

    for index, variable in enumerate(coder.get("env") or []):
        name = variable["name"]
        if name in owned.env:
            problems.append(
                f"`coder.env[{index}]` sets {name}, which this component sets from the "
                "federation it creates; remove it from your values"
            )
        elif name in owned.competing_env:
            problems.append(
                f"`coder.env[{index}]` sets {name}, which would make azurerm use another "
                "credential instead of the one this component creates; remove it from your values"
            )

    for index, volume in enumerate(coder.get("volumes") or []):
        if owned.volume_name and volume["name"] == owned.volume_name:
            problems.append(
                f"`coder.volumes[{index}]` is named {owned.volume_name!r}, which this component "
                "uses for the credential; rename your volume"
            )

    ours = posixpath.normpath(owned.mount_path) if owned.mount_path else ""
    for index, mount in enumerate(coder.get("volumeMounts") or []):
        if owned.volume_name and mount["name"] == owned.volume_name:
            problems.append(
                f"`coder.volumeMounts[{index}]` mounts the volume {owned.volume_name!r}, which "
                "this component mounts itself; remove that mount"
            )
            continue
        theirs = mount.get("mountPath")
        if not ours or not isinstance(theirs, str):
            continue
        theirs = posixpath.normpath(theirs)
        if (
            theirs == ours
            or ours.startswith(theirs.rstrip("/") + "/")
            or theirs.startswith(ours + "/")
        ):
            problems.append(
                f"`coder.volumeMounts[{index}]` mounts {theirs}, which overlaps the component's "
                f"mount path {ours}; choose another path for one of them"
            )

    for path, keys in (
        ("podAnnotations", owned.pod_annotations),
        ("podLabels", owned.pod_labels),
        ("serviceAccount.annotations", owned.service_account_annotations),
    ):
        current: Any = coder
        for part in path.split("."):
            current = current.get(part) if isinstance(current, Mapping) else None
        if current is not None and not isinstance(current, Mapping):
            problems.append(f"`coder.{path}` must be a mapping, got {type(current).__name__}")
            continue
        for key in keys:
            if current and key in current:
                problems.append(
                    f"`coder.{path}` sets {key!r}, which this component sets; remove it from "
                    "your values"
                )
    return problems


def credential_env(
    secret_refs: Mapping[str, tuple[Any, Any]], certificate_path: str
) -> list[dict[str, Any]]:
    """Build the `ARM_*` variables: IDs and password by `secretKeyRef`, the path as a value.

    `secret_refs` maps each of ARM_CLIENT_ID, ARM_TENANT_ID, ARM_SUBSCRIPTION_ID and
    ARM_CLIENT_CERTIFICATE_PASSWORD to the (secret name, key) that contains its value.
    """
    env: list[dict[str, Any]] = []
    for name in OWNED_ENV:
        if name == ENV_CERTIFICATE_PATH:
            env.append({"name": name, "value": certificate_path})
            continue
        secret_name, key = secret_refs[name]
        env.append({"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}})
    return env


def bundle_volume(secret_name: Any) -> dict[str, Any]:
    """Build the pod volume that projects the bundle secret as files."""
    return {"name": VOLUME_NAME, "secret": {"secretName": secret_name}}


def bundle_volume_mount(mount_path: str) -> dict[str, Any]:
    """Build the read-only mount of the bundle volume.

    The whole directory is mounted, not a `subPath`, because the kubelet refreshes a directory
    mount in place when the secret changes and never refreshes a `subPath` mount.
    """
    return {"name": VOLUME_NAME, "mountPath": mount_path, "readOnly": True}


def merge_values(
    user_values: Mapping[str, Any],
    env: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
    volume_mounts: list[dict[str, Any]],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a copy of the user's values with the component's entries added under `coder`.

    `env`, `volumes` and `volume_mounts` are appended to the user's lists. `extra` contains
    mappings such as `podAnnotations` that are merged key by key into the user's. Call
    `find_conflicts` first: this function does not check for clashes.
    """
    merged = copy.deepcopy(dict(user_values))
    coder = dict(merged.get("coder") or {})
    for field, additions in (("env", env), ("volumes", volumes), ("volumeMounts", volume_mounts)):
        coder[field] = list(coder.get(field) or []) + additions
    _merge_mappings(coder, extra or {})
    merged["coder"] = coder
    return merged


def _merge_mappings(target: dict[str, Any], additions: Mapping[str, Any]) -> None:
    for key, value in additions.items():
        if isinstance(value, Mapping):
            nested = dict(target.get(key) or {})
            _merge_mappings(nested, value)
            target[key] = nested
        else:
            target[key] = value
