"""Station batches whose events depend on each other inside the batch, on both backends."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.sampling import make_box_code
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.sim.example import seed_example_city
from tests.helpers import barcodes


def test_a_person_sampled_again_after_their_tube_is_sealed_in_the_same_batch(
        platform: Platform, clock: FixedClock) -> None:
    """A window seals a tube and, in the same batch, samples one of its people again into a
    new tube (a re-swab): the batch is accepted and the person's open tube is the new one."""
    city = seed_example_city(platform, people=10)
    site = city.sites["140105"]
    sampler = Principal("u-s", "s", Role.SAMPLER, site)
    with platform.deps.uow(readonly=True) as uow:
        pid = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = '' ORDER BY id")).scalars().first()
    code = platform.deps.codes.sign(pid)
    first, second = (b for b, _ in zip(barcodes(8100), range(2), strict=False))

    def ev(kind: EventKind, **kw: Any) -> StationEvent:
        return StationEvent(str(uuid.uuid4()), kind, site, clock.now(), **kw)

    out = platform.sampling.submit(sampler, [ev(EventKind.OPEN_TUBE, barcode=first, mode=10),
                                             ev(EventKind.SAMPLE, barcode=first, code=code)])
    assert {o.status for o in out} == {"accepted"}, out
    out = platform.sampling.submit(sampler, [ev(EventKind.SEAL_TUBE, barcode=first),
                                             ev(EventKind.OPEN_TUBE, barcode=second, mode=10),
                                             ev(EventKind.SAMPLE, barcode=second, code=code)])
    assert [o.status for o in out] == ["accepted"] * 3, out
    with platform.deps.uow(readonly=True) as uow:
        slots = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT t.barcode FROM open_slots s JOIN tubes t ON t.id = s.tube_id "
            "WHERE s.person_id = :p"), {"p": pid}).scalars().all()
    assert slots == [second]


class _Window:
    """A window of the example city's site, two hours into the day, sending events stamped
    minutes before now."""

    def __init__(self, platform: Platform, clock: FixedClock) -> None:
        city = seed_example_city(platform, people=10)
        self.p, self.clock, self.site = platform, clock, city.sites["140105"]
        self.sampler = Principal("u-s", "s", Role.SAMPLER, self.site)
        with platform.deps.uow(readonly=True) as uow:
            people = uow.conn.execute(text(  # type: ignore[attr-defined]
                "SELECT id FROM people WHERE groups = '' ORDER BY id")).scalars().all()
        self.codes = [platform.deps.codes.sign(p) for p in people]
        clock.advance(timedelta(hours=2))

    def ev(self, kind: EventKind, at_minutes: int = 0, **kw: Any) -> StationEvent:
        return StationEvent(str(uuid.uuid4()), kind, self.site,
                            self.clock.now() + timedelta(minutes=at_minutes), **kw)

    def send(self, *events: StationEvent) -> list[tuple[str, str | None]]:
        return [(o.status, o.reason)
                for o in self.p.sampling.submit(self.sampler, list(events))]


def test_a_box_is_not_sealed_before_its_tubes_were_packed(platform: Platform,
                                                          clock: FixedClock) -> None:
    """A box's seal stamped before a tube was packed into it (a station's clock set back) was
    taken: the chain's times ran backwards (the box sealed at 09:00, its tube sealed and packed
    at 10:00). Refused ``before_packing``, in the batch that packs it and in a later one."""
    w = _Window(platform, clock)
    tube, box = next(barcodes(8200)), make_box_code(8200)
    assert w.send(w.ev(EventKind.OPEN_TUBE, -60, barcode=tube, mode=1),
                  w.ev(EventKind.SAMPLE, -59, barcode=tube, code=w.codes[0]),
                  w.ev(EventKind.BOX_TUBE, -50, barcode=tube, box_code=box),
                  w.ev(EventKind.SEAL_BOX, -110, box_code=box)) == [
        ("accepted", None)] * 3 + [("rejected", "before_packing")]
    assert w.send(w.ev(EventKind.SEAL_BOX, -100, box_code=box)) == [
        ("rejected", "before_packing")]
    assert w.send(w.ev(EventKind.SEAL_BOX, -40, box_code=box)) == [("accepted", None)]


def test_a_tube_is_not_sealed_before_its_last_sample(platform: Platform,
                                                     clock: FixedClock) -> None:
    """A tube sealed by hand was checked against its first sample only: a seal stamped between
    its first and its last sample was taken (the tube sealed at 10:00 holding a sample of
    10:05). Refused ``before_last_sample``, whether its samples came in this batch or before."""
    w = _Window(platform, clock)
    first, second = (b for b, _ in zip(barcodes(8300), range(2), strict=False))
    assert w.send(w.ev(EventKind.OPEN_TUBE, -60, barcode=first, mode=10),
                  w.ev(EventKind.SAMPLE, -59, barcode=first, code=w.codes[0]),
                  w.ev(EventKind.SAMPLE, -50, barcode=first, code=w.codes[1])) == [
        ("accepted", None)] * 3
    assert w.send(w.ev(EventKind.SEAL_TUBE, -55, barcode=first)) == [
        ("rejected", "before_last_sample")]
    assert w.send(w.ev(EventKind.SEAL_TUBE, -45, barcode=first)) == [("accepted", None)]
    assert w.send(w.ev(EventKind.OPEN_TUBE, -40, barcode=second, mode=10),
                  w.ev(EventKind.SAMPLE, -39, barcode=second, code=w.codes[2]),
                  w.ev(EventKind.SAMPLE, -36, barcode=second, code=w.codes[3]),
                  w.ev(EventKind.SEAL_TUBE, -37, barcode=second),
                  w.ev(EventKind.SEAL_TUBE, -35, barcode=second)) == [("accepted", None)] * 3 + [
        ("rejected", "before_last_sample"), ("accepted", None)]
