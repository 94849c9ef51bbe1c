#!/usr/bin/env bash
# The benchmark, one command: scripts/bench.sh [--tier toy|small|1m] [--backend sqlite|postgres|both]
# [--runs N] ... (see `python -m bench --help`). Results: bench/results/<tier>.json and .md.
# Needs the local PostgreSQL for --backend postgres|both; installs wrk (for the /health figure)
# when it is missing and apt-get is available, and goes on without it otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

want_pg=1
for a in "$@"; do [ "$a" = "sqlite" ] && want_pg=0; done
if [ "$want_pg" = 1 ] && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

if ! command -v wrk >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null 2>&1 \
    || echo "warning: could not install wrk; the /health figure uses the bench client only"
fi

exec .venv/bin/python -m bench "$@"
