#!/usr/bin/env bash
# A PostgreSQL cluster for the bench, configured as a city's primary (deploy/postgresql/
# sizing.conf), on 127.0.0.1:${BENCH_PG_PORT:-5435} with its data in var/bench/pg; then
# `python -m bench` against it with the arguments given, e.g.
#   scripts/bench-postgres.sh --tier 1m --backend both
# The cluster is stopped afterwards (its data is kept: the next run starts it again).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${BENCH_PG_PORT:-5435}"
DATA="$PWD/var/bench/pg"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$DATA"
[ "$(id -u)" = 0 ] && chown postgres "$DATA"
if [ ! -f "$DATA/PG_VERSION" ]; then
  as_pg "$PGBIN/initdb" -D "$DATA" -A trust -U postgres --no-sync >/dev/null
  { echo "listen_addresses = '127.0.0.1'"; echo "port = $PORT"
    cat deploy/postgresql/sizing.conf; } >> "$DATA/postgresql.conf"
fi
# the socket beside the data, wherever the checkout is
as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -o "-k $DATA" -w -t 60 start >/dev/null
trap 'as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null' EXIT
[ -x .venv/bin/python ] || scripts/setup.sh
.venv/bin/python -m bench --pg-url "postgresql+psycopg://postgres@127.0.0.1:$PORT/hesuan_bench" "$@"
