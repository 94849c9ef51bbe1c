"""What one round trip to PostgreSQL costs the app: ``python -m bench.roundtrip [--pg-url URL]
[--n N]``.

Sends ``N`` times a prepared ``SELECT 1`` and waits for its answer, through libpq itself
(``pgconn.exec_prepared``: the sockets' system calls and libpq, no Python driver around them),
then through psycopg's cursor as the stores use it (``execute(..., prepare=True)``), then the
same in a psycopg pipeline with a sync after each statement (how the stores' pipelined writes
end); and, for scale, the same statement on an SQLite file, a call into the process's own
library. Prints wall time and the process's CPU time a round trip. A single scan's
transaction on PostgreSQL makes eleven of them (BENCHMARKS.md, "Issue 21, continued (5)");
SQLite's make none.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable

import psycopg

from bench.__main__ import DEFAULT_PG
from bench.autovacuum import libpq_dsn


def _measure(name: str, step: Callable[[], object], n: int) -> None:
    for _ in range(min(n, 200)):  # warm-up: plans cached, buffers sized
        step()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    wall = (time.perf_counter() - t0) / n * 1e6
    cpu = (time.process_time() - c0) / n * 1e6
    print(f"{name:<40} {wall:7.1f} µs wall  {cpu:6.1f} µs CPU a round trip")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.roundtrip", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg-url", default=DEFAULT_PG.rsplit("/", 1)[0] + "/postgres",
                    help="a PostgreSQL database URL (default: the bench server's own database)")
    ap.add_argument("--n", type=int, default=5000, help="round trips a measurement")
    args = ap.parse_args()
    with psycopg.connect(libpq_dsn(args.pg_url), autocommit=True) as conn:
        pgconn = conn.pgconn
        pgconn.prepare(b"bench_select_1", b"SELECT 1")
        _measure("libpq, prepared", lambda: pgconn.exec_prepared(b"bench_select_1", []),
                 args.n)
        cur = conn.cursor()
        _measure("psycopg cursor, prepared",
                 lambda: cur.execute("SELECT 1", prepare=True), args.n)
        with conn.pipeline() as pipeline:
            def pipelined() -> None:
                cur.execute("SELECT 1", prepare=True)
                pipeline.sync()
            _measure("psycopg pipeline, a sync each", pipelined, args.n)
    with tempfile.TemporaryDirectory(prefix="hesuan-roundtrip-") as tmp:
        lite = sqlite3.connect(f"{tmp}/r.db")
        _measure("SQLite, the same statement", lambda: lite.execute("SELECT 1").fetchall(),
                 args.n)
        lite.close()


if __name__ == "__main__":
    main()
