"""Credential rotation: the pod checksum, the renewal warning and the wait for mounted secrets.

A certificate renewal replaces the key credential in Entra ID create-before-delete, so the new
credential is registered before the old one goes. The engine deletes replaced resources at the
end of an update, but the kubelet refreshes a mounted secret only on its next sync, up to about
a minute later. `MountRefreshWait` closes that gap: it sleeps after the certificate changes, so
the old credential is deleted only after the pods can see the new bundle. A password rotation
alone replaces no credential, so it does not wait, and the pods restart sooner.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from typing import Any

import pulumi
from pulumi import dynamic

CHECKSUM_ANNOTATION = "checksum/azure-federation"
"""Pod annotation whose change makes Helm roll the pods."""

MAX_MOUNT_REFRESH_SECONDS = 600


def startup_checksum(parts: dict[str, Any]) -> str:
    """Return a SHA-256 over what the pods read only when they start.

    The parts are the environment variables' sources and values and the volume definitions. The
    mounted bundle is left out on purpose: the kubelet updates it in place, with no restart.
    """
    encoded = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def password_fingerprint(password: str) -> str:
    """Return a digest that changes with the bundle password and does not reveal it.

    The password is 32 random letters and digits (about 190 bits), so its SHA-256 cannot be
    reversed. That matters because the checksum it feeds is public in the Helm values.
    """
    return hashlib.sha256(b"coder-azure-federation/password\0" + password.encode()).hexdigest()


def utc_now() -> datetime.datetime:
    """Return the current time in UTC. Tests replace this function to move the clock."""
    return datetime.datetime.now(datetime.UTC)


def renewal_state(
    validity_end_time: str, renewal_window_days: int, now: datetime.datetime | None = None
) -> str:
    """Return `expired`, `renewal-due` or `valid` for a certificate's end time (RFC 3339)."""
    moment = now or utc_now()
    end = parse_rfc3339(validity_end_time)
    if moment >= end:
        return "expired"
    if moment >= end - datetime.timedelta(days=renewal_window_days):
        return "renewal-due"
    return "valid"


def parse_rfc3339(text: str) -> datetime.datetime:
    """Parse an RFC 3339 UTC time, dropping any fraction of a second."""
    whole = text.split(".")[0].rstrip("Z")
    return datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)


class MountRefreshWaitProvider(dynamic.ResourceProvider):
    """Dynamic provider that sleeps when the certificate it watches has changed."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        # Nothing is mounted yet on the first run, so there is nothing to wait for.
        return dynamic.CreateResult(id_=str(props["certificate_sha256"])[:32], outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = any(
            olds.get(field) != news.get(field)
            for field in ("certificate_sha256", "password_fingerprint", "seconds")
        )
        return dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        certificate_changed = olds.get("certificate_sha256") != news.get("certificate_sha256")
        # With a new password too, every pod restarts and cannot open the new bundle until it
        # does, so waiting would only prolong that gap.
        password_changed = olds.get("password_fingerprint") != news.get("password_fingerprint")
        if certificate_changed and not password_changed:
            time.sleep(min(int(news["seconds"]), MAX_MOUNT_REFRESH_SECONDS))
        return dynamic.UpdateResult(outs=dict(news))


class MountRefreshWait(dynamic.Resource, module="rotation", name="MountRefreshWait"):
    """Waits after the certificate in the bundle secret changes, before the update goes on.

    NOTE: Pulumi's Python dynamic provider host loads the provider by importing this module
    under the name the program used: `components.rotation` from the project directory in this
    repository, `coder_azure_federation.rotation` from site-packages when installed.
    """

    certificate_sha256: pulumi.Output[str]
    password_fingerprint: pulumi.Output[str]
    seconds: pulumi.Output[int]

    def __init__(
        self,
        resource_name: str,
        certificate_sha256: pulumi.Input[str],
        password_fingerprint: pulumi.Input[str],
        seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            MountRefreshWaitProvider(),
            resource_name,
            {
                "certificate_sha256": certificate_sha256,
                "password_fingerprint": pulumi.Output.secret(password_fingerprint),
                "seconds": seconds,
            },
            opts,
        )
