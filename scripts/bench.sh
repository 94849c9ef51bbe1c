#!/usr/bin/env bash
# The benchmark, one command: scripts/bench.sh [--tier toy|small|1m] [--backend sqlite|postgres|both]
# [--runs N] ... (see `python -m bench --help`). Results: bench/results/<tier>.json and .md.
# PostgreSQL: a cluster of the bench's own, sized as a city's primary (deploy/postgresql/
# sizing.conf), on 127.0.0.1:${BENCH_PG_PORT:-5435} with its data in var/bench/pg, started for
# the run and stopped after it; `--pg-url URL` measures another server instead. Installs wrk
# (for the /health figure) when it is missing and apt-get is available, and goes on without it
# otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

want_pg=1
for a in "$@"; do
  case "$a" in sqlite) want_pg=0 ;; --pg-url|--pg-url=*) want_pg=0 ;; esac
done
args=("$@")
if [ "$want_pg" = 1 ]; then
  PORT="${BENCH_PG_PORT:-5435}"
  DATA="$PWD/var/bench/pg"
  PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
  as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  mkdir -p "$DATA"
  if [ "$(id -u)" = 0 ]; then chown postgres "$DATA"; fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_pg "$PGBIN/initdb" -D "$DATA" -A trust -U postgres --no-sync >/dev/null
    { echo "listen_addresses = '127.0.0.1'"; echo "port = $PORT"
      cat deploy/postgresql/sizing.conf; } >> "$DATA/postgresql.conf"
  fi
  # the socket beside the data, wherever the checkout is
  as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -o "-k $DATA" -w -t 60 start >/dev/null
  trap 'as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null' EXIT
  args+=(--pg-url "postgresql+psycopg://postgres@127.0.0.1:$PORT/hesuan_bench")
fi

if ! command -v wrk >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null 2>&1 \
    || echo "warning: could not install wrk; the /health figure uses the bench client only"
fi

.venv/bin/python -m bench "${args[@]}"
