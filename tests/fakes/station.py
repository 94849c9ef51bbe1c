"""Fake repository of what sampling stations write: events, tubes, boxes, samples, and the
sampled people's status rows (``adapters/db/station_store.py`` in memory)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from hesuan.domain.arrivals import next_due_after_sample
from hesuan.domain.results import TestState
from hesuan.domain.sampling import TubeState, TubeStatus
from hesuan.domain.status import DEFAULT_GRACE, decide
from hesuan.services.ports import WriteRace
from hesuan.services.sampling_ports import (
    BoxRecord,
    BoxRow,
    StationEventRow,
    StationWrites,
)
from tests.fakes.base import FakeRepository, unused
from tests.fakes.database import (
    PersonStatus,
    TubeRecord,
    nothing_special,
    status_facts,
    write_status,
)

__all__ = ["FakeStation"]

K = TypeVar("K")
V = TypeVar("V")


class FakeStation(FakeRepository):
    """``StationRepository``."""

    def known_events(self, event_ids: Iterable[str]) -> dict[str, str | None]:
        events = self.t.station_events
        return {i: events[i].digest for i in event_ids if i in events}

    def record_event(self, row: StationEventRow) -> None:
        unused("station.record_event")

    def last_sampled(self, tube_ids: Iterable[str]) -> dict[str, datetime]:
        wanted = set(tube_ids)
        out: dict[str, datetime] = {}
        for s in self.t.samples.values():
            if s.tube_id in wanted and (s.tube_id not in out or s.sampled_at > out[s.tube_id]):
                out[s.tube_id] = s.sampled_at
        return out

    def tubes_by_barcode(self, barcodes: Iterable[str],
                         for_update: bool) -> dict[str, TubeState]:
        wanted = set(barcodes)
        # fresh states, as read from the store: the service changes them in memory
        return {t.barcode: TubeState(t.id, t.barcode, t.site_id, t.capacity, t.priority,
                                     TubeStatus(t.status), t.count, t.first_sampled_at,
                                     t.sealed_at, t.box_id, t.opened_at)
                for t in self.t.tubes.values() if t.barcode in wanted}

    def boxes_by_code(self, codes: Iterable[str], for_update: bool) -> dict[str, BoxRow]:
        wanted = set(codes)
        out = {b.code: BoxRow(b.id, b.code, b.site_id, b.status, [], b.first_tube_sealed_at)
               for b in self.t.boxes.values() if b.code in wanted}
        by_id = {b.id: b for b in out.values()}
        for t in self.t.tubes.values():
            if t.box_id in by_id:
                box = by_id[t.box_id]
                box.tube_ids.append(t.id)
                if t.sealed_at is not None and (box.last_tube_at is None
                                                or t.sealed_at > box.last_tube_at):
                    box.last_tube_at = t.sealed_at
        return out

    def apply_station_writes(self, w: StationWrites, now: datetime) -> list[str]:
        t = self.t
        # the slots of the tubes this batch seals go first: their people may be sampled again
        # into a new tube further on in the same batch
        for pid in [p for p, tube in t.open_slots.items() if tube in w.sealed_tube_ids]:
            del t.open_slots[pid]
        # the keys the tables hold unique: a second writer's row is a write race
        for e in w.events:
            _insert(t.station_events, e.event_id, e)
        barcodes = {x.barcode for x in t.tubes.values()}
        for n in w.new_tubes:
            if n.barcode in barcodes:
                raise WriteRace(f"tube barcode {n.barcode}")
            barcodes.add(n.barcode)
            _insert(t.tubes, n.id, TubeRecord(
                n.id, n.barcode, n.site_id, n.window, n.capacity, n.count, n.priority,
                n.status, n.opened_at, n.opened_by, n.first_sampled_at, n.sealed_at, n.box_id))
        codes = {b.code for b in t.boxes.values()}
        for nb in w.new_boxes:
            if nb.code in codes:
                raise WriteRace(f"box code {nb.code}")
            codes.add(nb.code)
            _insert(t.boxes, nb.id, BoxRecord(
                nb.id, nb.code, nb.site_id, nb.status, nb.opened_at, nb.sealed_at,
                nb.tube_count, nb.first_tube_sealed_at, None, None, None, None, None, None,
                None, nb.discrepancy))
        for s in w.samples:
            _insert(t.samples, (s.tube_id, s.person_id), s)
            if s.tube_id not in w.sealed_tube_ids:
                _insert(t.open_slots, s.person_id, s.tube_id)
        for c in w.tube_changes:
            tube = t.tubes[c.id]
            tube.count, tube.priority, tube.status = c.count, c.priority, c.status
            tube.first_sampled_at, tube.sealed_at, tube.box_id = (
                c.first_sampled_at, c.sealed_at, c.box_id)
        for bc in w.box_changes:
            box = t.boxes[bc.id]
            t.boxes[bc.id] = replace(
                box, status=bc.status, sealed_at=bc.sealed_at or box.sealed_at,
                tube_count=bc.tube_count, first_tube_sealed_at=bc.first_tube_sealed_at)
        # whether each sampled person is plain is read once, before any of their rows changes:
        # their cadence and due time, if nothing about them is special
        cadence = {s.person_id: (row.interval, row.grace, row.next_due_at) for s in w.samples
                   if (row := t.statuses.get(s.person_id)) is not None and nothing_special(row)}
        left: dict[str, None] = {}
        for s in w.samples:
            is_plain = False
            if (facts := cadence.get(s.person_id)) is not None:
                interval, grace, due = facts
                after = next_due_after_sample(s.sampled_at, None, interval, due)
                grace = DEFAULT_GRACE if grace is None else grace
                is_plain = after is None or after + grace > now
            if not is_plain:
                left[s.person_id] = None
            row = t.statuses.get(s.person_id)
            if row is None or (row.last_sampled_at is not None
                               and row.last_sampled_at > s.sampled_at):
                continue  # a later sample is already on the row
            _sampled(row, s.sampled_at, s.tube_id, now)
            if is_plain:
                # the engine's decision for the plain case, stored as the set-based write does
                write_status(row, decide(status_facts(row, t), now), now, None)
        return list(left)


def _sampled(row: PersonStatus, at: datetime, tube_id: str, now: datetime) -> None:
    """A sample on a status row: awaiting its result (unless a rule's state holds) and the due
    time it moves (``domain.arrivals.next_due_after_sample``)."""
    row.last_sampled_at, row.last_tube_id, row.updated_at = at, tube_id, now
    if row.test_state not in (TestState.POSITIVE, TestState.PENDING_RETEST):
        row.test_state = TestState.SAMPLED.value
    row.next_due_at = next_due_after_sample(at, row.arrival_at, row.interval, row.next_due_at)


def _insert(table: dict[K, V], key: K, row: V) -> None:
    if key in table:
        raise WriteRace(f"{key!r} is already stored")
    table[key] = row
