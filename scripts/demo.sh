#!/usr/bin/env bash
# Installs classhub into ./.venv and runs it on the embedded default (SQLite,
# in-process broker, mail into ./var/mail) with the demo event loaded.
# The demo accounts and their passwords are printed once, when first created.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt pip
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e .
# The web client's library (lit-html) at the version locked in package-lock.json.
bash scripts/vendor.sh

# Links the demo prints (and invitation links) point at the port we serve on.
export PUBLIC_URL="${PUBLIC_URL:-http://127.0.0.1:${PORT:-8000}}"

.venv/bin/classhub migrate
.venv/bin/classhub demo
# --mailer: this one process also sends the mail (into the Maildir ./var/mail).
exec .venv/bin/classhub serve --mailer --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
