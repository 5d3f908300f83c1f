#!/usr/bin/env bash
# Installs what the tests need (a virtualenv with classhub and its test extras, the
# web client's library from npm (scripts/vendor.sh), Chromium from Debian's packages
# for the browser tests) and runs the whole suite.
# Lint (ruff) and strict type checks (mypy) run first and stop it on a finding.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k pinboard`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt pip
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
# The web client's library (lit-html) at the version locked in package-lock.json.
bash scripts/vendor.sh

if [[ ! -x /usr/bin/chromium ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    echo "installing Chromium from Debian's packages for the browser tests..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: /usr/bin/chromium is missing; run 'sudo apt-get install chromium' for the browser tests"
  fi
fi

# Lint and strict types first (seconds; the rules are in pyproject.toml).
.venv/bin/ruff check --quiet .
.venv/bin/mypy
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
