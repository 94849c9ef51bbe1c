"""Storage of rosters (the ``RosterRepository`` port): coverage by grid (one grouped query)
and its snapshot, the people of a roster, roster outcomes and region names. A repository of
``SqlUnitOfWork``.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, text

from hesuan.adapters.db import roster_sql
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    coverage_grid,
    people,
    regions,
    roster_outcomes,
    to_ms,
)
from hesuan.adapters.db.sql_helpers import chunks, from_ms_or_none, grid_range, one_of, vals
from hesuan.domain.rosters import Counts
from hesuan.services.rosters_ports import RosterOutcomeRow, RosterPerson

__all__ = ["SqlRosters"]



class SqlRosters(SqlRepository):

    # -- rosters ---------------------------------------------------------------------------

    def coverage_by_grid(self, prefix: str, since: datetime,
                         as_of: datetime) -> dict[str, Counts]:
        lo, hi = grid_range(prefix) if prefix else ("0" * 15, "9" * 15)
        rows = self.conn.execute(text(
            f"SELECT p.grid_code, {roster_sql.coverage_counts('ps.')} "
            "FROM people p JOIN person_status ps ON ps.person_id = p.id "
            "WHERE p.grid_code BETWEEN :lo AND :hi GROUP BY p.grid_code"),
            {"since": to_ms(since), "as_of": to_ms(as_of), "lo": lo, "hi": hi})
        return {r[0]: Counts.of(int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows}

    def save_coverage_snapshot(self, rows: dict[str, Counts], since: datetime,
                               as_of: datetime) -> None:
        self.conn.execute(delete(coverage_grid))
        data = [{"grid_code": g, "due": c.due, "sampled": c.sampled, "exempt": c.exempt,
                 "since": since, "as_of": as_of} for g, c in rows.items()]
        for part in chunks(data):
            self.conn.execute(insert(coverage_grid), list(part))

    def coverage_snapshot(self, prefix: str) -> tuple[dict[str, Counts], datetime,
                                                      datetime] | None:
        lo, hi = grid_range(prefix) if prefix else ("0" * 15, "9" * 15)
        rows = self.conn.execute(select(coverage_grid).where(
            coverage_grid.c.grid_code.between(lo, hi))).all()
        if not rows:
            head = self.conn.execute(select(coverage_grid.c.since, coverage_grid.c.as_of)
                                     .limit(1)).first()
            return None if head is None else ({}, head[0], head[1])
        return ({r.grid_code: Counts.of(r.due, r.sampled, r.exempt) for r in rows},
                rows[0].since, rows[0].as_of)

    #: A roster row: the person, their status and their last outcome; the last sample and
    #: the exemption's end ``{sampled}`` and ``{exempt}`` (as of the round's end, for a list).
    _ROSTER_SELECT = (
        "SELECT p.id, p.name_masked, p.grid_code, p.household_id, p.address, "
        "{sampled}, {exempt}, ps.exempt_reason, ps.colour, ps.zone_kind, "
        "p.phone_enc, "
        "(SELECT o.outcome FROM roster_outcomes o WHERE o.person_id = p.id "
        " ORDER BY o.at DESC LIMIT 1), "
        "(SELECT max(o.at) FROM roster_outcomes o WHERE o.person_id = p.id) "
        "FROM people p JOIN person_status ps ON ps.person_id = p.id ")

    @staticmethod
    def _roster_rows(rows: Sequence[Any]) -> list[RosterPerson]:
        return [RosterPerson(r[0], r[1], r[2], r[3], r[4], from_ms_or_none(r[5]),
                             from_ms_or_none(r[6]), r[7], r[8], r[9], r[10], r[11],
                             from_ms_or_none(r[12])) for r in rows]

    def roster_people(self, prefix: str, since: datetime, as_of: datetime, which: str,
                      limit: int, offset: int) -> list[RosterPerson]:
        lo, hi = grid_range(prefix) if prefix else ("0" * 15, "9" * 15)
        select = self._ROSTER_SELECT.format(sampled=roster_sql.last_sampled_at("ps."),
                                            exempt=roster_sql.exempt_until("ps."))
        rows = self.conn.execute(text(
            select + "WHERE p.grid_code BETWEEN :lo AND :hi "
            f"AND {roster_sql.condition(which, 'ps.')} "
            "ORDER BY p.grid_code, p.address, p.household_id, p.id LIMIT :lim OFFSET :off"),
            {"since": to_ms(since), "as_of": to_ms(as_of), "lo": lo, "hi": hi, "lim": limit,
             "off": offset}).all()
        return self._roster_rows(rows)

    def roster_people_by_ids(self, person_ids: Sequence[str]) -> list[RosterPerson]:
        if not person_ids:
            return []
        rows = self.conn.execute(text(
            self._ROSTER_SELECT.format(sampled="ps.last_sampled_at", exempt="ps.exempt_until")
            + f"WHERE {one_of('p.id', self._pg)} "
            "ORDER BY p.grid_code, p.address, p.household_id, p.id"),
            {"vals": vals(person_ids, self._pg)}).all()
        return self._roster_rows(rows)

    def people_by_lookup(self, lookup: bytes, prefix: str, limit: int) -> list[str]:
        lo, hi = grid_range(prefix) if prefix else ("0" * 15, "9" * 15)
        p = people.c
        return [r[0] for r in self.conn.execute(
            select(p.id).where(or_(p.id_hash == lookup, p.phone_hash == lookup),
                               p.grid_code.between(lo, hi)).order_by(p.id).limit(limit))]

    def encrypted_names(self, prefix: str, limit: int) -> list[tuple[str, bytes]]:
        lo, hi = grid_range(prefix) if prefix else ("0" * 15, "9" * 15)
        p = people.c
        return [(r[0], r[1]) for r in self.conn.execute(
            select(p.id, p.name_enc).where(p.grid_code.between(lo, hi))
            .order_by(p.grid_code, p.id).limit(limit))]

    def add_roster_outcome(self, row: RosterOutcomeRow) -> None:
        self.conn.execute(insert(roster_outcomes), asdict(row))

    def region_names(self, codes: Sequence[str]) -> dict[str, str]:
        return {r[0]: r[1] for r in self._in(regions.c.code, codes, regions.c.code,
                                             regions.c.name)}
