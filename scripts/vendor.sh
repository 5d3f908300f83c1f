#!/usr/bin/env bash
# Fetches the web client's one library, lit-html, at the version and integrity hash
# in package-lock.json (`npm ci`: nothing newer, no install scripts run) and copies the
# ES modules the client imports into web/static/vendor/lit-html/ (not in git), where
# the server serves them as they are: no bundler, no build step. docs/webclient.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=web/static/vendor/lit-html
# Only what js/board/*.js imports (and what those import), plus the licence. The
# unsafe-* directives are left out on purpose: user content is always text.
FILES=(LICENSE lit-html.js directive.js directive-helpers.js directives/repeat.js)

if ! command -v npm >/dev/null; then
  if [[ -f $DEST/lit-html.js ]]; then
    echo "note: npm is missing; keeping the web client's library already in $DEST"
    exit 0
  fi
  echo "error: the web client needs lit-html from npm: install Node.js (18 or newer, with npm) and run scripts/vendor.sh" >&2
  exit 1
fi
npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
rm -rf "$DEST"
for f in "${FILES[@]}"; do
  mkdir -p "$DEST/$(dirname "$f")"
  cp "node_modules/lit-html/$f" "$DEST/$f"
done
