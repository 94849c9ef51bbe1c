"""Storage of people (personal data encrypted by the services before it gets here) and what a
window or a resident's page reads about them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, insert, select

from hesuan.adapters.db import sql_helpers
from hesuan.adapters.db.lanes_store import WAITING_SQL
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    households,
    people,
    person_status,
    recalls,
    result_log,
    samples,
    sites,
    specimen_rejections,
    to_ms,
    tubes,
)
from hesuan.services.people_ports import (
    Home,
    NewPerson,
    PersonCorrectionRow,
    PersonFactsRow,
    PersonRecallRow,
    PersonRow,
    PersonSampleRow,
)

__all__ = ["SqlPeople"]



class SqlPeople(SqlRepository):
    """People, their samples and recalls."""

    def insert_people(self, rows: Sequence[NewPerson], now: datetime) -> int:
        present = {r[0] for r in self._in(people.c.id_hash, [p.id_hash for p in rows],
                                          people.c.id_hash)}
        fresh: dict[bytes, NewPerson] = {}
        for p in rows:
            if p.id_hash not in present and p.id_hash not in fresh:
                fresh[p.id_hash] = p
        if not fresh:
            return 0
        ts = to_ms(now)
        self.conn.execute(insert(people), [
            {"id": p.id, "id_kind": p.id_kind, "id_hash": p.id_hash, "id_enc": p.id_enc,
             "id_last4": p.id_last4, "name_enc": p.name_enc, "name_masked": p.name_masked,
             "phone_enc": p.phone_enc, "phone_hash": p.phone_hash, "grid_code": p.grid_code,
             "household_id": p.household_id, "address": p.address, "groups": p.groups,
             "birth_year": p.birth_year, "language": p.language, "created_at": ts}
            for p in fresh.values()])
        self.conn.execute(insert(person_status), [
            {"person_id": p.id, "test_state": "none", "updated_at": ts} for p in fresh.values()])
        return len(fresh)

    def person(self, person_id: str) -> PersonRow | None:
        p, s = people.c, person_status.c
        r = self.conn.execute(
            select(p.id, p.id_kind, p.id_enc, p.id_last4, p.name_enc, p.name_masked, p.phone_enc,
                   p.grid_code, p.household_id, p.address, p.groups, p.language, s.test_state,
                   s.last_sampled_at, s.last_result, s.last_result_at, s.last_negative_at,
                   s.open_recall_id, s.next_due_at)
            .join(person_status, s.person_id == p.id).where(p.id == person_id)
        ).first()
        return None if r is None else PersonRow(**r._mapping)

    def people_ids(self, limit: int) -> list[str]:
        return [r[0] for r in self.conn.execute(
            select(people.c.id).order_by(people.c.created_at, people.c.id).limit(limit))]

    def home(self, household_id: str) -> Home | None:
        h = households.c
        r = self.conn.execute(select(h.lat, h.lng).where(h.id == household_id)).first()
        return None if r is None else Home(float(r[0]), float(r[1]))

    def person_id_by_hash(self, id_hash: bytes) -> str | None:
        r = self.conn.execute(select(people.c.id).where(people.c.id_hash == id_hash)).first()
        return None if r is None else str(r[0])

    def person_facts(self, person_ids: Iterable[str]) -> dict[str, PersonFactsRow]:
        return {r[0]: PersonFactsRow(r[1], r[2], r[3], r[4], r[5], r[6])
                for r in sql_helpers.fetch_in(self.conn, _PERSON_FACTS[self._pg], person_ids,
                                         self._pg)}

    def home_grids(self, person_ids: Iterable[str]) -> dict[str, str]:
        return {r[0]: r[1] for r in sql_helpers.fetch_in(
            self.conn, _HOME_GRIDS[self._pg], person_ids, self._pg)}

    def person_samples(self, person_id: str) -> list[PersonSampleRow]:
        rows = self.conn.execute(
            select(samples.c.sampled_at, tubes.c.barcode, tubes.c.capacity, tubes.c.status,
                   tubes.c.result, tubes.c.resulted_at, sites.c.name.label("site"),
                   samples.c.recall_id)
            .join(tubes, tubes.c.id == samples.c.tube_id)
            .join(sites, sites.c.id == tubes.c.site_id)
            .where(samples.c.person_id == person_id).order_by(samples.c.sampled_at.desc())
            .limit(100)).all()
        return [PersonSampleRow(*r) for r in rows]

    def person_recalls(self, person_id: str) -> list[PersonRecallRow]:
        # a rejected tube's recall with the code of the lab's reason
        rejected = and_(specimen_rejections.c.tube_id == recalls.c.pool_tube_id,
                        recalls.c.reason == "tube_rejected")
        rows = self.conn.execute(
            select(recalls.c.id, recalls.c.reason, recalls.c.status, recalls.c.opened_at,
                   recalls.c.due_at, recalls.c.resolved_at, recalls.c.outcome,
                   specimen_rejections.c.code)
            .select_from(recalls.outerjoin(specimen_rejections, rejected))
            .where(recalls.c.person_id == person_id).order_by(recalls.c.opened_at.desc())
            .limit(50)).all()
        return [PersonRecallRow(*r) for r in rows]

    def person_corrections(self, person_id: str) -> list[PersonCorrectionRow]:
        log = result_log.c
        rows = self.conn.execute(
            select(tubes.c.barcode, log.previous, log.result, log.reason, log.at)
            .select_from(samples.join(result_log, log.tube_id == samples.c.tube_id)
                         .join(tubes, tubes.c.id == samples.c.tube_id))
            .where(samples.c.person_id == person_id, log.previous.is_not(None))
            .order_by(log.at.desc()).limit(50)).all()
        return [PersonCorrectionRow(*r) for r in rows]


# by backend (``sql_helpers.one_of``): SQLite, PostgreSQL; run by ``sql_helpers.fetch``
_PERSON_FACTS = {pg: (
    "SELECT p.id, p.groups, os.tube_id, ps.open_recall_id, p.name_masked, ps.test_state, "
    # the tube the registrar bound them to, waiting for the swab (two lanes)
    "(SELECT le.barcode FROM lane_entries le WHERE le.person_id = p.id AND "
    f"{WAITING_SQL.format(entries='le')} LIMIT 1) "
    "FROM people p JOIN person_status ps ON ps.person_id = p.id "
    "LEFT JOIN open_slots os ON os.person_id = p.id WHERE " + sql_helpers.one_of("p.id", pg))
    for pg in (False, True)}

_HOME_GRIDS = {pg: "SELECT p.id, p.grid_code FROM people p WHERE " + sql_helpers.one_of("p.id", pg)
               for pg in (False, True)}
