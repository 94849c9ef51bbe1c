#!/usr/bin/env bash
# Creates the virtual environment and installs Hesuan with its development tools, the lab
# extra (allotropy, for instrument workbooks) and the interop extra (HL7 v2 and FHIR).
# Idempotent: re-running only installs what changed. Used by demo.sh and test.sh.
# Says what it is doing on stderr: each step with the seconds so far and, while pip works
# (about a minute on a fresh machine), what it is at; a failed step shows the end of pip's log.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
started=$SECONDS
say() { printf 'setup [%3d s] %s\n' "$((SECONDS - started))" "$*" >&2; }

stamp=.venv/.hesuan-installed
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ]; then
  say "up to date (.venv): nothing to install"
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment (.venv) with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi

log=.venv/setup.log
# pip <args>: pip in the background, its output in the log; every few seconds the line it is
# at (collecting, downloading, building, installing) when that changed
pip_step() {
  local what=$1 shown="" line pid
  shift
  say "$what"
  .venv/bin/python -m pip "$@" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    line=$(grep -E '^ *(Collecting|Downloading|Building|Installing|Successfully)' "$log" \
           | tail -n 1 | cut -c 1-90) || true
    if [ -n "$line" ] && [ "$line" != "$shown" ]; then
      say "  … ${line#"${line%%[![:space:]]*}"}"
      shown=$line
    fi
  done
  if ! wait "$pid"; then
    say "failed: $what — the end of pip's log ($log):"
    tail -n 25 "$log" >&2
    exit 1
  fi
}

pip_step "updating pip" install --upgrade pip
# --no-compile: pip would compile every module of every package (the FHIR models' thousands:
# more than half of the install's time); a module is compiled when first imported instead, and
# kept (scripts/test.sh and demo.sh let Python write its cache)
pip_step "installing Hesuan with its development tools and the lab and interop extras \
(about a minute on a fresh machine)" install --no-compile -e ".[dev,lab,interop]"
touch "$stamp"
say "set-up done in $((SECONDS - started)) s"
