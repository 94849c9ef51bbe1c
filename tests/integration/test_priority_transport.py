"""Priority transport (优先送检, F9), on both backends: a box holding a priority tube (a
first-landing point's, a key group's, a recall's single tube) heads the courier's lists, marked,
before routine boxes sealed earlier (they were listed by the first seal only, unmarked)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.sim.example import seed_example_city


def test_a_box_of_priority_tubes_heads_the_couriers_lists(platform: Platform,
                                                         clock: FixedClock) -> None:
    city = seed_example_city(platform, people=20)
    with platform.deps.uow(readonly=True) as uow:
        people = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = '' ORDER BY id LIMIT 6")).scalars().all()
    courier = Principal("u-courier", "courier", Role.COURIER)

    def pack(site: str, serial: int, mode: int, who: list[str]) -> str:
        tube, box = make_tube_barcode(serial), make_box_code(serial)

        def ev(kind: EventKind, **kw: object) -> StationEvent:
            return StationEvent(str(uuid.uuid4()), kind, site, clock.now(),
                                **kw)  # type: ignore[arg-type]

        out = platform.sampling.submit(Principal("u-s", "s", Role.SAMPLER, site), [
            ev(EventKind.OPEN_TUBE, barcode=tube, mode=mode),
            *(ev(EventKind.SAMPLE, barcode=tube, code=platform.deps.codes.sign(p))
              for p in who),
            ev(EventKind.BOX_TUBE, barcode=tube, box_code=box),
            ev(EventKind.SEAL_BOX, box_code=box)])
        assert {o.status for o in out} == {"accepted"}, out
        return box

    routine = pack(city.sites["140105"], 866_001, 5, people[:5])
    clock.advance(timedelta(minutes=20))
    landing = pack(city.sites["first_landing"], 866_002, 1, people[5:6])
    lists = platform.worklists.courier_boxes(courier)
    assert [(b.box.code, b.box.priority) for b in lists.to_collect] == [
        (landing, True), (routine, False)]
    for box in (routine, landing):
        assert platform.delivery.hand_over(courier, str(uuid.uuid4()), box, clock.now())
    lists = platform.worklists.courier_boxes(courier)
    assert [(b.box.code, b.box.priority) for b in lists.in_transit] == [
        (landing, True), (routine, False)]
