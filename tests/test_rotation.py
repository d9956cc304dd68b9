"""Tests of credential rotation: renewal, on-demand rotation, the pod checksum and the waits.

Each scenario runs the component twice offline. The second run passes the first as `prior`,
so the mock engine replays what `pulumi up` would do with the state the first run left, and
records each resource's step (create, same, update, replace, delete-replace, delete-replaced).
The mock clock (`now`) decides when certificates start and when pulumi-tls flags a renewal.
"""

from __future__ import annotations

import base64
import datetime
import logging
from typing import Any

import pytest
from cryptography import x509
from pulumi.runtime.mocks import MockEngine
from pulumi.runtime.proto import engine_pb2

from components import CoderAzureFederation
from components.rotation import (
    CHECKSUM_ANNOTATION,
    MAX_MOUNT_REFRESH_SECONDS,
    MountRefreshWaitProvider,
    renewal_state,
)
from tests.decoders import openssl_pkcs12_contents
from tests.mocks import (
    BUNDLE,
    COMPONENT,
    CREDENTIAL,
    MOUNT_REFRESH_WAIT,
    RANDOM_PASSWORD,
    RELEASE,
    ROLE_ASSIGNMENT,
    SECRET,
    SECRET_PATCH,
    TLS_CERT,
    TLS_KEY,
    Deployment,
    deploy,
    unwrap,
)

SUBSCRIPTION_ID = "8c3e5f27-1d4a-4b9e-a6f0-2e7d9c1b3a54"
OTHER_SUBSCRIPTION_ID = "d0b7a9e1-6c2f-4e83-9a15-7f4b2c8e0d36"
CHART_VERSION = "2.34.0"
T0 = datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
# With the default certificateValidityDays (730) and renewalWindowDays (30), the renewal window
# opens on day 700 after issue and the certificate expires on day 730.
INSIDE_WINDOW = 710
OUTSIDE_WINDOW = 100

NAME = "fed"
KEY = f"{NAME}-key"
CERT = f"{NAME}-cert"
PASSWORD = f"{NAME}-bundle-password"
BUNDLE_NAME = f"{NAME}-bundle"
CREDENTIAL_NAME = f"{NAME}-credential"
BUNDLE_SECRET = f"{NAME}-bundle-secret"
BUNDLE_PATCH = f"{NAME}-bundle-secret-content"
PASSWORD_SECRET = f"{NAME}-password-secret"
PASSWORD_PATCH = f"{NAME}-password-secret-content"
ID_SECRETS = (
    f"{NAME}-client-id-secret",
    f"{NAME}-tenant-id-secret",
    f"{NAME}-subscription-id-secret",
)
MOUNT_REFRESH = f"{NAME}-mount-refresh"
RELEASE_NAME = f"{NAME}-release"
BUNDLE_KEY = "client.pfx"

WarningRecord = tuple[str, str]
"""(message, URN of the resource the warning is attached to)."""


def run_federation(
    prior: Deployment | None = None,
    now: datetime.datetime = T0,
    refresh: bool = True,
    **overrides: Any,
) -> Deployment:
    """Deploy the component at mock time `now`, with 2048-bit keys to keep the tests fast."""
    args: dict[str, Any] = {
        "subscription_id": SUBSCRIPTION_ID,
        "chart_version": CHART_VERSION,
        "certificate_key_size": 2048,
        **overrides,
    }
    deployment = deploy(
        lambda: CoderAzureFederation(NAME, dict(args)),  # type: ignore[arg-type]
        prior=prior,
        now=now,
        refresh=refresh,
    )
    assert deployment.mocks.rejections == [], deployment.mocks.rejections
    return deployment


def run_recording_warnings(**kwargs: Any) -> tuple[Deployment, list[WarningRecord]]:
    """Deploy like `run_federation` and return each engine warning with its resource's URN.

    `Deployment.logs` keeps only the message, because the stock mock engine drops the URN of a
    log request, so the engine's `Log` is wrapped here to keep it.
    """
    warnings: list[WarningRecord] = []
    original_log = MockEngine.Log

    def log(engine: MockEngine, request: Any) -> None:
        if request.severity == engine_pb2.WARNING:
            warnings.append((request.message, request.urn))
        original_log(engine, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MockEngine, "Log", log)
        deployment = run_federation(**kwargs)
    return deployment, warnings


