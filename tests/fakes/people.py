"""Fake repositories of people, places and the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from hesuan.domain.audit import AuditEntry
from hesuan.domain.json import JsonObject
from hesuan.services.people_ports import (
    Home,
    LabRow,
    NewLab,
    NewPerson,
    NewSite,
    PersonCorrectionRow,
    PersonFactsRow,
    PersonRecallRow,
    PersonRow,
    PersonSampleRow,
    RegionRow,
    SiteRow,
)
from tests.fakes.base import FakeRepository, unused
from tests.fakes.database import AuditRecord, PersonStatus

__all__ = ["FakeAuditLog", "FakePeople", "FakePlaces"]


class FakePeople(FakeRepository):
    """``PeopleRepository``: people and their status row, inserted together."""

    def insert_people(self, rows: Sequence[NewPerson], now: datetime) -> int:
        known = {p.id_hash for p in self.t.people.values()}
        n = 0
        for p in rows:
            if p.id_hash in known:
                continue
            known.add(p.id_hash)
            self.t.people[p.id] = p
            self.t.registered[p.id] = now
            self.t.statuses[p.id] = PersonStatus(person_id=p.id, updated_at=now)
            n += 1
        return n

    def person(self, person_id: str) -> PersonRow | None:
        p, s = self.t.people.get(person_id), self.t.statuses.get(person_id)
        if p is None or s is None:
            return None
        return PersonRow(
            id=p.id, id_kind=p.id_kind, id_enc=p.id_enc, id_last4=p.id_last4,
            name_enc=p.name_enc, name_masked=p.name_masked, phone_enc=p.phone_enc,
            grid_code=p.grid_code, household_id=p.household_id, address=p.address,
            groups=p.groups, language=p.language, test_state=s.test_state,
            last_sampled_at=s.last_sampled_at, last_result=s.last_result,
            last_result_at=s.last_result_at, last_negative_at=s.last_negative_at,
            open_recall_id=s.open_recall_id, next_due_at=s.next_due_at)

    def people_ids(self, limit: int) -> list[str]:
        unused("people.people_ids")

    def home(self, household_id: str) -> Home | None:
        unused("people.home")

    def person_id_by_hash(self, id_hash: bytes) -> str | None:
        unused("people.person_id_by_hash")

    def person_facts(self, person_ids: Iterable[str]) -> dict[str, PersonFactsRow]:
        out = {}
        for pid in person_ids:
            p, s = self.t.people.get(pid), self.t.statuses.get(pid)
            if p is not None and s is not None:
                out[pid] = PersonFactsRow(p.groups, self.t.open_slots.get(pid),
                                          s.open_recall_id, p.name_masked, s.test_state)
        return out

    def home_grids(self, person_ids: Iterable[str]) -> dict[str, str]:
        return {pid: self.t.people[pid].grid_code for pid in person_ids
                if pid in self.t.people}

    def person_samples(self, person_id: str) -> list[PersonSampleRow]:
        unused("people.person_samples")

    def person_recalls(self, person_id: str) -> list[PersonRecallRow]:
        unused("people.person_recalls")

    def person_corrections(self, person_id: str) -> list[PersonCorrectionRow]:
        unused("people.person_corrections")


class FakePlaces(FakeRepository):
    """``PlaceRepository``: regions, sites and labs."""

    def upsert_regions(self, rows: Sequence[RegionRow]) -> None:
        self.t.regions.update((r.code, r) for r in rows)

    def grid_codes(self) -> set[str]:
        unused("places.grid_codes")

    def region(self, code: str) -> RegionRow | None:
        return self.t.regions.get(code)

    def add_site(self, row: NewSite) -> None:
        self.t.sites[row.id] = SiteRow(row.id, row.name, row.kind, row.region_code, row.lat,
                                       row.lng, row.opening_hours, row.windows, row.status)

    def sites(self, ids: Iterable[str] | None = None) -> list[SiteRow]:
        if ids is None:
            return sorted(self.t.sites.values(), key=lambda s: s.name)
        return [self.t.sites[i] for i in dict.fromkeys(ids) if i in self.t.sites]

    def add_lab(self, row: NewLab) -> None:
        self.t.labs[row.id] = LabRow(row.id, row.name, row.region_code, row.daily_capacity)

    def labs(self) -> list[LabRow]:
        unused("places.labs")

    def lab(self, lab_id: str) -> LabRow | None:
        return self.t.labs.get(lab_id)


class FakeAuditLog(FakeRepository):
    """``AuditLogRepository``: the entries in order (the chain's hashes are not faked)."""

    def append(self, at: datetime, actor: str, action: str, subject: str,
               detail: JsonObject) -> None:
        self.t.audit.append(AuditRecord(at, actor, action, subject, detail))

    def entries(self, after_seq: int, limit: int) -> list[AuditEntry]:
        unused("audit_log.entries")

    def head(self) -> tuple[int, str] | None:
        unused("audit_log.head")

    def legacy_upto(self) -> int:
        unused("audit_log.legacy_upto")
