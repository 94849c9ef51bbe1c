"""Storage of what sampling stations send: station events (each kept once, with the digest of its
content), tubes and boxes as the station leaves them, samples, and each sampled person's status
row. A station batch is written in a few bulk statements.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from hesuan.adapters.db import sql_helpers, status_sql
from hesuan.adapters.db.engine import write_race
from hesuan.adapters.db.lanes_store import WAITING_SQL
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    boxes,
    from_ms,
    open_slots,
    samples,
    station_events,
    to_ms,
    tubes,
)
from hesuan.adapters.db.sql_helpers import (
    chunks,
    insert_many,
    member_of,
    update_many,
)
from hesuan.adapters.db.sql_helpers import (
    from_ms_or_none as _dt,
)
from hesuan.domain.sampling import TubeState, TubeStatus
from hesuan.services.sampling_ports import BoxRow, StationEventRow, StationWrites

__all__ = ["SqlStation"]



class SqlStation(SqlRepository):
    """Station events, tubes, boxes and samples, as sampling writes them."""

    def known_events(self, event_ids: Iterable[str]) -> dict[str, str | None]:
        return {r[0]: r[1] for r in sql_helpers.fetch_in(self.conn, _KNOWN_EVENTS[self._pg],
                                                    event_ids, self._pg)}

    def last_sampled(self, tube_ids: Iterable[str]) -> dict[str, datetime]:
        return {r[0]: from_ms(r[1]) for r in sql_helpers.fetch_in(
            self.conn, _LAST_SAMPLED[self._pg], tube_ids, self._pg)}

    def record_event(self, row: StationEventRow) -> None:
        try:
            self.conn.execute(insert(station_events), row._asdict())
        except IntegrityError as exc:
            if (race := write_race(exc)) is not None:
                raise race from exc
            raise

    def tubes_by_barcode(self, barcodes: Iterable[str],
                         for_update: bool) -> dict[str, TubeState]:
        sql = _TUBE_STATES[self._pg] + (" FOR UPDATE" if for_update and self._pg else "")
        return {r[1]: TubeState(r[0], r[1], r[2], r[3], bool(r[4]), TubeStatus(r[5]), r[6],
                                _dt(r[7]), _dt(r[8]), r[9], _dt(r[10]), int(r[11]))
                for r in sql_helpers.fetch_in(self.conn, sql, barcodes, self._pg)}

    def boxes_by_code(self, codes: Iterable[str], for_update: bool) -> dict[str, BoxRow]:
        out: dict[str, BoxRow] = {}
        stmt = select(boxes.c.id, boxes.c.code, boxes.c.site_id, boxes.c.status,
                      boxes.c.first_tube_sealed_at).where(member_of(boxes.c.code, self._pg))
        if for_update and self._pg:
            stmt = stmt.with_for_update()
        for part in chunks(list(codes)):
            for r in self.conn.execute(stmt, {"vals": sql_helpers.vals(part, self._pg)}):
                out[r.code] = BoxRow(r.id, r.code, r.site_id, r.status, [],
                                     r.first_tube_sealed_at)
        if out:
            by_id = {b.id: b for b in out.values()}
            for tid, bid, sealed in self._in(tubes.c.box_id, list(by_id), tubes.c.id,
                                             tubes.c.box_id, tubes.c.sealed_at):
                box = by_id[bid]
                box.tube_ids.append(tid)
                if sealed is not None and (box.last_tube_at is None or sealed > box.last_tube_at):
                    box.last_tube_at = sealed
        return out

    def apply_station_writes(self, w: StationWrites, now: datetime) -> list[str]:
        c = self.conn
        now_ms = to_ms(now)
        # read before anything is written (the batch's writes change no status row): the
        # writes then go as one stream, none waiting for the one before it
        status_rows, left = self._sampled_status_rows(w, now_ms)
        try:
            with sql_helpers.pipelined(c):
                self._write(w, now_ms, status_rows)
        except IntegrityError as exc:
            if (race := write_race(exc)) is not None:
                raise race from exc
            raise
        return left

    def _write(self, w: StationWrites, now_ms: int, status_rows: list[tuple[Any, ...]],
               ) -> None:
        c = self.conn
        # the slots of the tubes this batch seals go first: a person of such a tube may be
        # sampled again into a new one further on in the same batch
        if w.sealed_tube_ids:
            sql_helpers.execute(c, _FREE_SLOTS[self._pg],
                                {"vals": sql_helpers.vals(list(w.sealed_tube_ids), self._pg)})
        insert_many(c, station_events, w.events)
        insert_many(c, tubes, w.new_tubes)
        insert_many(c, boxes, w.new_boxes)
        if w.samples:
            insert_many(c, samples, w.samples)
            sealed = w.sealed_tube_ids
            slots = [_OpenSlot(s.person_id, s.tube_id)
                     for s in w.samples if s.tube_id not in sealed]
            if slots:
                insert_many(c, open_slots, slots)
        update_many(c, tubes, w.tube_changes)
        update_many(c, boxes, w.box_changes, _KEPT_IF_NONE)
        if not status_rows:
            return
        if self._pg:  # one statement for the batch, its rows bound as arrays
            cols = list(zip(*status_rows, strict=True))
            sql_helpers.execute(c, _SAMPLED_STATUS_PG, {
                "at": list(cols[0]), "tube": list(cols[1]), "now": now_ms,
                "pid": list(cols[3]), "plain": list(cols[4]), "vu": list(cols[5])})
        else:
            sql_helpers.cursor(c, _SAMPLED_STATUS_SQLITE, status_rows, many=True).close()

    def _sampled_status_rows(self, w: StationWrites, now_ms: int,
                             ) -> tuple[list[tuple[Any, ...]], list[str]]:
        """The sampled people's status rows as ``_SAMPLED_STATUS`` binds them, and the people
        it leaves to the caller's refresh (not plain)."""
        if not w.samples:
            return [], []
        plain_facts = {r[0]: r[1:] for r in sql_helpers.fetch_in(
            self.conn, _SAMPLED_FACTS[self._pg], (s.person_id for s in w.samples), self._pg)}
        rows: list[tuple[Any, ...]] = []
        left: dict[str, None] = {}
        for s in w.samples:
            pid, at = s.person_id, to_ms(s.sampled_at)
            plain, valid_until = False, None
            if (f := plain_facts.get(pid)) is not None:
                interval, grace, due = f
                due = due if interval is None else at + interval
                plain = status_sql.decided_plain(due, grace, now_ms)
                valid_until = status_sql.overdue_at(due, grace)
            if not plain:
                left[pid] = None
            rows.append((at, s.tube_id, now_ms, pid, plain, valid_until))
        return rows, list(left)


