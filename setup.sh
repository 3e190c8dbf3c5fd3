#!/usr/bin/env bash
# Sets up DM21 Explorer on a fresh Debian machine with Python 3.11: a virtual environment in .venv
# with the pinned packages of requirements.txt. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m explorer weights status >/dev/null || {
  echo "DM21 checkpoints not found: run '.venv/bin/python -m explorer weights download'" >&2
}
