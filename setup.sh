#!/usr/bin/env bash
# Sets up DM21 Explorer on a fresh Debian machine with Python 3.11: a virtual environment in .venv
# with the pinned packages of requirements.txt. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  # Debian's Python needs the python3-venv package for `python3 -m venv`.
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    else
      sudo apt-get update -qq && sudo apt-get install -y -qq python3-venv >/dev/null
    fi
    "$PYTHON" -m venv .venv
  fi
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m explorer weights status >/dev/null || {
  echo "DM21 checkpoints not found: run '.venv/bin/python -m explorer weights download'" >&2
}