class _OpenSlot(NamedTuple):
    """A sampled person's tube while it is open (``open_slots``)."""

    person_id: str
    tube_id: str


#: A box change's ``sealed_at`` is None when the batch did not seal it: the stored value stays.
_KEPT_IF_NONE = frozenset({"sealed_at"})


# with each tube, the people registered to it who wait for their swab (the places they hold)
_TUBE_STATES = {pg: (
    'SELECT id, barcode, site_id, capacity, priority, status, "count", first_sampled_at, '
    "sealed_at, box_id, opened_at, (SELECT COUNT(*) FROM lane_entries le WHERE "
    f"le.barcode = tubes.barcode AND {WAITING_SQL.format(entries='le')}) "
    "FROM tubes WHERE " + sql_helpers.one_of("barcode", pg))
    for pg in (False, True)}


_FREE_SLOTS = {pg: "DELETE FROM open_slots WHERE " + sql_helpers.one_of("tube_id", pg)
               for pg in (False, True)}


_LAST_SAMPLED = {pg: "SELECT tube_id, MAX(sampled_at) FROM samples WHERE "
                 + sql_helpers.one_of("tube_id", pg) + " GROUP BY tube_id"
                 for pg in (False, True)}


_KNOWN_EVENTS = {pg: "SELECT event_id, digest FROM station_events WHERE "
                 + sql_helpers.one_of("event_id", pg)
                 for pg in (False, True)}


