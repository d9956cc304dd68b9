# Shared by deploy.sh and test.sh: create or repair a virtualenv and install requirements.
# Usage (sourced): ensure_venv DIRECTORY REQUIREMENTS_FILE

ensure_venv() {
  local venv="$1" requirements="$2"
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Python 3.11 or newer is needed as python3; found $(python3 --version 2>&1)." >&2
    return 2
  fi
  # A venv created without pip (Debian's python3 without python3-venv leaves one) is rebuilt.
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$venv"
    if ! python3 -m venv "$venv"; then
      echo "python3 -m venv failed. On Debian or Ubuntu, install python3-venv and run this again." >&2
      return 2
    fi
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
}
