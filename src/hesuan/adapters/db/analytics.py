"""Set-based SQL behind the analytics reports (the ``services.analytics_ports.AnalyticsQueries``
port): one grouped query per report, the same statements on SQLite and PostgreSQL, read-only
transactions that never block writers.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.services``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from hesuan.adapters.db import roster_sql, sql_helpers, status_sql
from hesuan.adapters.db.engine import reading
from hesuan.adapters.db.schema import from_ms, to_ms
from hesuan.services.analytics_ports import (
    CoverageCounts,
    PoolRecall,
    PositivePool,
    RoutinePoolCount,
)

__all__ = ["SqlAnalytics"]


class SqlAnalytics:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _conn(self) -> Iterator[Connection]:
        with reading(self._engine) as c:
            c = c.execution_options(hesuan_readonly=True)
            with c.begin():
                yield c

    def latest_sample_at(self) -> datetime | None:
        with self._conn() as c:
            v = c.execute(text("SELECT max(last_sampled_at) FROM person_status")).scalar()
        return None if v is None else from_ms(int(v))

    def coverage_by_grid(self, prefix: str, since: datetime,
                         as_of: datetime) -> list[CoverageCounts]:
        sql = text(
            f"SELECT p.grid_code, {roster_sql.coverage_counts('ps.')} "
            "FROM people p JOIN person_status ps ON ps.person_id = p.id "
            "WHERE p.grid_code LIKE :prefix GROUP BY p.grid_code ORDER BY p.grid_code")
        with self._conn() as c:
            rows = c.execute(sql, {"since": to_ms(since), "as_of": to_ms(as_of),
                                   "prefix": f"{prefix}%"}).all()
        return [CoverageCounts(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows]

    def region_names(self, codes: Sequence[str]) -> dict[str, str]:
        with self._conn() as c:
            pg = c.dialect.name == "postgresql"
            return {code: name for code, name in sql_helpers.fetch_in(
                c, _REGION_NAMES[pg], codes, pg, chunk=5000)}

    def positive_pools(self, prefix: str, since: datetime, as_of: datetime,
                       limit: int) -> list[PositivePool]:
        params = {"since": to_ms(since), "as_of": to_ms(as_of), "prefix": f"{prefix}%",
                  "lim": int(limit)}
        with self._conn() as c:
            pools = c.execute(text(
                "SELECT t.id, t.barcode, t.site_id, s.name, substr(s.region_code, 1, 6), "
                "t.capacity, t.count, t.first_sampled_at, t.resulted_at, t.lab_id, "
                "t.investigation, t.investigation_closed_at FROM tubes t "
                f"JOIN sites s ON s.id = t.site_id WHERE t.result = {status_sql.POSITIVE} "
                "AND t.capacity > 1 "
                "AND t.first_sampled_at > :since AND t.first_sampled_at <= :as_of "
                "AND s.region_code LIKE :prefix ORDER BY t.resulted_at DESC, t.barcode "
                "LIMIT :lim"), params).all()
            by_pool: dict[str, list[PoolRecall]] = defaultdict(list)
            pg = c.dialect.name == "postgresql"
            for r in sql_helpers.fetch_in(c, _POOL_RECALLS[pg], [p[0] for p in pools], pg,
                                          chunk=5000):
                by_pool[r[0]].append(PoolRecall(
                    recall_id=r[1], person_id=r[2], name=r[3], status=r[4], outcome=r[5],
                    opened_at=from_ms(int(r[6])), due_at=from_ms(int(r[7])),
                    resolved_at=_t(r[8]), resolving_barcode=r[9]))
        return [PositivePool(
            barcode=p[1], site_id=p[2], site=p[3], district=p[4], pool_size=p[5], members=p[6],
            first_sampled_at=from_ms(int(p[7])), resulted_at=_t(p[8]), lab_id=p[9],
            investigation=p[10], investigation_closed_at=_t(p[11]),
            recalls=by_pool.get(p[0], [])) for p in pools]

    def routine_pool_counts(self, prefix: str, since: datetime,
                            as_of: datetime) -> list[RoutinePoolCount]:
        sql = text(
            "SELECT substr(s.region_code, 1, 6), t.count, count(*), "
            f"SUM(CASE WHEN t.result = {status_sql.POSITIVE} THEN 1 ELSE 0 END) "
            "FROM tubes t JOIN sites s ON s.id = t.site_id "
            f"WHERE t.result IN ({status_sql.NEGATIVE}, {status_sql.POSITIVE}) "
            "AND t.first_sampled_at > :since AND t.first_sampled_at <= :as_of "
            "AND s.kind NOT IN ('first_landing', 'hospital') AND s.region_code LIKE :prefix "
            # a recall's re-test tube: by its samples, or its mark once they are forgotten
            "AND NOT t.recall_resample AND NOT EXISTS (SELECT 1 FROM samples x "
            "WHERE x.tube_id = t.id AND x.recall_id IS NOT NULL) "
            "GROUP BY substr(s.region_code, 1, 6), t.count")
        with self._conn() as c:
            rows = c.execute(sql, {"since": to_ms(since), "as_of": to_ms(as_of),
                                   "prefix": f"{prefix}%"}).all()
        return [RoutinePoolCount(r[0], int(r[1]), int(r[2]), int(r[3] or 0)) for r in rows]


#: Region names by code, by backend (``sql_helpers.one_of``; True: PostgreSQL).
_REGION_NAMES = {pg: "SELECT code, name FROM regions WHERE " + sql_helpers.one_of("code", pg)
                 for pg in (False, True)}

#: The recalls of positive pools, oldest first, by backend.
_POOL_RECALLS = {pg: (
    "SELECT r.pool_tube_id, r.id, r.person_id, pe.name_masked, r.status, r.outcome, "
    "r.opened_at, r.due_at, r.resolved_at, rt.barcode FROM recalls r "
    "JOIN people pe ON pe.id = r.person_id LEFT JOIN tubes rt ON rt.id = r.resolving_tube_id "
    f"WHERE {sql_helpers.one_of('r.pool_tube_id', pg)} ORDER BY r.opened_at, r.id")
    for pg in (False, True)}


def _t(ms: Any) -> datetime | None:
    return None if ms is None else from_ms(int(ms))