def step_of(deployment: Deployment, name: str) -> str:
    """Return the step the second run took for a resource (not its later delete-replaced)."""
    found = [step for step, resource in deployment.mocks.steps if resource == name]
    assert found, f"{name} has no step; steps: {deployment.mocks.steps}"
    return found[0]


def step_index(deployment: Deployment, step: str, name: str) -> int:
    """Return the position of one step in the engine's order."""
    steps = deployment.mocks.steps
    assert (step, name) in steps, f"no ({step}, {name}) in steps: {steps}"
    return steps.index((step, name))


def release_checksum(deployment: Deployment) -> str:
    """Return the pod checksum annotation that the Helm release sets."""
    values = deployment.named(RELEASE_NAME).plain_inputs["values"]
    return values["coder"]["podAnnotations"][CHECKSUM_ANNOTATION]


def bundle_bytes(deployment: Deployment) -> bytes:
    """Return the PKCS#12 bundle that the dynamic bundle resource returned."""
    return base64.b64decode(deployment.one(BUNDLE).plain_outputs["pfx_base64"])


def password_of(deployment: Deployment) -> str:
    return deployment.named(PASSWORD).plain_outputs["result"]


def certificate_of(deployment: Deployment) -> x509.Certificate:
    pem = deployment.named(CERT).plain_outputs["certPem"]
    return x509.load_pem_x509_certificate(pem.encode())


# Scenarios. Every second run starts from the state `first_run` left at T0.


@pytest.fixture(scope="module")
def first_run() -> Deployment:
    return run_federation()


@pytest.fixture(scope="module")
def renewed(first_run: Deployment) -> Deployment:
    """Second run inside the renewal window, with refresh on: the certificate is renewed."""
    return run_federation(prior=first_run, now=T0 + INSIDE_WINDOW * DAY)


@pytest.fixture(scope="module")
def unchanged(first_run: Deployment) -> Deployment:
    """Second run well before the renewal window, with nothing changed."""
    return run_federation(prior=first_run, now=T0 + OUTSIDE_WINDOW * DAY)


@pytest.fixture(scope="module")
def certificate_rotated(first_run: Deployment) -> Deployment:
    """Second run with certificateRotation raised from 0 to 1."""
    return run_federation(prior=first_run, now=T0 + DAY, certificate_rotation=1)


@pytest.fixture(scope="module")
def password_rotated(first_run: Deployment) -> Deployment:
    """Second run with passwordRotation raised from 0 to 1."""
    return run_federation(prior=first_run, now=T0 + DAY, password_rotation=1)


@pytest.fixture(scope="module")
def profile_changed(first_run: Deployment) -> Deployment:
    """Second run with bundleProfile changed from legacy to modern."""
    return run_federation(prior=first_run, now=T0 + DAY, bundle_profile="modern")


@pytest.fixture(scope="module")
def custom_options() -> Deployment:
    """One run with non-default rotation counters, renewal window and two role assignments."""
    return run_federation(
        certificate_rotation=3,
        password_rotation=5,
        renewal_window_days=45,
        role_assignments=[
            f"Contributor@/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/coder-workspaces",
            f"Reader@/subscriptions/{SUBSCRIPTION_ID}",
        ],
    )


# Resource options


@pytest.mark.parametrize(
    ("scenario", "expected"), [("first_run", 0), ("custom_options", 3)], ids=["default", "set"]
)
def test_key_and_cert_follow_certificate_rotation(
    request: pytest.FixtureRequest, scenario: str, expected: int
) -> None:
    deployment: Deployment = request.getfixturevalue(scenario)

    key = deployment.one(TLS_KEY)
    cert = deployment.one(TLS_CERT)

    assert key.replacement_trigger == expected, (
        f"{key.name} replacement_trigger is {key.replacement_trigger!r}, not {expected}"
    )
    assert cert.replacement_trigger == expected, (
        f"{cert.name} replacement_trigger is {cert.replacement_trigger!r}, not {expected}"
    )


