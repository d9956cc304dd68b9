"""Tests of scripts/offline_plan.py, the plan deploy.sh prints when the Pulumi CLI is missing."""

from __future__ import annotations

import subprocess
import sys

from tests.mocks import ROOT


def run_plan(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "offline_plan.py"), *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )


def test_plan_lists_whole_graph() -> None:
    result = run_plan("dev")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "18 resources to create" in result.stdout
    assert "coder-azure-release" in result.stdout
    assert "ARM_CLIENT_CERTIFICATE_PATH" in result.stdout, "the plan hides the Helm values"


def test_plan_masks_private_material() -> None:
    result = run_plan("dev")
    assert "PRIVATE KEY" not in result.stdout, "the plan shows a private key"
    assert "pfx_base64" not in result.stdout, "the plan shows the bundle"
    assert "[secret]" in result.stdout or "result" not in result.stdout


def test_plan_for_up_reports_placeholder() -> None:
    result = run_plan("dev", "up")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'pulumi up' would stop" in result.stdout
    assert "subscriptionId" in result.stdout


def test_plan_for_preview_omits_up_check() -> None:
    result = run_plan("dev", "preview")
    assert "would stop" not in result.stdout


def test_plan_rejects_unknown_stack() -> None:
    result = run_plan("nosuchstack")
    assert result.returncode == 2
    assert "Pulumi.nosuchstack.yaml not found" in result.stdout


def test_plan_output_is_stable() -> None:
    first = run_plan("dev").stdout
    second = run_plan("dev").stdout
    # The end date follows the clock, and the checksum the mocks' random IDs.
    varying = ("endDate", "checksum/")
    strip = [line for line in first.splitlines() if not any(word in line for word in varying)]
    again = [line for line in second.splitlines() if not any(word in line for word in varying)]
    assert strip == again, "two plans of the same stack differ"


def test_plan_shows_warnings_and_protection() -> None:
    dev = run_plan("dev").stdout
    prod = run_plan("prod").stdout
    assert "warning: The provisioner's service principal gets Contributor on a whole" in dev
    assert "[protected]" not in dev, "dev protects nothing, but the plan says it does"
    assert "coder-azure-app  [protected]" in prod, "prod's application is not shown protected"
