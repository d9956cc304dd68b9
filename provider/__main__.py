"""Serve CoderAzureFederation as a Pulumi component package, for programs in any language.

`pulumi package add <path or Git URL of this repository>/provider` starts this file to read the
package schema, which the SDK infers from the component's type annotations and docstrings, and
the engine starts it again for each deployment that declares the component. The component comes
from the checkout this folder belongs to (`components/` next to `provider/`) or, when the folder
is used on its own, from the installed distribution `coder_azure_federation`.

Importing this file declares nothing and starts no server; only running it does.
"""

import importlib
import sys
from pathlib import Path
from types import ModuleType

from pulumi import Inputs
from pulumi.provider import main as serve_provider
from pulumi.provider.experimental.analyzer import ComponentDefinition, PropertyType
from pulumi.provider.experimental.component import ComponentProvider

NAME = "coder-azure-federation"
"""Package name: the first part of the component's type token."""
NAMESPACE = "coder-azure-federation"
"""Package namespace, used in the names of the SDKs that `pulumi package add` generates."""
VERSION = "0.1.0"
"""Package version, the same as the Python distribution's in pyproject.toml."""

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


def component_package() -> ModuleType:
    """Import the component: from this checkout if it is there, else the installed package."""
    if (REPOSITORY_ROOT / "components" / "__init__.py").is_file():
        if str(REPOSITORY_ROOT) not in sys.path:
            sys.path.insert(0, str(REPOSITORY_ROOT))
        return importlib.import_module("components")
    return importlib.import_module("coder_azure_federation")


CoderAzureFederation = component_package().CoderAzureFederation


class FederationProvider(ComponentProvider):
    """The SDK's component provider, with integer inputs handed to the component as `int`.

    Every number crosses the wire as a float. The SDK (pulumi 3.272.0) converts an integer input
    back to `int` but then stores the float again, and the component rejects 4096.0 as a key
    size. So this class converts whole numbers. Any other number goes on to the component, which
    rejects it with its own message.
    """

    def map_inputs(self, inputs: Inputs, component_def: ComponentDefinition) -> Inputs:
        mapped = dict(super().map_inputs(inputs, component_def))
        for schema_name, definition in component_def.inputs.items():
            python_name = component_def.inputs_mapping[schema_name]
            value = mapped.get(python_name)
            if (
                definition.type is PropertyType.INTEGER
                and isinstance(value, float)
                and value.is_integer()
            ):
                mapped[python_name] = int(value)
        return mapped


def provider() -> FederationProvider:
    """Build the provider, which analyses the component and builds the schema offline."""
    return FederationProvider([CoderAzureFederation], NAME, NAMESPACE, VERSION)


if __name__ == "__main__":
    # The engine passes its own address and flags, and the provider SDK parses them.
    serve_provider(provider(), sys.argv[1:])
