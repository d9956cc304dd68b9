"""Pulumi components that give a Coder deployment on Kubernetes its Azure credentials."""

from .config import ConfigError, load_config
from .federation import CoderAzureFederation, CoderAzureFederationArgs

__all__ = ["CoderAzureFederation", "CoderAzureFederationArgs", "ConfigError", "load_config"]