@pytest.mark.parametrize(
    ("scenario", "expected"), [("first_run", 0), ("custom_options", 5)], ids=["default", "set"]
)
def test_password_follows_password_rotation(
    request: pytest.FixtureRequest, scenario: str, expected: int
) -> None:
    password = request.getfixturevalue(scenario).one(RANDOM_PASSWORD)

    assert password.replacement_trigger == expected, (
        f"{password.name} replacement_trigger is {password.replacement_trigger!r}, not {expected}"
    )


@pytest.mark.parametrize(
    ("scenario", "expected_hours"),
    [("first_run", 720), ("custom_options", 45 * 24)],
    ids=["default", "set"],
)
def test_cert_renews_early_by_window(
    request: pytest.FixtureRequest, scenario: str, expected_hours: int
) -> None:
    cert = request.getfixturevalue(scenario).one(TLS_CERT)

    early = cert.plain_inputs.get("earlyRenewalHours")
    assert early == expected_hours, f"{cert.name} earlyRenewalHours is {early}"


def test_credential_replaced_create_before_delete(first_run: Deployment) -> None:
    credential = first_run.one(CREDENTIAL)

    assert credential.delete_before_replace is False, (
        f"{credential.name} is replaced delete-before-replace"
    )


@pytest.mark.parametrize("name", [BUNDLE_SECRET, PASSWORD_SECRET])
def test_rotating_secret_ignores_data(first_run: Deployment, name: str) -> None:
    secret = first_run.named(name)

    assert secret.type == SECRET, f"{name} is a {secret.type}"
    assert "data" in secret.ignore_changes, f"{name} does not ignore data: {secret.ignore_changes}"
    assert "stringData" in secret.ignore_changes, (
        f"{name} does not ignore stringData: {secret.ignore_changes}"
    )


@pytest.mark.parametrize("name", ID_SECRETS)
def test_id_secret_tracks_data(first_run: Deployment, name: str) -> None:
    secret = first_run.named(name)

    assert "data" not in secret.ignore_changes, f"{name} ignores data"
    assert "stringData" not in secret.ignore_changes, f"{name} ignores stringData"


@pytest.mark.parametrize(
    ("patch_name", "secret_name"),
    [(BUNDLE_PATCH, BUNDLE_SECRET), (PASSWORD_PATCH, PASSWORD_SECRET)],
)
def test_patch_forces_and_follows_secret(
    first_run: Deployment, patch_name: str, secret_name: str
) -> None:
    patch = first_run.named(patch_name)
    secret = first_run.named(secret_name)
    annotations = patch.plain_inputs["metadata"].get("annotations") or {}

    assert patch.type == SECRET_PATCH, f"{patch_name} is a {patch.type}"
    assert annotations.get("pulumi.com/patchForce") == "true", (
        f"{patch_name} lacks the patchForce annotation: {annotations}"
    )
    assert secret.urn in patch.dependencies, f"{patch_name} does not depend on {secret_name}"
    assert patch.plain_inputs["metadata"]["name"] == secret.plain_inputs["metadata"]["name"], (
        f"{patch_name} patches another object than {secret_name}"
    )


@pytest.mark.parametrize("scenario", ["first_run", "custom_options"])
def test_release_waits_for_rotation_chain(request: pytest.FixtureRequest, scenario: str) -> None:
    deployment: Deployment = request.getfixturevalue(scenario)
    dependencies = set(deployment.one(RELEASE).dependencies)
    assignments = deployment.of_type(ROLE_ASSIGNMENT)

    assert deployment.one(MOUNT_REFRESH_WAIT).urn in dependencies, (
        f"{RELEASE_NAME} does not wait for {MOUNT_REFRESH}"
    )
    for name in (BUNDLE_PATCH, PASSWORD_PATCH, CREDENTIAL_NAME):
        assert deployment.named(name).urn in dependencies, (
            f"{RELEASE_NAME} does not wait for {name}"
        )
    assert assignments, "no role assignment was declared"
    for assignment in assignments:
        assert assignment.urn in dependencies, f"{RELEASE_NAME} does not wait for {assignment.name}"


