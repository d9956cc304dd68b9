"""Print the resources `pulumi up` would declare for a stack, without the Pulumi CLI or a cloud.

The program runs under the project's offline runtime (tests/mocks.py) in preview mode, so
placeholder IDs in the stack file are accepted. Values that are secrets print as [secret].
IDs in the output come from the mocks and are not real Azure or Kubernetes IDs.

Usage: python scripts/offline_plan.py [stack] [pulumi command]
With a command other than `preview`, the plan also reports whether `pulumi up` would accept the
stack's configuration, which preview-only placeholders would stop.
"""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.config import ConfigError  # noqa: E402
from tests.mocks import (  # noqa: E402
    DEPLOYER_OBJECT_ID,
    deploy,
    is_secret_wrapped,
    run_main,
    stack_config,
)

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
    "azure-native:authorization:RoleDefinition": ("roleName", "scope", "permissions"),
    "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential": (
        "issuer",
        "subject",
        "audiences",
    ),
    "kubernetes:core/v1:Secret": ("metadata", "type"),
    "kubernetes:core/v1:SecretPatch": ("metadata",),
    "pulumi-python:dynamic/rotation:MountRefreshWait": ("seconds",),
    "kubernetes:helm.sh/v3:Release": (
        "name",
        "chart",
        "version",
        "namespace",
        "repositoryOpts",
        "values",
    ),
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


def _shown(key: str, value: Any) -> str:
    if key == "owners" and value == [DEPLOYER_OBJECT_ID]:
        return "[the principal running pulumi up]"
    return json.dumps(_masked(value), ensure_ascii=False, sort_keys=True)


def main(arguments: list[str]) -> int:
    """Print the plan for one stack and return the exit status."""
    if arguments and arguments[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    stack = arguments[0] if arguments else "dev"
    command = arguments[1] if len(arguments) > 1 else "preview"
    stack_file = ROOT / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        print(f"Stack file {stack_file.name} not found. Create it or pass another stack name.")
        return 2
    config = stack_config(stack_file)

    try:
        deployment = deploy(run_main, config=config, stack=stack, preview=True)
    except ConfigError as error:
        print(error)
        return 2

    if command != "preview":
        try:
            deploy(run_main, config=config, stack=stack, preview=False)
        except ConfigError as error:
            print(f"'pulumi {command}' would stop before declaring anything:\n{error}\n")
            print("The plan below is what 'pulumi preview' shows with this configuration.\n")

    print(f"Offline plan for stack {stack}: {len(deployment.registrations)} resources to create")
    order = list(_SHOWN_INPUTS)
    registrations = sorted(
        deployment.registrations,
        key=lambda item: (order.index(item.type) + 1 if item.type in order else 0, item.name),
    )
    for registration in registrations:
        depth = 1 if "CoderAzureFederation::" in registration.parent else 0
        protected = "  [protected]" if registration.protect else ""
        print(f"{'    ' * depth}+ {registration.type}  {registration.name}{protected}")
        for key in _SHOWN_INPUTS.get(registration.type, ()):
            if key not in registration.inputs:
                continue
            indent = "    " * (depth + 1)
            if key == "values":
                text = yaml.safe_dump(_masked(registration.inputs[key]), sort_keys=True)
                print(f"{indent}values:")
                print(textwrap.indent(text.rstrip(), indent + "    "))
            else:
                print(f"{indent}{key}: {_shown(key, registration.inputs[key])}")
    warnings = [
        record.getMessage() for record in deployment.logs if record.levelno == logging.WARNING
    ]
    for warning in dict.fromkeys(warnings):
        print(f"warning: {warning}")
    print("Nothing was deployed. IDs in this plan are placeholders from the offline runtime.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
