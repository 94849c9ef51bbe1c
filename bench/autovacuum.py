"""A stand-in for PostgreSQL's autovacuum, for long benchmark runs on this machine.

The machine's PostgreSQL runs with ``autovacuum = off`` (its CI settings; ``bench/world.py``
runs ``VACUUM ANALYZE`` after a bulk load for the same reason). A simulated round writes
millions of rows into tables that start empty; with no one to analyse them the planner keeps
its empty-table estimates, and a lookup of 50 station events by primary key took 50–270 ms
(a sequential scan) once ``station_events`` held 127,000 rows. A production server has
autovacuum on; this does what its launcher would: every ``naptime`` seconds, ``ANALYZE`` each
table changed by more than 50 rows + 10 % since its last analysis, and ``VACUUM`` each table
with more than 50 + 20 % dead rows — or by a table's own ``autovacuum_*`` storage parameters
where it has them (``person_status`` has, migration 0005).

``python -m bench.autovacuum --url postgresql+psycopg://... [--naptime 60]`` runs it until
interrupted; ``city_bench`` runs it beside a round on PostgreSQL when the server's own
autovacuum is off. Each pass is logged (table, what was done, seconds).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy import make_url

__all__ = ["AutovacuumStandIn", "server_autovacuum_on"]

_DUE = r"""
WITH t AS (
  SELECT s.schemaname, s.relname, s.n_dead_tup, s.n_mod_since_analyze,
         greatest(c.reltuples, 0) AS tuples,
         (SELECT o.option_value::float FROM pg_options_to_table(c.reloptions) o
          WHERE o.option_name = 'autovacuum_vacuum_threshold') AS vt,
         (SELECT o.option_value::float FROM pg_options_to_table(c.reloptions) o
          WHERE o.option_name = 'autovacuum_vacuum_scale_factor') AS vsf,
         (SELECT o.option_value::float FROM pg_options_to_table(c.reloptions) o
          WHERE o.option_name = 'autovacuum_analyze_threshold') AS at,
         (SELECT o.option_value::float FROM pg_options_to_table(c.reloptions) o
          WHERE o.option_name = 'autovacuum_analyze_scale_factor') AS asf
  FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
  -- other sessions' temporary tables: autovacuum leaves them alone, and so must we
  WHERE s.schemaname NOT LIKE 'pg\_temp\_%'
)
SELECT schemaname, relname,
       n_dead_tup > coalesce(vt, 50) + coalesce(vsf, 0.2) * tuples AS vacuum
FROM t
WHERE n_dead_tup > coalesce(vt, 50) + coalesce(vsf, 0.2) * tuples
   OR n_mod_since_analyze > coalesce(at, 50) + coalesce(asf, 0.1) * tuples
ORDER BY relname
"""


def libpq_dsn(url: str) -> str:
    """An SQLAlchemy database URL as libpq reads it (no driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def server_autovacuum_on(url: str) -> bool:
    with psycopg.connect(libpq_dsn(url)) as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
    return row is not None and row[0] == "on"


class AutovacuumStandIn:
    """Runs the passes on a daemon thread from ``start()`` until ``stop()``."""

    def __init__(self, url: str, naptime: float = 60.0,
                 log: Callable[[str], None] = print) -> None:
        self._dsn = libpq_dsn(url)
        self._naptime = naptime
        self._log = log
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes: list[dict[str, object]] = []

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="autovacuum-stand-in",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join()

    def run_once(self) -> dict[str, object]:
        done: list[str] = []
        t0 = time.perf_counter()
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            for schema, table, vacuum in conn.execute(_DUE).fetchall():
                what = "VACUUM ANALYZE" if vacuum else "ANALYZE"
                t = time.perf_counter()
                try:
                    conn.execute(f'{what} "{schema}"."{table}"')
                except psycopg.Error as exc:  # e.g. dropped meanwhile; the others still get theirs
                    done.append(f"{what} {table} failed: {exc}")
                    continue
                done.append(f"{what} {table} {time.perf_counter() - t:.1f}s")
        record: dict[str, object] = {"at": time.strftime("%H:%M:%S", time.gmtime()),
                                     "seconds": round(time.perf_counter() - t0, 1),
                                     "done": done}
        if done:
            self.passes.append(record)
            self._log(f"autovacuum stand-in {record['at']}: {'; '.join(done)}")
        return record

    def _loop(self) -> None:
        while not self._halt.wait(self._naptime):
            try:
                self.run_once()
            except psycopg.Error as exc:
                self._log(f"autovacuum stand-in: {exc}")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.autovacuum", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--naptime", type=float, default=60.0)
    args = ap.parse_args()
    standin = AutovacuumStandIn(args.url, args.naptime,
                                log=lambda m: print(m, flush=True))
    standin.run_once()
    standin.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
