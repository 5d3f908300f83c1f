#!/usr/bin/env bash
# Re-resolves classhub's dependencies (with the test and load-test tools) in a
# throwaway virtualenv and writes the exact versions to constraints.txt.
# Run it when you mean to move to newer releases, then run scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
{
  sed -n '1,/^#   scripts\/lock.sh$/p' constraints.txt
  echo "pip==$("$tmp/venv/bin/python" -m pip --version | cut -d' ' -f2)"
  "$tmp/venv/bin/python" -m pip freeze --exclude-editable
} > "$tmp/constraints.txt"
mv "$tmp/constraints.txt" constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) pins"
