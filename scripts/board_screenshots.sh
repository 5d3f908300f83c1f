#!/usr/bin/env bash
# Takes the pinboard's screenshots in docs/screenshots/ (laptop: room-board.png, the
# README's; phone: board-phone.png) from the browser test that checks the board comes
# first (tests/test_webclient_board.py), against a real `classhub serve` and Chromium.
# Needs what scripts/test.sh installs (.venv, Chromium); PYTHON names another interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
"$PY" -m pytest -q -p no:cacheprovider \
  "tests/test_webclient_board.py::test_the_board_comes_first_and_a_note_is_written_in_place"
cp test-artifacts/screenshots/board-laptop.png docs/screenshots/room-board.png
cp test-artifacts/screenshots/board-phone.png docs/screenshots/board-phone.png
echo "docs/screenshots/room-board.png and board-phone.png updated"
