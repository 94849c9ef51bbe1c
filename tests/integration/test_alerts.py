"""Alerts as an area's officer sees them, on both backends."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.sampling import make_box_code
from hesuan.services.auth import SYSTEM
from hesuan.services.lab import ResultInput
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.sim.example import ExampleCity, seed_example_city
from tests.helpers import barcodes
from tests.integration.lab_bench import Bench


def _received_box(platform: Platform, clock: FixedClock, city: ExampleCity, district: str,
                  people: list[str], first: int) -> list[str]:
    """Tubes of ``people`` sampled at ``district``'s site, boxed and received by the lab; the
    tubes' ids."""
    site, lab_id = city.sites[district], city.labs["lab1"]
    sampler = Principal("u-s", "s", Role.SAMPLER, site)

    def ev(kind: EventKind, **kw: Any) -> StationEvent:
        return StationEvent(str(uuid.uuid4()), kind, site, clock.now(), **kw)

    tubes = [b for b, _ in zip(barcodes(first), range(len(people) // 2), strict=False)]
    box = make_box_code(first)
    events = []
    for i, b in enumerate(tubes):
        events.append(ev(EventKind.OPEN_TUBE, barcode=b, mode=5))
        events += [ev(EventKind.SAMPLE, barcode=b, code=platform.deps.codes.sign(p))
                   for p in people[2 * i:2 * i + 2]]
        events.append(ev(EventKind.SEAL_TUBE, barcode=b))
        events.append(ev(EventKind.BOX_TUBE, barcode=b, box_code=box))
    events.append(ev(EventKind.SEAL_BOX, box_code=box))
    assert {o.status for o in platform.sampling.submit(sampler, events)} == {"accepted"}
    lab = Principal("u-l", "lab", Role.LAB, lab_id)
    platform.delivery.receive(lab, str(uuid.uuid4()), lab_id, box, clock.now(), tubes)
    with platform.deps.uow(readonly=True) as uow:
        return [uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id FROM tubes WHERE barcode = :b"), {"b": b}).scalar_one() for b in tubes]


def test_an_areas_late_results_are_its_own(platform: Platform, clock: FixedClock) -> None:
    """Late results (an alert on a tube, its site not in the detail) are listed to the
    officer of the tubes' area and to nobody else's."""
    city = seed_example_city(platform, people=40)
    with platform.deps.uow(readonly=True) as uow:
        people = list(uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = '' ORDER BY id")).scalars().all())
    here = _received_box(platform, clock, city, "140105", people[:6], 8300)
    there = _received_box(platform, clock, city, "140106", people[6:10], 8400)
    clock.advance(platform.deps.limits.lab + timedelta(hours=1))
    assert platform.alerts.check(SYSTEM) >= len(here) + len(there)

    def late(scope: str) -> list[str]:
        officer = Principal("o", "officer", Role.HEALTH_OFFICER, scope)
        return sorted(a.subject_id for a in platform.alerts.list(officer)
                      if a.kind == "late_result")

    assert late("140105") == sorted(here)
    assert late("140106") == sorted(there)
    assert late("1401") == sorted(here + there)
    assert late("140107") == []


def test_a_positive_single_tube_alerts_its_areas_officers(platform: Platform,
                                                          clock: FixedClock) -> None:
    """A positive single tube makes its person red, and the health authority is told: an alert
    ``positive_result`` for the tube (its barcode, lab and site; no person), listed to the
    officers of the tube's area (with reports to public health off, as by default, nothing told
    them). A positive pool recalls its members and raises none; the alert is raised once."""
    b = Bench(platform, clock, seed_example_city(platform, people=40))
    assert platform.elr is None  # reports to public health off
    (single,) = b.tubes(1, members=[[b.person()]])
    (pool,) = b.tubes(1, mode=5)
    lab = b.lab_user(1)
    platform.lab.record(lab, b.lab_id, [ResultInput(single, "positive"),
                                        ResultInput(pool, "positive")])
    platform.lab.record(lab, b.lab_id, [ResultInput(single, "positive")])  # a replay
    here = Principal("u-o", "officer", Role.HEALTH_OFFICER, "140105")
    there = Principal("u-o2", "officer2", Role.HEALTH_OFFICER, "140106")
    positives = [(a.kind, a.detail["barcode"], a.detail["lab_id"])
                 for a in platform.alerts.list(here) if a.kind == "positive_result"]
    assert positives == [("positive_result", single, b.lab_id)]
    assert [a for a in platform.alerts.list(there) if a.kind == "positive_result"] == []