def test_custom_options_declare_two_assignments(custom_options: Deployment) -> None:
    count = len(custom_options.of_type(ROLE_ASSIGNMENT))

    assert count == 2, f"expected two role assignments, found {count}"


# Renewal inside the window


def test_renewal_replaces_cert(renewed: Deployment) -> None:
    assert step_of(renewed, CERT) == "replace", f"{CERT} step is {step_of(renewed, CERT)}"


def test_renewal_keeps_key(renewed: Deployment) -> None:
    assert step_of(renewed, KEY) == "same", f"{KEY} step is {step_of(renewed, KEY)}"


def test_renewal_issues_new_certificate(first_run: Deployment, renewed: Deployment) -> None:
    before = certificate_of(first_run)
    after = certificate_of(renewed)

    assert after != before, f"{CERT} kept its certificate"
    assert after.not_valid_before_utc == T0 + INSIDE_WINDOW * DAY, (
        f"{CERT} starts at {after.not_valid_before_utc}, not at the renewal run"
    )


def test_renewal_replaces_credential_first(renewed: Deployment) -> None:
    step = step_of(renewed, CREDENTIAL_NAME)

    assert step == "replace", f"{CREDENTIAL_NAME} step is {step}, not create-before-delete"
    assert ("delete-replace", CREDENTIAL_NAME) not in renewed.mocks.steps, (
        f"{CREDENTIAL_NAME} was deleted before its replacement was created"
    )


def test_renewal_deletes_old_credential_last(renewed: Deployment) -> None:
    deletion = step_index(renewed, "delete-replaced", CREDENTIAL_NAME)

    assert deletion > step_index(renewed, "update", BUNDLE_PATCH), (
        f"old {CREDENTIAL_NAME} is deleted before {BUNDLE_PATCH} is updated"
    )
    assert deletion > step_index(renewed, "update", MOUNT_REFRESH), (
        f"old {CREDENTIAL_NAME} is deleted before {MOUNT_REFRESH} has waited"
    )
    assert deletion > step_index(renewed, step_of(renewed, RELEASE_NAME), RELEASE_NAME), (
        f"old {CREDENTIAL_NAME} is deleted before {RELEASE_NAME} is applied"
    )


def test_renewal_updates_bundle_in_place(first_run: Deployment, renewed: Deployment) -> None:
    before = first_run.named(BUNDLE_NAME)
    after = renewed.named(BUNDLE_NAME)

    assert step_of(renewed, BUNDLE_NAME) == "update", (
        f"{BUNDLE_NAME} step is {step_of(renewed, BUNDLE_NAME)}"
    )
    assert after.id == before.id, f"{BUNDLE_NAME} ID changed from {before.id} to {after.id}"
    assert bundle_bytes(renewed) != bundle_bytes(first_run), f"{BUNDLE_NAME} bytes are unchanged"


def test_renewal_keeps_bundle_secret(renewed: Deployment) -> None:
    step = step_of(renewed, BUNDLE_SECRET)

    assert step == "same", f"{BUNDLE_SECRET} step is {step}"


def test_renewal_patches_new_bundle(renewed: Deployment) -> None:
    patch = renewed.named(BUNDLE_PATCH)
    new_bundle = renewed.named(BUNDLE_NAME).plain_outputs["pfx_base64"]

    assert step_of(renewed, BUNDLE_PATCH) == "update", (
        f"{BUNDLE_PATCH} step is {step_of(renewed, BUNDLE_PATCH)}"
    )
    assert patch.plain_inputs["data"][BUNDLE_KEY] == new_bundle, (
        f"{BUNDLE_PATCH} does not send the new bundle"
    )
    assert patch.plain_outputs["data"][BUNDLE_KEY] == new_bundle, (
        f"{BUNDLE_PATCH} does not leave the new bundle in the cluster"
    )


def test_renewal_keeps_password(first_run: Deployment, renewed: Deployment) -> None:
    assert step_of(renewed, PASSWORD) == "same", f"{PASSWORD} step is {step_of(renewed, PASSWORD)}"
    assert password_of(renewed) == password_of(first_run), f"{PASSWORD} result changed"


def test_renewal_keeps_checksum(first_run: Deployment, renewed: Deployment) -> None:
    assert release_checksum(renewed) == release_checksum(first_run), (
        f"{RELEASE_NAME} checksum changed, so a renewal would restart the pods"
    )


