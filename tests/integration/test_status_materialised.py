"""The materialised status equals what the engine decides from the facts, for everyone, on both
backends — whether it was set by the set-based fast path or person by person."""

from __future__ import annotations

from datetime import timedelta

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.status import decide
from hesuan.services.auth import SYSTEM
from hesuan.sim.example import seed_example_city


def test_every_materialised_status_matches_the_engine(platform: Platform,
                                                      clock: FixedClock) -> None:
    city = seed_example_city(platform, people=120)
    officer = Principal("o", "officer", Role.HEALTH_OFFICER, "1401")
    with platform.deps.uow(readonly=True) as uow:
        ids = uow.people_ids(120)
    platform.status.exempt(officer, ids[0], "infant", clock.now() + timedelta(days=10))
    platform.status.register_arrival(officer, ids[1], city.sites["first_landing"], "4403",
                                     "high", clock.now())
    for hours in (50, 30, 30):
        clock.advance(timedelta(hours=hours))
        platform.status.sweep(SYSTEM)
    platform.status.recompute_all(SYSTEM)
    now = clock.now()
    with platform.deps.uow(readonly=True) as uow:
        rules = platform.status.rules(uow)
        colours = set()
        for pid in ids:
            facts = uow.facts_of(pid)
            row = uow.status_row(pid)
            assert facts is not None and row is not None
            want = decide(facts, now, rules)
            got = (row["colour"], tuple(row["reasons"].split(",")), row["rule_id"],
                   row["status_valid_until"])
            assert got == (want.colour.value, want.reasons, want.rule_id, want.valid_until), pid
            colours.add(row["colour"])
    assert {"green", "yellow", "popup"} <= colours
