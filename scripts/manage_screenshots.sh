#!/bin/sh
# Regenerate the manage screens' screenshots in docs/screenshots/ (docs/webclient.md):
# runs the browser test that takes them (tests/test_webclient_manage.py) and lets it copy
# them there. Needs what the browser tests need (scripts/test.sh installs it).
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
CLASSHUB_DOC_SCREENSHOTS=1 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_webclient_manage.py "$@"