def test_renewal_waits_for_mount(renewed: Deployment) -> None:
    assert renewed.mocks.sleeps == [90], (
        f"{MOUNT_REFRESH} slept {renewed.mocks.sleeps}, not once for mountRefreshSeconds"
    )


def test_renewed_bundle_opens_with_password(first_run: Deployment, renewed: Deployment) -> None:
    keys, certificates = openssl_pkcs12_contents(bundle_bytes(renewed), password_of(first_run))

    assert len(keys) == 1, f"renewed {BUNDLE_NAME} contains {len(keys)} keys"
    assert len(certificates) == 1, f"renewed {BUNDLE_NAME} contains {len(certificates)} certs"
    opened = x509.load_pem_x509_certificate(certificates[0].encode())
    assert opened == certificate_of(renewed), f"renewed {BUNDLE_NAME} contains the old {CERT}"


# Nothing to do outside the window


def test_outside_window_changes_nothing(unchanged: Deployment) -> None:
    changed = [(step, name) for step, name in unchanged.mocks.steps if step != "same"]

    assert changed == [], f"a run with nothing due took steps {changed}"


def test_outside_window_does_not_wait(unchanged: Deployment) -> None:
    assert unchanged.mocks.sleeps == [], f"{MOUNT_REFRESH} slept {unchanged.mocks.sleeps}"


# Warnings when a run cannot renew


@pytest.fixture(scope="module")
def due_without_refresh(first_run: Deployment) -> tuple[Deployment, list[WarningRecord]]:
    """Second run inside the renewal window, without refresh."""
    return run_recording_warnings(prior=first_run, now=T0 + INSIDE_WINDOW * DAY, refresh=False)


@pytest.fixture(scope="module")
def expired_without_refresh(first_run: Deployment) -> tuple[Deployment, list[WarningRecord]]:
    """Second run a day after the certificate expired, without refresh."""
    return run_recording_warnings(prior=first_run, now=T0 + 731 * DAY, refresh=False)


@pytest.fixture(scope="module")
def due_with_refresh(first_run: Deployment) -> tuple[Deployment, list[WarningRecord]]:
    """Second run inside the renewal window, with refresh: the certificate is renewed."""
    return run_recording_warnings(prior=first_run, now=T0 + INSIDE_WINDOW * DAY, refresh=True)


@pytest.fixture(scope="module")
def valid_with_refresh(first_run: Deployment) -> tuple[Deployment, list[WarningRecord]]:
    """Second run well before the renewal window."""
    return run_recording_warnings(prior=first_run, now=T0 + OUTSIDE_WINDOW * DAY)


def renewal_warnings_in(warnings: list[WarningRecord]) -> list[str]:
    return [
        message for message, _ in warnings if "renewal window" in message or "expired" in message
    ]


def warnings_on_component(
    deployment: Deployment, warnings: list[WarningRecord], phrase: str
) -> list[str]:
    component = deployment.one(COMPONENT).urn
    return [message for message, urn in warnings if urn == component and phrase in message]


def test_no_refresh_keeps_due_cert(
    due_without_refresh: tuple[Deployment, list[WarningRecord]],
) -> None:
    deployment, _ = due_without_refresh

    assert step_of(deployment, CERT) == "same", f"{CERT} step is {step_of(deployment, CERT)}"


def test_no_refresh_warns_in_window(
    due_without_refresh: tuple[Deployment, list[WarningRecord]],
) -> None:
    deployment, warnings = due_without_refresh

    found = warnings_on_component(deployment, warnings, "renewal window")
    assert found, f"no renewal-window warning on the component; warnings: {warnings}"


def test_no_refresh_warns_when_expired(
    expired_without_refresh: tuple[Deployment, list[WarningRecord]],
) -> None:
    deployment, warnings = expired_without_refresh

    assert step_of(deployment, CERT) == "same", f"{CERT} step is {step_of(deployment, CERT)}"
    found = warnings_on_component(deployment, warnings, "expired")
    assert found, f"no expiry warning on the component; warnings: {warnings}"


