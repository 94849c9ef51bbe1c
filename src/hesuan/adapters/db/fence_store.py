"""Storage of the fence (the ``FenceRepository`` port): checkpoints and venues, the facts of
scanned people, place scans and fence alerts (de-duplicated per person, rule and day). A
repository of ``SqlUnitOfWork``.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError

from hesuan.adapters.db import sql_helpers
from hesuan.adapters.db.engine import write_race
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    checkpoints,
    fence_alerts,
    fence_scans,
    from_ms,
    overrides,
    people,
    person_status,
    recalls,
    to_ms,
    venues,
)
from hesuan.adapters.db.sql_helpers import as_stored, chunks, grid_range, member_of
from hesuan.adapters.db.status_sql import lit
from hesuan.domain.fence import ALERTING_COLOUR, ALERTING_STATES, AlertStatus, ScanPerson
from hesuan.domain.results import Result, TestState
from hesuan.domain.status import OverrideState
from hesuan.services.fence_ports import (
    CheckpointRow,
    FenceAlertHandling,
    FenceAlertRow,
    FenceScanRow,
    NewFenceAlert,
    PlaceRow,
    PlaceScan,
    ScanFacts,
)

__all__ = ["SqlFence"]

#: The earliest result of each person's single tubes that made them positive
#: (``domain.results.member_outcome``: a positive tube of one), by backend.
_POSITIVE_SINCE = {pg: (
    "SELECT s.person_id, min(t.resulted_at) FROM samples s JOIN tubes t ON t.id = s.tube_id "
    f"WHERE {sql_helpers.one_of('s.person_id', pg)} AND t.result = {lit(Result.POSITIVE.value)} "
    "AND t.capacity = 1 AND t.resulted_at IS NOT NULL GROUP BY s.person_id")
    for pg in (False, True)}



class SqlFence(SqlRepository):

    # -- places and fence alerts -----------------------------------------------------------

    def add_checkpoint(self, row: CheckpointRow) -> None:
        try:
            self.conn.execute(insert(checkpoints), asdict(row))
        except IntegrityError as exc:
            if (race := write_race(exc)) is not None:
                raise race from exc
            raise

    def checkpoints(self) -> list[CheckpointRow]:
        return [CheckpointRow(**r._mapping) for r in self.conn.execute(
            select(checkpoints).order_by(checkpoints.c.code))]

    def places(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PlaceRow]:
        want = list(dict.fromkeys(keys))
        out: dict[tuple[str, str], PlaceRow] = {}
        for kind, table in (("venue", venues), ("checkpoint", checkpoints)):
            ids = [i for k, i in want if k == kind]
            for r in self._in(table.c.id, ids, table.c.id, table.c.name, table.c.region_code,
                              table.c.lat, table.c.lng):
                out[(kind, r[0])] = PlaceRow(kind, r[0], r[1], r[2], r[3], r[4])
        return out

    def scan_facts(self, person_ids: Iterable[str],
                   since: datetime | None = None) -> dict[str, ScanFacts]:
        """Facts of the scanned people who have anything a fence rule looks at (a zone, red,
        a re-test, an arrival); everyone else is left out (no rule can fire for them). One
        primary-key probe per person on ``person_status``, ``people`` only for those found.
        With ``since`` (the earliest scan's time), also their recalls open at any time since,
        their approved overrides and when the positive result they hold came: one indexed read
        each, and those whose recall or red override stood since are read though nothing
        marks them now."""
        ids = list(dict.fromkeys(person_ids))
        ps = person_status.c
        special = ((ps.zone_kind.isnot(None)) | (ps.colour == ALERTING_COLOUR.value)
                   | ps.test_state.in_([s.value for s in ALERTING_STATES])
                   | ps.open_recall_id.isnot(None) | ps.arrival_at.isnot(None))
        cols = (ps.person_id, ps.zone_id, ps.zone_kind, ps.colour, ps.rule_id, ps.test_state,
                ps.open_recall_id, ps.arrival_at)
        found: dict[str, Any] = {r[0]: r for r in self._in(ps.person_id, ids, *cols,
                                                           where=special)}
        recalled: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
        overridden: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
        positive_since: dict[str, datetime] = {}
        if since is not None:
            rc, ov = recalls.c, overrides.c
            for pid, opened, closed in self._in(
                    rc.person_id, ids, rc.person_id, rc.opened_at, rc.resolved_at,
                    where=rc.resolved_at.is_(None) | (rc.resolved_at > since)):
                recalled[pid].append((opened, closed))
            for pid, approved, until, colour in self._in(
                    ov.person_id, ids, ov.person_id, ov.decided_at, ov.expires_at, ov.colour,
                    where=(ov.status == OverrideState.APPROVED.value) & ov.decided_at.isnot(None)):
                overridden[pid].append((approved, until, colour))
            # a recall or a red override since the earliest scan: a rule's case then, though
            # nothing marks them now
            then = {*recalled, *(pid for pid, held in overridden.items()
                                 if any(until > since and colour == ALERTING_COLOUR.value
                                        for _, until, colour in held))}
            found.update({row[0]: row for row in self._in(ps.person_id, then - found.keys(),
                                                          *cols)})
            positive_since = self._positive_since(
                [pid for pid, row in found.items() if row[5] == TestState.POSITIVE.value])
        out: dict[str, ScanFacts] = {}
        for pid, grid, masked in self._in(people.c.id, found, people.c.id, people.c.grid_code,
                                          people.c.name_masked):
            r = found[pid]
            out[pid] = ScanFacts(grid, masked, ScanPerson(
                zone_id=r[1], zone_kind=r[2], colour=r[3], rule_id=r[4], test_state=r[5],
                open_recall=r[6] is not None, arrival_at=r[7],
                positive_since=positive_since.get(pid),
                recalls=None if since is None else tuple(recalled.get(pid, ())),
                overrides=None if since is None else tuple(overridden.get(pid, ()))))
        return out

    def _positive_since(self, person_ids: Sequence[str]) -> dict[str, datetime]:
        """When each person's first positive single tube still named by their samples came."""
        return {pid: from_ms(at) for pid, at in sql_helpers.fetch_in(
            self.conn, _POSITIVE_SINCE[self._pg], person_ids, self._pg)}

    def tests_since(self, person_ids: Sequence[str],
                    since: dict[str, datetime]) -> dict[str, list[datetime]]:
        out: dict[str, list[datetime]] = defaultdict(list)
        sql = ("SELECT person_id, sampled_at FROM samples WHERE "
               f"{sql_helpers.one_of('person_id', self._pg)} AND sampled_at >= :lo")
        for part in chunks(list(person_ids)):
            for pid, at in sql_helpers.fetch(self.conn, sql, {
                    "vals": sql_helpers.vals(part, self._pg),
                    "lo": min(to_ms(since[p]) for p in part)}):
                if at >= to_ms(since[pid]):
                    out[pid].append(from_ms(at))
        return dict(out)

    def known_scans(self, event_ids: Iterable[str]) -> set[str]:
        return {r[0] for r in self._in(fence_scans.c.event_id, event_ids,
                                       fence_scans.c.event_id)}

    def person_for_pass_hash(self, id_hashes: Iterable[str]) -> dict[str, str]:
        return {r[0]: r[1] for r in sql_helpers.fetch_in(
            self.conn, _PERSON_FOR_PASS_HASH[self._pg], id_hashes, self._pg)}

    def place_scans(self, place_kind: str, place_id: str, limit: int) -> list[PlaceScan]:
        f = fence_scans.c
        return [PlaceScan(*r) for r in self.conn.execute(
            select(f.at, f.via, f.alerts)
            .where(f.place_id == place_id, f.place_kind == place_kind)
            .order_by(f.at.desc()).limit(limit))]

    def record_scans(self, rows: Sequence[FenceScanRow]) -> None:
        """One driver-level executemany (the scan path's hot spot: no per-row bind
        processing); the same transaction as the rest of the unit of work."""
        if not rows:
            return
        cols = FenceScanRow._fields
        data = as_stored(rows, _SCAN_STAMPS)
        mark = "%s" if self._pg else "?"
        sql = (f"INSERT INTO fence_scans ({', '.join(cols)}) VALUES "
               f"({', '.join([mark] * len(cols))})")
        raw: Any = self.conn.connection.driver_connection
        try:
            cur = raw.cursor()
            try:
                cur.executemany(sql, data)
            finally:
                cur.close()
        except Exception as exc:  # the driver's own error (sqlite3 / psycopg), not wrapped
            if (race := write_race(exc)) is not None:
                raise race from exc
            raise

    def upsert_fence_alerts(self, rows: Sequence[NewFenceAlert]) -> int:
        if not rows:
            return 0
        existing: dict[tuple[str, str, str], str] = {}
        for aid, pid, rule, day in self._in(
                fence_alerts.c.person_id, {r.person_id for r in rows}, fence_alerts.c.id,
                fence_alerts.c.person_id, fence_alerts.c.rule, fence_alerts.c.day):
            existing[(pid, rule, day)] = aid
        fresh: dict[tuple[str, str, str], dict[str, Any]] = {}
        bumps: dict[str, list[int]] = {}
        for r in rows:
            key = (r.person_id, r.rule, r.day)
            at = to_ms(r.last_scan_at)
            if key in existing:
                b = bumps.setdefault(existing[key], [0, at])
                b[0] += 1
                b[1] = max(b[1], at)
            elif key in fresh:
                fresh[key]["scans"] += 1
                fresh[key]["last_scan_at"] = max(fresh[key]["last_scan_at"], r.last_scan_at)
            else:
                fresh[key] = asdict(r)
        if fresh:
            try:
                self.conn.execute(insert(fence_alerts), list(fresh.values()))
            except IntegrityError as exc:
                if (race := write_race(exc)) is not None:
                    raise race from exc
                raise
        if bumps:
            # a scan after the alert was closed (sent home, and out again) opens it again:
            # the earlier close's outcome and note stay until it is closed anew
            again = "status = :closed AND closed_at < :at"
            self.conn.execute(text(
                "UPDATE fence_alerts SET scans = scans + :n, last_scan_at = CASE WHEN "
                "last_scan_at < :at THEN :at ELSE last_scan_at END, "
                f"status = CASE WHEN {again} THEN :open ELSE status END, "
                f"acknowledged_by = CASE WHEN {again} THEN NULL ELSE acknowledged_by END, "
                f"acknowledged_at = CASE WHEN {again} THEN NULL ELSE acknowledged_at END "
                "WHERE id = :id"),
                [{"id": k, "n": v[0], "at": v[1], "closed": AlertStatus.CLOSED.value,
                  "open": AlertStatus.OPEN.value} for k, v in bumps.items()])
        return len(fresh)

    def fence_alerts(self, prefix: str, grid: str | None, statuses: Sequence[str],
                     limit: int) -> list[FenceAlertRow]:
        stmt = (_ALERTS.join(people, people.c.id == fence_alerts.c.person_id)
                .order_by(fence_alerts.c.raised_at.desc(), fence_alerts.c.id).limit(limit))
        if grid is not None:
            stmt = stmt.where(fence_alerts.c.grid_code == grid)
        elif prefix:
            lo, hi = grid_range(prefix)
            stmt = stmt.where(fence_alerts.c.grid_code.between(lo, hi))
        params: dict[str, Any] = {}
        if statuses:
            stmt = stmt.where(member_of(fence_alerts.c.status, self._pg))
            params["vals"] = sql_helpers.vals(statuses, self._pg)
        return [FenceAlertRow(**r._mapping) for r in self.conn.execute(stmt, params)]

    def fence_alert(self, alert_id: str, *, for_update: bool = False) -> FenceAlertRow | None:
        stmt = (_ALERTS.outerjoin(people, people.c.id == fence_alerts.c.person_id)
                .where(fence_alerts.c.id == alert_id))
        if for_update:
            stmt = stmt.with_for_update(of=fence_alerts)
        r = self.conn.execute(stmt).first()
        return None if r is None else FenceAlertRow(**r._mapping)

    def update_fence_alert(self, alert_id: str, handling: FenceAlertHandling) -> None:
        values = {k: v for k, v in asdict(handling).items() if v is not None}
        values |= {"status": handling.status, "note": handling.note}
        self.conn.execute(sa_update(fence_alerts).where(fence_alerts.c.id == alert_id)
                          .values(**values))


#: The people of passes by their hashes, by backend (``sql_helpers.one_of``; True: PostgreSQL).
_PERSON_FOR_PASS_HASH = {pg: "SELECT id_hash, person_id FROM passes WHERE "
                             + sql_helpers.one_of("id_hash", pg) for pg in (False, True)}

#: A fence alert with its person's masked name and address (``FenceAlertRow``).
_ALERTS = select(fence_alerts, people.c.name_masked, people.c.address).select_from(fence_alerts)

#: The positions of ``FenceScanRow``'s timestamps (``at``, ``received_at``).
_SCAN_STAMPS = (FenceScanRow._fields.index("at"), FenceScanRow._fields.index("received_at"))