# A sampled person's status row: the sample (last sampled, 已采 "sampled", the next due time)
# and, for someone with nothing special who is not past due + grace after it, in the same
# statement the status the engine decides for them (green, awaiting the result, valid until
# due + grace: ``status_store.refresh_plain``), worked out by ``apply_station_writes`` from
# ``_SAMPLED_FACTS`` and bound as ``:plain`` and ``:vu``. One write of the row instead of two
# (each moved its entries in two indexes, and on PostgreSQL left a dead row version). Everyone
# else is left to the caller's refresh, which decides them by id; their row is not parked
# among the stale (``status_valid_until = now``: on PostgreSQL each parking left a dead entry
# in the index range every refresh scans, 289 ms a scan in the 5.4 M round).
def _sampled_status(v: str, source: str = "") -> str:
    """That write, with the sample's values named ``{v}at``, ``{v}tube``, ``{v}pid``,
    ``{v}plain`` and ``{v}vu``: parameters, or the columns of ``source`` (a FROM clause)."""
    return (
        f"UPDATE person_status SET last_sampled_at = {v}at, last_tube_id = {v}tube, "
        f"test_state = {status_sql.SAMPLED_STATE}, updated_at = :now, "
        # arrivals (三天两检) or the cadence: ``domain.arrivals.next_due_after_sample``
        f"next_due_at = {status_sql.next_due_after_sample(f'{v}at')}, "
        + ", ".join(f"{column} = CASE WHEN {v}plain THEN {decided} ELSE {column} END"
                    for column, decided in (
                        *status_sql.DEFAULT_STATUS.items(),
                        ("reasons", status_sql.AWAITING),
                        ("status_at", ":now"),
                        ("status_valid_until", f"{v}vu")))
        + f"{source} WHERE person_id = {v}pid "
        f"AND (last_sampled_at IS NULL OR last_sampled_at <= {v}at)")


_SAMPLED_STATUS = _sampled_status(":")

# PostgreSQL: the batch's rows as arrays, one UPDATE a batch. A person sampled twice in it is
# written once, with their latest sample (the later of two at the same instant): what the rows
# one after the other leave, each later sample overwriting the earlier one.
_SAMPLED_STATUS_PG = _sampled_status("v.", (
    " FROM (SELECT DISTINCT ON (pid) at, tube, pid, plain, vu FROM unnest(CAST(:at AS bigint[]), "
    "CAST(:tube AS varchar[]), CAST(:pid AS varchar[]), CAST(:plain AS boolean[]), "
    "CAST(:vu AS bigint[])) WITH ORDINALITY AS b(at, tube, pid, plain, vu, n) "
    "ORDER BY pid, at DESC, n DESC) v"))


# SQLite: each parameter bound once, by number (the statement names most of them many times)
_SAMPLED_STATUS_SQLITE = functools.reduce(
    lambda sql, n: sql.replace(f":{n[1]}", f"?{n[0]}"),
    enumerate(("at", "tube", "now", "pid", "plain", "vu"), start=1), _SAMPLED_STATUS)


# What decides whether a sampled person is plain: nothing special (``status_store``'s rule,
# which a station batch cannot change), and their cadence
_SAMPLED_FACTS = {pg: (
    "SELECT person_id, interval_ms, grace_ms, next_due_at FROM person_status WHERE "
    f"{sql_helpers.one_of('person_id', pg)} AND {status_sql.NOTHING_SPECIAL}")
    for pg in (False, True)}
