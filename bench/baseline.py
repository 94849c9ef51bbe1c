"""The baseline: how fast this machine's database takes plain rows, with nothing of Hesuan in
the way — one ``executemany`` of sample-shaped rows (tube id, person id, event UUID, epoch-ms
time, null recall id; composite primary key like ``samples``) through the bare DB-API driver
(``sqlite3`` / ``psycopg``), in one transaction, into a fresh table.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import create_engine

__all__ = ["raw_insert_rate"]

_DDL = ("CREATE TABLE bench_raw (tube_id VARCHAR(32) NOT NULL, person_id VARCHAR(32) NOT NULL, "
        "event_id VARCHAR(36) NOT NULL, sampled_at BIGINT NOT NULL, recall_id VARCHAR(32), "
        "PRIMARY KEY (tube_id, person_id))")


def _rows(n: int) -> list[tuple[Any, ...]]:
    t0 = 1_661_731_200_000
    out = []
    tube = uuid.uuid4().hex
    for i in range(n):
        if i % 10 == 0:
            tube = uuid.uuid4().hex
        out.append((tube, uuid.uuid4().hex, str(uuid.uuid4()), t0 + i, None))
    return out


def raw_insert_rate(database_url: str, rows: int) -> dict[str, Any]:
    """One run: rows/s of a plain executemany (table dropped and made again first)."""
    data = _rows(rows)
    engine = create_engine(database_url)
    pg = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        assert dbapi is not None
        cur: Any = dbapi.cursor()
        if not pg:  # the platform's settings: WAL, synchronous=NORMAL, explicit BEGIN
            dbapi.isolation_level = None
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("DROP TABLE IF EXISTS bench_raw")
        cur.execute(_DDL)
        if pg:
            dbapi.commit()
        sql = "INSERT INTO bench_raw VALUES (%s, %s, %s, %s, %s)" if pg else \
            "INSERT INTO bench_raw VALUES (?, ?, ?, ?, ?)"
        t0 = time.perf_counter()
        if not pg:
            cur.execute("BEGIN IMMEDIATE")
        cur.executemany(sql, data)
        if pg:
            dbapi.commit()
        else:
            cur.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        cur.execute("DROP TABLE bench_raw")
        if pg:
            dbapi.commit()
        cur.close()
    finally:
        raw.close()
        engine.dispose()
    return {"rows": rows, "elapsed_s": round(elapsed, 3), "rows_per_s": round(rows / elapsed)}
