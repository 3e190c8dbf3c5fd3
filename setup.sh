#!/usr/bin/env bash
# Sets up DM21 Explorer on a fresh Debian machine with Python 3.11: a virtual environment in .venv
# with the pinned packages of requirements.txt, Debian's Chromium for the browser tests, and
# 3Dmol.js from the npm registry (version locked in package-lock.json) copied to static/ for the
# offline 3D viewer. Runs as root or with sudo for apt-get. Safe to run again: present parts are kept.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "setup.sh: need root or sudo to run: $*" >&2
    exit 1
  fi
}

APT_UPDATED=
apt_install() {
  # Refresh the package lists once per run: without it Debian offers an outdated chromium.
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x .venv/bin/python ]; then
  # Debian's Python needs the python3-venv package for `python3 -m venv`.
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install python3-venv
    "$PYTHON" -m venv .venv
  fi
fi

# Chromium for the browser tests (tests/browser): Playwright drives /usr/bin/chromium.
if [ ! -x /usr/bin/chromium ]; then
  echo "setup.sh: installing Debian's chromium" >&2
  apt_install chromium fonts-liberation
fi

# npm fetches 3Dmol.js (npm package `3dmol`) from the registry.
if ! command -v npm >/dev/null; then
  echo "setup.sh: installing npm" >&2
  apt_install npm
fi
command -v npm >/dev/null || {
  echo "setup.sh: npm is missing and could not be installed" >&2
  exit 1
}

.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
# The explorer package itself, editable, so scripts exported by the app run from any folder.
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .

# Browser assets: install exactly package-lock.json (skipped when node_modules already matches it),
# then serve 3Dmol.js from ./static (Streamlit: /app/static/3Dmol-min.js).
if ! cmp -s package-lock.json node_modules/.dm21-setup-lock || [ ! -f node_modules/3dmol/build/3Dmol-min.js ]; then
  npm ci --omit=dev --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.dm21-setup-lock
fi
mkdir -p static
if ! cmp -s node_modules/3dmol/build/3Dmol-min.js static/3Dmol-min.js; then
  cp node_modules/3dmol/build/3Dmol-min.js static/3Dmol-min.js
fi

.venv/bin/python -m explorer weights status >/dev/null || {
  echo "DM21 checkpoints not found: run '.venv/bin/python -m explorer weights download'" >&2
}
