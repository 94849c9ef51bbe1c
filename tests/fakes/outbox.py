"""Fake repositories of what leaves the platform and what watches it: the outbox, alerts,
issued passes and venues' checks. Only what the services under test write is faked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from hesuan.services.outbox_ports import AlertRow, InDoubtMessage, NewMessage, OutboxMessage
from hesuan.services.status_ports import IssuedPass, VenueCheckRow, VenueRow
from tests.fakes.base import FakeRepository, unused
from tests.fakes.database import OutboxRecord

__all__ = ["FakeAlerts", "FakeOutbox", "FakePasses", "FakeVenues"]


class FakeOutbox(FakeRepository):
    """``OutboxRepository``: messages queued once per de-duplication key."""

    def enqueue(self, messages: Sequence[NewMessage], now: datetime) -> None:
        for m in messages:
            self.t.outbox.setdefault(m.dedup_key, OutboxRecord(
                m.id, m.dedup_key, m.person_id, m.tube_id, m.template, m.params, now, now))

    def pending(self, now: datetime, limit: int) -> list[OutboxMessage]:
        unused("outbox.pending")

    def claim(self, message_id: str, now: datetime) -> bool:
        unused("outbox.claim")

    def in_doubt(self, message_id: str, error: str) -> None:
        unused("outbox.in_doubt")

    def stale_claims(self, claimed_before: datetime, limit: int) -> list[InDoubtMessage]:
        unused("outbox.stale_claims")

    def release(self, message_ids: Sequence[str], claimed_before: datetime) -> int:
        unused("outbox.release")

    def sent(self, message_ids: Sequence[str], now: datetime) -> None:
        unused("outbox.sent")

    def unsent(self, message_ids: Sequence[str], reason: str, now: datetime) -> None:
        unused("outbox.unsent")

    def failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None:
        unused("outbox.failed")


class FakeAlerts(FakeRepository):
    """``AlertRepository``: alerts raised once per kind and subject."""

    def raise_late(self, now: datetime, transport_limit_ms: int, lab_limit_ms: int,
                   new_id: Callable[[], str]) -> int:
        unused("alerts.raise_late")

    def add(self, row: AlertRow) -> None:
        self.t.alerts.setdefault((row.kind, row.subject_id), row)

    def raise_positive_results(self, tube_ids: Sequence[str], lab_id: str, now: datetime,
                               new_id: Callable[[], str]) -> int:
        found = [self.t.tubes[i] for i in tube_ids if i in self.t.tubes]
        for t in found:
            self.add(AlertRow(new_id(), "positive_result", t.id, now, {
                "barcode": t.barcode, "lab_id": lab_id, "site_id": t.site_id}))
        return len(found)

    def recent(self, open_only: bool, limit: int, region_prefix: str) -> list[AlertRow]:
        unused("alerts.recent")


class FakePasses(FakeRepository):
    """``PassRepository``: the register of issued passes, as far as results revoke them."""

    def add_pass(self, row: IssuedPass, status_read_at: datetime) -> bool:
        unused("passes.add_pass")

    def revoke_passes(self, person_ids: Sequence[str], now: datetime, reason: str,
                      keep_red: bool) -> int:
        people = set(person_ids)
        n = 0
        for p in self.t.passes.values():
            if (p.issued.person_id in people and p.live(now)
                    and not (keep_red and p.issued.colour == "red")):
                p.revoked_at, p.revoke_reason = now, reason
                n += 1
        return n

    def revoke_untrue_green(self, now: datetime, reason: str) -> int:
        n = 0
        for p in self.t.passes.values():
            row = self.t.statuses.get(p.issued.person_id)
            if (p.live(now) and p.issued.colour == "green" and row is not None
                    and row.colour != "green"):
                p.revoked_at, p.revoke_reason = now, reason
                n += 1
        return n

    def revoked_pass_hashes(self, now: datetime) -> list[str]:
        unused("passes.revoked_pass_hashes")


class FakeVenues(FakeRepository):
    """``VenueRepository``: not faked (no service under test stores venues)."""

    def add_venue(self, row: VenueRow) -> None:
        unused("venues.add_venue")

    def venue(self, venue_id: str) -> VenueRow | None:
        unused("venues.venue")

    def venue_by_code(self, code: str) -> VenueRow | None:
        unused("venues.venue_by_code")

    def all(self) -> list[VenueRow]:
        unused("venues.all")

    def add_venue_check(self, row: VenueCheckRow) -> None:
        unused("venues.add_venue_check")

    def venue_checks(self, venue_id: str, limit: int) -> list[VenueCheckRow]:
        unused("venues.venue_checks")
