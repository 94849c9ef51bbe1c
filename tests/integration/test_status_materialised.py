"""The materialised status equals what the engine decides from the facts, for everyone, on both
backends — whether it was set by the set-based fast path or person by person."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.status import Colour, decide
from hesuan.services.auth import SYSTEM
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.sim.example import seed_example_city
from tests.helpers import barcodes


def test_every_materialised_status_matches_the_engine(platform: Platform,
                                                      clock: FixedClock) -> None:
    city = seed_example_city(platform, people=120)
    officer = Principal("o", "officer", Role.HEALTH_OFFICER, "1401")
    with platform.deps.uow(readonly=True) as uow:
        ids = uow.people.people_ids(120)
    platform.status.exempt(officer, ids[0], "infant", clock.now() + timedelta(days=10))
    platform.status.register_arrival(officer, ids[1], city.sites["first_landing"], "4403",
                                     "high", clock.now())
    for hours in (50, 30, 30):
        clock.advance(timedelta(hours=hours))
        platform.status.sweep(SYSTEM)
    platform.status.recompute_all(SYSTEM)
    decided = _as_the_engine_decides(platform, ids, clock.now())
    assert {"green", "yellow", "popup"} <= {colour for colour, _ in decided.values()}


def _as_the_engine_decides(platform: Platform, ids: list[str],
                           now: datetime) -> dict[str, tuple[str, str]]:
    """Assert that each person's materialised status is what the engine decides from their
    facts now; their (colour, reasons)."""
    out = {}
    with platform.deps.uow(readonly=True) as uow:
        rules = platform.status.rules(uow)
        for pid in ids:
            facts = uow.statuses.facts_of(pid)
            row = uow.statuses.status_row(pid)
            assert facts is not None and row is not None
            want = decide(facts, now, rules)
            got = (row.colour, tuple(row.reasons.split(",")), row.rule_id,
                   row.status_valid_until)
            assert got == (want.colour.value, want.reasons, want.rule_id, want.valid_until), pid
            out[pid] = (row.colour, row.reasons)
    return out


def test_sampling_decides_each_sampled_status_as_the_engine_does(settings: Settings,
                                                                  clock: FixedClock) -> None:
    """The station write decides the plain cases itself (``apply_station_writes``) and leaves
    the rest to the refresh: straight after the batch, with no sweep or recompute, every
    sampled person's status is the engine's — plain, exempt, arriving, overridden, in a key
    group, and sampled so long ago (a station syncing late, inside a long offline window)
    that they are overdue again."""
    platform = bootstrap(settings.model_copy(
        update={"station_offline_window": timedelta(days=30)}), clock=clock, migrate=False)
    try:
        _sampled_statuses(platform, clock)
    finally:
        platform.close()


def _sampled_statuses(platform: Platform, clock: FixedClock) -> None:
    city = seed_example_city(platform, people=60)
    officer = Principal("o", "officer", Role.HEALTH_OFFICER, "1401")
    second = Principal("o2", "officer2", Role.HEALTH_OFFICER, "1401")
    site = city.sites["140105"]
    sampler = Principal("u-s", "s", Role.SAMPLER, site)
    with platform.deps.uow(readonly=True) as uow:
        rows = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id, groups FROM people ORDER BY id")).all()
    plain = [pid for pid, groups in rows if groups == ""]
    key = [pid for pid, groups in rows if groups == "medical"][:2]
    exempt, arriving, overridden, late = plain[:4]
    pooled = plain[4:12]
    now = clock.now()
    platform.status.exempt(officer, exempt, "infant", now + timedelta(days=10))
    platform.status.register_arrival(officer, arriving, city.sites["first_landing"], "4403",
                                     "high", now - timedelta(hours=2))
    oid = platform.status.request_override(officer, overridden, Colour.YELLOW, "contact",
                                           "传染病防治法 第三十九条", now + timedelta(days=3))
    platform.status.decide_override(second, oid, approve=True)
    clock.advance(timedelta(minutes=5))
    now = clock.now()
    codes = platform.deps.codes
    tubes = barcodes(7100)
    events: list[StationEvent] = []

    def tube(members: list[str], mode: int, at: datetime) -> None:
        b = next(tubes)
        events.append(StationEvent(str(uuid.uuid4()), EventKind.OPEN_TUBE, site, at,
                                   barcode=b, mode=mode))
        events.extend(StationEvent(str(uuid.uuid4()), EventKind.SAMPLE, site, at, barcode=b,
                                   code=codes.sign(p)) for p in members)
        if len(members) < mode:
            events.append(StationEvent(str(uuid.uuid4()), EventKind.SEAL_TUBE, site, at,
                                       barcode=b))

    tube([*pooled, exempt, overridden], 10, now)
    for p in (arriving, *key):
        tube([p], 1, now)
    tube([late], 1, now - timedelta(days=20))  # synced late: past due + grace already
    outcomes = platform.sampling.submit(sampler, events)
    assert {o.status for o in outcomes} == {"accepted"}, outcomes
    sampled = [*pooled, exempt, overridden, arriving, *key, late]
    with platform.deps.uow(readonly=True) as uow:
        for pid in sampled:
            facts = uow.statuses.facts_of(pid)
            assert facts is not None and facts.test_state == "sampled", pid
    by_person = _as_the_engine_decides(platform, sampled, now)
    assert by_person[pooled[0]] == ("green", "awaiting_result")
    assert by_person[late][1] == "overdue"
    assert by_person[overridden][0] == "yellow"


def test_rule_changes_in_one_instant_decide_everyone(platform: Platform,
                                                     clock: FixedClock) -> None:
    """Two rule changes at the same instant (a fixed clock, or two within a millisecond): the
    second decides everyone again, also those the first had just decided overdue."""
    seed_example_city(platform, people=60)
    with platform.deps.uow(readonly=True) as uow:
        ids = uow.people.people_ids(60)
    clock.advance(timedelta(hours=100))
    platform.status.sweep(SYSTEM)
    platform.status.change_rule(SYSTEM, "R-OVERDUE", colour=Colour.POPUP)
    assert "popup" in {c for c, _ in _as_the_engine_decides(platform, ids, clock.now()).values()}
    platform.status.change_rule(SYSTEM, "R-OVERDUE", enabled=False)
    decided = _as_the_engine_decides(platform, ids, clock.now())
    assert "popup" not in {colour for colour, _ in decided.values()}