def test_warnings_reach_engine_log(
    due_without_refresh: tuple[Deployment, list[WarningRecord]],
) -> None:
    deployment, _ = due_without_refresh

    logged = [
        record.getMessage()
        for record in deployment.logs
        if record.levelno == logging.WARNING and "renewal window" in record.getMessage()
    ]
    assert logged, "the renewal-window warning is missing from Deployment.logs"


def test_renewed_cert_does_not_warn(
    due_with_refresh: tuple[Deployment, list[WarningRecord]],
) -> None:
    deployment, warnings = due_with_refresh
    found = renewal_warnings_in(warnings)

    assert step_of(deployment, CERT) == "replace", f"{CERT} step is {step_of(deployment, CERT)}"
    assert found == [], f"a freshly renewed {CERT} still warns: {found}"


def test_valid_cert_does_not_warn(
    valid_with_refresh: tuple[Deployment, list[WarningRecord]],
) -> None:
    _, warnings = valid_with_refresh
    found = renewal_warnings_in(warnings)

    assert found == [], f"{CERT} warns long before its renewal window: {found}"


# On-demand certificate rotation


def test_rotation_replaces_key_and_cert(certificate_rotated: Deployment) -> None:
    for name in (KEY, CERT):
        step = step_of(certificate_rotated, name)
        assert step == "replace", f"{name} step is {step}"


def test_rotation_replaces_credential_first(certificate_rotated: Deployment) -> None:
    step = step_of(certificate_rotated, CREDENTIAL_NAME)

    assert step == "replace", f"{CREDENTIAL_NAME} step is {step}, not create-before-delete"
    assert ("delete-replaced", CREDENTIAL_NAME) in certificate_rotated.mocks.steps, (
        f"old {CREDENTIAL_NAME} is never deleted"
    )


def test_rotation_keeps_password(first_run: Deployment, certificate_rotated: Deployment) -> None:
    step = step_of(certificate_rotated, PASSWORD)

    assert step == "same", f"{PASSWORD} step is {step}"
    assert password_of(certificate_rotated) == password_of(first_run), f"{PASSWORD} changed"


def test_rotation_keeps_checksum(first_run: Deployment, certificate_rotated: Deployment) -> None:
    assert release_checksum(certificate_rotated) == release_checksum(first_run), (
        f"{RELEASE_NAME} checksum changed on a certificate rotation"
    )


def test_rotation_bundle_holds_new_key(
    first_run: Deployment, certificate_rotated: Deployment
) -> None:
    keys, _ = openssl_pkcs12_contents(bundle_bytes(certificate_rotated), password_of(first_run))
    old_key = first_run.named(KEY).plain_outputs["privateKeyPemPkcs8"]
    new_key = certificate_rotated.named(KEY).plain_outputs["privateKeyPemPkcs8"]

    assert new_key != old_key, f"{KEY} kept its key material"
    assert keys == [new_key], f"rotated {BUNDLE_NAME} does not contain the new {KEY}"


# Password rotation


def test_password_rotation_replaces_password(
    first_run: Deployment, password_rotated: Deployment
) -> None:
    step = step_of(password_rotated, PASSWORD)

    assert step == "replace", f"{PASSWORD} step is {step}"
    assert password_of(password_rotated) != password_of(first_run), f"{PASSWORD} is unchanged"


def test_password_rotation_updates_bundle(
    first_run: Deployment, password_rotated: Deployment
) -> None:
    step = step_of(password_rotated, BUNDLE_NAME)
    keys, _ = openssl_pkcs12_contents(bundle_bytes(password_rotated), password_of(password_rotated))

    assert step == "update", f"{BUNDLE_NAME} step is {step}"
    assert password_rotated.named(BUNDLE_NAME).id == first_run.named(BUNDLE_NAME).id, (
        f"{BUNDLE_NAME} ID changed"
    )
    assert len(keys) == 1, f"{BUNDLE_NAME} does not open with the new password"


