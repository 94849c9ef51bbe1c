#!/usr/bin/env bash
# Creates the virtual environment and installs Hesuan with its development tools, the lab
# extra (allotropy, for instrument workbooks) and the interop extra (HL7 v2 and FHIR).
# Idempotent: re-running only installs what changed. Used by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.hesuan-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev,lab,interop]"
  touch "$stamp"
fi
