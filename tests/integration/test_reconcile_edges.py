"""The reconciliation (精准比对, docs/REPORTS.md) at its edges, on both backends: a tube packed
into a box that is not sealed yet is listed (it was in no list until the box ran late)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.services.auth import SYSTEM
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.sim.example import seed_example_city


def test_a_tube_in_a_box_not_yet_sealed_is_boxed_not_received(platform: Platform,
                                                               clock: FixedClock) -> None:
    city = seed_example_city(platform, people=20)
    site = city.sites["140105"]
    with platform.deps.uow(readonly=True) as uow:
        people = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = '' ORDER BY id LIMIT 5")).scalars().all()
    tube, box = make_tube_barcode(865_001), make_box_code(865_001)

    def ev(kind: EventKind, **kw: object) -> StationEvent:
        return StationEvent(str(uuid.uuid4()), kind, site, clock.now(), **kw)  # type: ignore[arg-type]

    out = platform.sampling.submit(Principal("u-s", "sampler", Role.SAMPLER, site), [
        ev(EventKind.OPEN_TUBE, barcode=tube, mode=5),
        *(ev(EventKind.SAMPLE, barcode=tube, code=platform.deps.codes.sign(p))
          for p in people),
        ev(EventKind.BOX_TUBE, barcode=tube, box_code=box)])
    assert {o.status for o in out} == {"accepted"}, out
    clock.advance(timedelta(hours=3))
    r = platform.reports.reconcile(SYSTEM)
    assert r.sampled_not_boxed.count == 0
    assert [(b.code, b.status, b.tube_count) for b in r.boxed_not_received.items] == [
        (box, "open", 1)]