def test_password_rotation_patches_secret(password_rotated: Deployment) -> None:
    patch_step = step_of(password_rotated, PASSWORD_PATCH)
    secret_step = step_of(password_rotated, PASSWORD_SECRET)
    sent = password_rotated.named(PASSWORD_PATCH).plain_inputs["data"]["password"]

    assert patch_step == "update", f"{PASSWORD_PATCH} step is {patch_step}"
    assert secret_step == "same", f"{PASSWORD_SECRET} step is {secret_step}"
    assert base64.b64decode(sent).decode() == password_of(password_rotated), (
        f"{PASSWORD_PATCH} does not send the new password"
    )


def test_password_rotation_changes_checksum(
    first_run: Deployment, password_rotated: Deployment
) -> None:
    assert release_checksum(password_rotated) != release_checksum(first_run), (
        f"{RELEASE_NAME} checksum is unchanged, so pods keep the old password"
    )


def test_password_rotation_keeps_credential(password_rotated: Deployment) -> None:
    step = step_of(password_rotated, CREDENTIAL_NAME)

    assert step == "same", f"{CREDENTIAL_NAME} step is {step}"


# Checksum changes exactly when pods must restart


@pytest.mark.parametrize(
    ("now_days", "overrides", "restarts"),
    [
        pytest.param(1, {}, False, id="nothing"),
        pytest.param(1, {"subscription_id": OTHER_SUBSCRIPTION_ID}, True, id="subscription"),
        pytest.param(1, {"bundle_profile": "modern"}, False, id="bundle-profile"),
        pytest.param(INSIDE_WINDOW, {}, False, id="renewal"),
        pytest.param(1, {"password_rotation": 1}, True, id="password-rotation"),
        pytest.param(1, {"client_id_secret_name": "coder-arm-client-id"}, True, id="secret-name"),
    ],
)
def test_checksum_tracks_startup_inputs(
    first_run: Deployment, now_days: int, overrides: dict[str, Any], restarts: bool
) -> None:
    second = run_federation(prior=first_run, now=T0 + now_days * DAY, **overrides)

    changed = release_checksum(second) != release_checksum(first_run)
    outcome = "changed" if changed else "stayed the same"
    assert changed == restarts, (
        f"{RELEASE_NAME} checksum {outcome} after {overrides or 'no change'}"
    )


def test_profile_change_only_changes_bundle(
    first_run: Deployment, profile_changed: Deployment
) -> None:
    changed = {name for step, name in profile_changed.mocks.steps if step != "same"}

    assert bundle_bytes(profile_changed) != bundle_bytes(first_run), f"{BUNDLE_NAME} unchanged"
    assert changed == {BUNDLE_NAME, BUNDLE_PATCH}, (
        f"a profile change took non-same steps on {sorted(changed)}"
    )
    assert profile_changed.mocks.sleeps == [], (
        f"{MOUNT_REFRESH} slept {profile_changed.mocks.sleeps} with the certificate unchanged"
    )


# Renewal state and the mount refresh wait


END = "2029-01-01T00:00:00Z"
END_TIME = datetime.datetime(2029, 1, 1, tzinfo=datetime.UTC)
WINDOW_START = END_TIME - 30 * DAY


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(END_TIME + DAY, "expired", id="after-end"),
        pytest.param(END_TIME, "expired", id="at-end"),
        pytest.param(END_TIME - datetime.timedelta(seconds=1), "renewal-due", id="before-end"),
        pytest.param(WINDOW_START, "renewal-due", id="at-window-start"),
        pytest.param(WINDOW_START - datetime.timedelta(seconds=1), "valid", id="before-window"),
    ],
)
def test_renewal_state_boundaries(moment: datetime.datetime, expected: str) -> None:
    state = renewal_state(END, 30, now=moment)

    assert state == expected, f"renewal_state at {moment.isoformat()} is {state}"


def test_renewal_state_drops_fraction() -> None:
    state = renewal_state("2029-01-01T00:00:00.999Z", 30, now=END_TIME)

    assert state == "expired", f"renewal_state with a fractional end time is {state}"


@pytest.fixture
def recorded_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    sleeps: list[float] = []
    monkeypatch.setattr("components.rotation.time.sleep", sleeps.append)
    return sleeps


def test_wait_create_never_sleeps(recorded_sleeps: list[float]) -> None:
    MountRefreshWaitProvider().create({"certificate_sha256": "a" * 64, "seconds": 90})

    assert recorded_sleeps == [], f"MountRefreshWaitProvider.create slept {recorded_sleeps}"


