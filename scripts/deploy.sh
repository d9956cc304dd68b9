#!/usr/bin/env bash
# Set up the project's virtualenv and run `pulumi up` for one stack.
#
# Usage: scripts/deploy.sh [stack] [pulumi command and flags]
#   scripts/deploy.sh                  # pulumi up for the dev stack
#   scripts/deploy.sh dev preview      # pulumi preview
#   scripts/deploy.sh prod up --yes    # any pulumi command that takes --stack
#
# State goes to a local file backend in .pulumi-state/ unless PULUMI_BACKEND_URL is set.
# Without the Pulumi CLI on PATH, nothing is deployed: the script prints the offline plan of
# what `pulumi up` would create, and explains how to install the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

stack="${1:-dev}"
shift || true
if [ "$#" -eq 0 ]; then
  set -- up
fi

if [ ! -f "Pulumi.$stack.yaml" ]; then
  echo "Stack file Pulumi.$stack.yaml not found. Copy Pulumi.dev.yaml to it and edit the values." >&2
  exit 2
fi

# shellcheck source=scripts/venv.sh
source scripts/venv.sh
ensure_venv .venv requirements.txt

if ! command -v pulumi >/dev/null 2>&1; then
  case "$1" in
    up | preview | refresh) ;;
    *)
      echo "'pulumi $1' needs the Pulumi CLI, which is not on PATH, so nothing changed." >&2
      echo "Install it (https://www.pulumi.com/docs/iac/download-install/), or edit Pulumi.$stack.yaml." >&2
      exit 2
      ;;
  esac
  cat <<MESSAGE
The Pulumi CLI is not on PATH, so nothing was deployed.
Install it (https://www.pulumi.com/docs/iac/download-install/) and run this script again.
Meanwhile, this is what 'pulumi $*' would work on for stack $stack, computed offline:

MESSAGE
  exec .venv/bin/python scripts/offline_plan.py "$stack" "$1"
fi

if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
  mkdir -p .pulumi-state
  export PULUMI_BACKEND_URL="file://$PWD/.pulumi-state"
  echo "Using the local file state backend in .pulumi-state/ (set PULUMI_BACKEND_URL to change it)."
fi
# A stack whose file names another secrets provider (Azure Key Vault, say) needs no passphrase.
uses_passphrase=true
if grep -Eq '^secretsprovider: *[a-z]' "Pulumi.$stack.yaml" \
  && ! grep -Eq '^secretsprovider: *passphrase' "Pulumi.$stack.yaml"; then
  uses_passphrase=false
fi
if [[ "$PULUMI_BACKEND_URL" == file://* ]] && [ "$uses_passphrase" = true ] \
  && [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  echo "The file backend encrypts secrets with a passphrase. Set PULUMI_CONFIG_PASSPHRASE or" >&2
  echo "PULUMI_CONFIG_PASSPHRASE_FILE (keep it: the stack's secrets cannot be read without it)." >&2
  exit 2
fi
if [ -n "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] && [ ! -r "$PULUMI_CONFIG_PASSPHRASE_FILE" ]; then
  echo "PULUMI_CONFIG_PASSPHRASE_FILE names $PULUMI_CONFIG_PASSPHRASE_FILE, which is not a" >&2
  echo "readable file. Create it first, for example with: openssl rand -base64 32 > FILE" >&2
  exit 2
fi

if ! pulumi stack select "$stack" >/dev/null 2>&1; then
  if [ "$uses_passphrase" = false ]; then
    # `stack select --create` would give the stack the passphrase provider instead.
    provider=$(sed -n 's/^secretsprovider: *//p' "Pulumi.$stack.yaml")
    echo "Stack $stack does not exist in $PULUMI_BACKEND_URL yet. Create it with its secrets" >&2
    echo "provider first: pulumi stack init $stack --secrets-provider '$provider'" >&2
    exit 2
  fi
  pulumi stack init "$stack" >/dev/null
fi
exec pulumi "$@" --stack "$stack"
