"""Print the resources `pulumi up` would declare for a stack, without the Pulumi CLI or a cloud.

The program runs under the project's offline runtime (tests/mocks.py) in preview mode, so
placeholder IDs in the stack file are accepted. Values that are secrets print as [secret].
IDs in the output come from the mocks and are not real Azure or Kubernetes IDs.

Usage: python scripts/offline_plan.py [stack]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.config import ConfigError  # noqa: E402
from tests.mocks import deploy, is_secret_wrapped, run_main, stack_config  # noqa: E402

# Inputs worth showing for each resource type; everything else stays out of the plan.
_SHOWN_INPUTS = {
    "tls:index/privateKey:PrivateKey": ("algorithm", "rsaBits"),
    "tls:index/selfSignedCert:SelfSignedCert": ("subject", "validityPeriodHours", "allowedUses"),
    "random:index/randomPassword:RandomPassword": ("length", "special"),
    "pulumi-python:dynamic/pkcs12:Bundle": ("profile",),
    "azuread:index/application:Application": ("displayName", "signInAudience", "owners"),
    "azuread:index/servicePrincipal:ServicePrincipal": ("owners",),
    "azuread:index/applicationCertificate:ApplicationCertificate": ("type", "endDate"),
    "azure-native:authorization:RoleAssignment": ("roleDefinitionId", "scope", "principalType"),
    "kubernetes:core/v1:Namespace": ("metadata",),
    "kubernetes:core/v1:Secret": ("metadata", "type"),
    "kubernetes:helm.sh/v3:Release": ("name", "chart", "version", "namespace", "repositoryOpts"),
}


def _masked(value: Any) -> Any:
    if is_secret_wrapped(value):
        return "[secret]"
    if isinstance(value, float) and value.is_integer():
        # Numbers cross the engine's wire format as floats.
        return int(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def main(stack: str) -> int:
    """Print the plan for one stack and return the exit status."""
    stack_file = ROOT / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        print(f"Stack file {stack_file.name} not found. Create it or pass another stack name.")
        return 2
    try:
        deployment = deploy(run_main, config=stack_config(stack_file), stack=stack, preview=True)
    except ConfigError as error:
        print(error)
        return 2

    print(f"Offline plan for stack {stack}: {len(deployment.registrations)} resources to create")
    order = list(_SHOWN_INPUTS)
    registrations = sorted(
        deployment.registrations,
        key=lambda item: order.index(item.type) + 1 if item.type in order else 0,
    )
    for registration in registrations:
        depth = 1 if "CoderAzureFederation::" in registration.parent else 0
        print(f"{'    ' * depth}+ {registration.type}  {registration.name}")
        for key in _SHOWN_INPUTS.get(registration.type, ()):
            if key in registration.inputs:
                shown = json.dumps(_masked(registration.inputs[key]), ensure_ascii=False)
                print(f"{'    ' * (depth + 1)}{key}: {shown}")
    print("Nothing was deployed. IDs in this plan are placeholders from the offline runtime.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dev"))