def test_wait_sleeps_on_new_digest(recorded_sleeps: list[float]) -> None:
    olds = {"certificate_sha256": "a" * 64, "seconds": 90}
    news = {"certificate_sha256": "b" * 64, "seconds": 45}

    MountRefreshWaitProvider().update("id", olds, news)

    assert recorded_sleeps == [45], f"MountRefreshWaitProvider.update slept {recorded_sleeps}"


def test_wait_skips_same_digest(recorded_sleeps: list[float]) -> None:
    provider = MountRefreshWaitProvider()
    olds = {"certificate_sha256": "a" * 64, "seconds": 90}
    news = {"certificate_sha256": "a" * 64, "seconds": 120}

    diff = provider.diff("id", olds, news)
    provider.update("id", olds, news)

    assert diff.changes, "a new seconds value is not reported as a change"
    assert recorded_sleeps == [], f"update with the same digest slept {recorded_sleeps}"


def test_wait_sleep_is_capped(recorded_sleeps: list[float]) -> None:
    olds = {"certificate_sha256": "a" * 64, "seconds": 90}
    news = {"certificate_sha256": "b" * 64, "seconds": 10 * MAX_MOUNT_REFRESH_SECONDS}

    MountRefreshWaitProvider().update("id", olds, news)

    assert recorded_sleeps == [MAX_MOUNT_REFRESH_SECONDS], (
        f"update slept {recorded_sleeps}, not the {MAX_MOUNT_REFRESH_SECONDS}-second maximum"
    )


# The bundle secret survives every rotation


ROTATION_SCENARIOS = [
    "renewed",
    "certificate_rotated",
    "password_rotated",
    "profile_changed",
]


@pytest.mark.parametrize("scenario", ROTATION_SCENARIOS)
def test_bundle_secret_never_deleted(request: pytest.FixtureRequest, scenario: str) -> None:
    steps = request.getfixturevalue(scenario).mocks.steps

    for step in ("delete-replace", "delete-replaced"):
        assert (step, BUNDLE_SECRET) not in steps, f"{BUNDLE_SECRET} took {step} in {scenario}"
    assert ("delete-replace", BUNDLE_PATCH) not in steps, (
        f"{BUNDLE_PATCH} was deleted before replacement in {scenario}"
    )


@pytest.mark.parametrize("scenario", ["first_run", *ROTATION_SCENARIOS])
def test_bundle_secret_stays_filled(request: pytest.FixtureRequest, scenario: str) -> None:
    deployment: Deployment = request.getfixturevalue(scenario)

    for typ, name in ((SECRET, BUNDLE_SECRET), (SECRET_PATCH, BUNDLE_PATCH)):
        data = unwrap(deployment.state[(typ, name)].outputs.get("data")) or {}
        assert data.get(BUNDLE_KEY), f"{name} has no {BUNDLE_KEY} in state after {scenario}"


@pytest.mark.parametrize("scenario", ["renewed", "certificate_rotated"])
def test_new_credential_waits_once(request: pytest.FixtureRequest, scenario: str) -> None:
    deployment: Deployment = request.getfixturevalue(scenario)
    step = step_of(deployment, MOUNT_REFRESH)

    assert step == "update", f"{MOUNT_REFRESH} step is {step} after {scenario}"
    assert deployment.mocks.sleeps == [90], (
        f"{MOUNT_REFRESH} slept {deployment.mocks.sleeps} after {scenario}"
    )


def test_password_rotation_skips_wait(password_rotated: Deployment) -> None:
    step = step_of(password_rotated, MOUNT_REFRESH)

    # The pods restart for the new password and mount the new bundle as they start, and no old
    # credential is deleted, so a wait would only keep old pods on a bundle they cannot open.
    # The wait records the password's fingerprint, so it updates, but it does not sleep.
    assert step == "update", f"{MOUNT_REFRESH} step is {step} after a password rotation"
    assert password_rotated.mocks.sleeps == [], (
        f"{MOUNT_REFRESH} slept {password_rotated.mocks.sleeps} before the pods restart"
    )
