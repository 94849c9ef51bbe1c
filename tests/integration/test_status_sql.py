"""The set-based SQL forms of the status rules decide as the domain does, on both backends.

People's facts are generated (results, sample and due times, open recalls, exemptions,
overrides, arrivals, zones, overdue — with times at the rules' boundaries) and written to their
status rows; the refresh the services run (the zone fast path, the plain and overdue fast paths,
then the engine for the rest) must leave each row as ``domain.status.decide`` decides it from the
same facts. A sample after an arrival moves the due time as ``domain.arrivals`` says, at every
boundary (exactly 24 h, 48 h, 72 h after arrival). Who may be sent a routine reminder
(``status_sql.REMINDABLE``) is who ``domain.status.remindable`` says.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db import status_sql
from hesuan.adapters.db.schema import from_ms, to_ms
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.arrivals import (
    FIRST_TEST_WITHIN,
    FOLLOW_UP_WATCHED,
    SECOND_TEST_AFTER,
    SECOND_TEST_DUE,
    next_due_after_sample,
)
from hesuan.domain.status import DEFAULT_RULES, Colour, Rule, decide, remindable
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.sim.example import seed_example_city
from tests.helpers import barcodes

H = 3_600_000
PEOPLE = 10
_RUN = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

# offsets from now (ms): the rules' boundaries and their neighbours, and anything else
_EDGES = [0, 1, -1, 24 * H, -24 * H, 24 * H + 1, -24 * H - 1, -24 * H + 1, 12 * H, -12 * H,
          -48 * H, -72 * H, 72 * H, -200 * H]
offset = st.one_of(st.sampled_from(_EDGES), st.integers(-300 * H, 300 * H))
maybe = st.one_of(st.none(), offset)
grace = st.sampled_from([None, 0, 12 * H, 24 * H])

person_facts = st.fixed_dictionaries({
    "test_state": st.sampled_from(["none", "sampled", "negative", "pending_retest",
                                   "positive"]),
    "last_sampled_at": maybe,
    "last_result": st.sampled_from([None, "negative", "positive", "invalid"]),
    "last_result_at": maybe,
    "recall": st.one_of(st.none(), st.tuples(st.sampled_from(["open", "resolved"]), offset)),
    "next_due_at": maybe,
    "grace_ms": grace,
    "interval_ms": st.sampled_from([None, 24 * H, 72 * H]),
    "overdue_action": st.sampled_from([None, "yellow", "popup"]),
    "exempt_until": maybe,
    "override": st.one_of(st.none(), st.tuples(st.sampled_from(["green", "yellow", "red"]),
                                               offset)),
    "arrival": st.one_of(st.none(), st.tuples(
        st.sampled_from([0, -1, -24 * H, -48 * H, -72 * H, -48 * H + 1, 1]),
        st.sampled_from([None, "low", "medium", "high"]))),
    "zone": st.one_of(st.none(), st.tuples(
        st.sampled_from(["sealed", "controlled", "precaution"]),
        st.sampled_from([None, "red", "yellow", "popup"]),
        st.sampled_from([None, "z-1"]))),
})

rule_set = st.fixed_dictionaries({
    "overdue_colour": st.sampled_from([None, Colour.RED, Colour.POPUP]),
    "zone_colour": st.sampled_from([None, Colour.POPUP]),
    "disabled": st.sets(st.sampled_from([r.id for r in DEFAULT_RULES]), max_size=2),
})


def _rules(spec: dict[str, Any]) -> list[Rule]:
    out = []
    for r in DEFAULT_RULES:
        colour = {"R-OVERDUE": spec["overdue_colour"] or r.colour,
                  "R-ZONE": spec["zone_colour"] or r.colour}.get(r.id, r.colour)
        out.append(replace(r, version=2, colour=colour, enabled=r.id not in spec["disabled"]))
    return out


def _row(f: dict[str, Any], n: int) -> dict[str, Any]:
    def at(o: int | None) -> int | None:
        return None if o is None else n + o

    override, arrival, zone = f["override"], f["arrival"], f["zone"]
    return {
        "test_state": f["test_state"], "last_sampled_at": at(f["last_sampled_at"]),
        "last_result": f["last_result"], "last_result_at": at(f["last_result_at"]),
        "next_due_at": at(f["next_due_at"]), "grace_ms": f["grace_ms"],
        "interval_ms": f["interval_ms"], "overdue_action": f["overdue_action"],
        "exempt_until": at(f["exempt_until"]),
        "exempt_reason": None if f["exempt_until"] is None else "infant",
        "override_id": None if override is None else "o-1",
        "override_colour": None if override is None else override[0],
        "override_until": None if override is None else n + override[1],
        "override_reason": None if override is None else "contact",
        "arrival_at": None if arrival is None else n + arrival[0],
        "arrival_risk": None if arrival is None else arrival[1],
        "zone_kind": None if zone is None else zone[0],
        "zone_colour": None if zone is None else zone[1],
        "zone_id": None if zone is None else zone[2],
    }


def _write_facts(uow: Any, pid: str, f: dict[str, Any], n: int, valid_until: int) -> None:
    row = _row(f, n)
    recall_id = None
    if f["recall"] is not None:
        recall_id = "r" + pid[1:]
        uow.conn.execute(text(
            "INSERT INTO recalls (id, person_id, pool_tube_id, reason, status, opened_at, due_at) "
            "VALUES (:id, :pid, 't-1', 'pool_positive', :st, :n, :due)"),
            {"id": recall_id, "pid": pid, "st": f["recall"][0], "n": n, "due": n + f["recall"][1]})
    sets = ", ".join(f"{k} = :{k}" for k in row)
    # a status no rule decides, decided a minute ago, so that a row the refresh skips cannot
    # pass for decided
    uow.conn.execute(text(
        f"UPDATE person_status SET {sets}, open_recall_id = :rid, colour = 'red', "
        "reasons = 'unset', rule_id = 'R-UNSET', rule_version = 9, evidence = NULL, "
        "status_at = :before, status_valid_until = :vu WHERE person_id = :pid"),
        row | {"rid": recall_id, "vu": valid_until, "pid": pid, "before": n - 60_000})


_PLAIN_FACTS = {"test_state": "negative", "last_sampled_at": -100 * H, "last_result": "negative",
                "last_result_at": -90 * H, "recall": None, "next_due_at": -28 * H,
                "grace_ms": 24 * H, "interval_ms": 72 * H, "overdue_action": None,
                "exempt_until": None, "override": None, "arrival": None, "zone": None}


@_RUN
@example(people=[_PLAIN_FACTS], whom="given",  # past due + grace, the overdue rule off
         spec={"overdue_colour": None, "zone_colour": None, "disabled": {"R-OVERDUE"}})
@example(people=[_PLAIN_FACTS | {"test_state": "none", "next_due_at": 20 * H}],
         whom="stale", spec={"overdue_colour": None, "zone_colour": None, "disabled": set()})
@example(people=[_PLAIN_FACTS | {"grace_ms": None}], whom="everyone",  # a due time, no grace
         spec={"overdue_colour": None, "zone_colour": None, "disabled": set()})
@given(st.lists(person_facts, min_size=1, max_size=PEOPLE), rule_set,
       st.sampled_from(["stale", "given", "everyone"]))
def _check(platform: Platform, ids: list[str], people: list[dict[str, Any]],
           spec: dict[str, Any], whom: str) -> None:
    now = platform.deps.clock.now()
    n = to_ms(now)
    rules = _rules(spec)
    chosen = ids[:len(people)]
    with platform.deps.uow() as uow:  # never committed: each example starts afresh
        for i, r in enumerate(rules):
            uow.cadence.save_rule(r, i, "test", now)
        for pid, f in zip(chosen, people, strict=True):
            _write_facts(uow, pid, f, n, n if whom == "stale" else n + H)
        if whom == "stale":  # as a zone change settles: the zone fast path, then the rest
            zone = [r for r in rules if r.enabled and r.predicate == "in_zone"]
            if len(zone) == 1:
                uow.zones.refresh_zoned(now, zone[0].id, zone[0].version,
                                  zone[0].colour.value if zone[0].colour else None)
            platform.status.refresh(uow, now)
        elif whom == "given":
            platform.status.refresh(uow, now, person_ids=chosen)
        else:
            platform.status.refresh(uow, now, everyone=True)
        for pid, f in zip(chosen, people, strict=True):
            facts = uow.statuses.facts_of(pid)
            row = uow.statuses.status_row(pid)
            assert facts is not None and row is not None
            want = decide(facts, now, rules)
            got = (row.colour, tuple(row.reasons.split(",")), row.rule_id,
                   row.rule_version, row.status_valid_until)
            assert got == (want.colour.value, want.reasons, want.rule_id, want.rule_version,
                           want.valid_until), repr((f, spec, whom))
            # the plain and overdue fast paths store no evidence (the API decides it live);
            # evidence that is stored is the engine's
            if row.evidence is not None:
                assert row.evidence == want.evidence, (f, whom)
            # who the sweep reminds, and who is still to be reminded when the SMS goes out
            may = uow.conn.execute(text(  # type: ignore[attr-defined]
                f"SELECT CASE WHEN {status_sql.REMINDABLE} THEN 1 ELSE 0 END FROM "
                "person_status WHERE person_id = :pid"), {"pid": pid, "now": n}).scalar_one()
            assert bool(may) == remindable(facts, now), f


def test_the_sql_refresh_decides_as_the_engine(platform: Platform) -> None:
    seed_example_city(platform, people=40)
    with platform.deps.uow(readonly=True) as uow:
        ids = uow.people.people_ids(PEOPLE)
    _check(platform, ids)


# -- arrivals: the due time after a sample ---------------------------------------------------

_ARRIVED = [timedelta(0), FIRST_TEST_WITHIN, SECOND_TEST_AFTER, 2 * SECOND_TEST_AFTER,
            SECOND_TEST_DUE, SECOND_TEST_DUE + SECOND_TEST_AFTER]
arrived_before = st.one_of(
    st.sampled_from([d + timedelta(milliseconds=e) for d in _ARRIVED for e in (-1, 0, 1)]),
    st.integers(-2 * H, 100 * H).map(lambda ms: timedelta(milliseconds=ms)))


def test_a_sample_moves_an_arrivals_due_time_as_the_domain_says(platform: Platform,
                                                                clock: FixedClock) -> None:
    city = seed_example_city(platform, people=20)
    site = city.sites["first_landing"]
    sampler = Principal("u-s", "s", Role.SAMPLER, site)
    with platform.deps.uow(readonly=True) as uow:
        pid = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = '' ORDER BY id")).scalars().first()
    tubes = barcodes(8100)

    ms, hour = timedelta(milliseconds=1), timedelta(hours=1)

    @_RUN
    @given(arrived_before, st.sampled_from([None, 24 * H, 72 * H]), st.booleans(),
           st.one_of(st.none(), arrived_before))
    # the test before this one exactly the second test's least distance away, and a
    # millisecond either side; the second test's edges after a first one taken late
    @example(2 * SECOND_TEST_AFTER, 72 * H, True, SECOND_TEST_AFTER)
    @example(2 * SECOND_TEST_AFTER, 72 * H, True, SECOND_TEST_AFTER - ms)
    @example(2 * SECOND_TEST_AFTER, 72 * H, True, SECOND_TEST_AFTER + ms)
    @example(SECOND_TEST_DUE + hour, None, True, hour)
    @example(SECOND_TEST_DUE + hour, None, True, hour + ms)
    @example(SECOND_TEST_DUE - SECOND_TEST_AFTER + ms, 72 * H, False, None)
    # a test too soon after a late first one (80 h, then 85 h), and past the watched week
    @example(85 * hour, 72 * H, True, 5 * hour)
    @example(FOLLOW_UP_WATCHED + hour, 72 * H, True, 2 * hour)
    def check(before: timedelta, interval: int | None, had_due: bool,
              previous_before: timedelta | None) -> None:
        clock.advance(timedelta(minutes=1))
        now = clock.now()
        arrival = now - before
        due = to_ms(arrival + FIRST_TEST_WITHIN) if had_due else None
        # the sample before this one, never after it (the station write keeps the latest)
        previous = (None if previous_before is None
                    else now - max(previous_before, timedelta(0)))
        with platform.deps.uow() as uow:
            uow.conn.execute(text(  # type: ignore[attr-defined]
                "UPDATE person_status SET arrival_at = :a, arrival_risk = 'high', "
                "interval_ms = :iv, next_due_at = :due, last_sampled_at = :prev, "
                "test_state = 'none' WHERE person_id = :pid"),
                {"a": to_ms(arrival), "iv": interval, "due": due, "pid": pid,
                 "prev": None if previous is None else to_ms(previous)})
            uow.commit()
        b = next(tubes)
        out = platform.sampling.submit(sampler, [
            StationEvent(str(uuid.uuid4()), EventKind.OPEN_TUBE, site, now, barcode=b, mode=1),
            StationEvent(str(uuid.uuid4()), EventKind.SAMPLE, site, now, barcode=b,
                         code=platform.deps.codes.sign(pid))])
        assert {o.status for o in out} == {"accepted"}, out
        with platform.deps.uow(readonly=True) as uow:
            got = uow.conn.execute(text(  # type: ignore[attr-defined]
                "SELECT next_due_at FROM person_status WHERE person_id = :pid"),
                {"pid": pid}).scalar_one()
        want = next_due_after_sample(
            now, arrival, None if interval is None else timedelta(milliseconds=interval),
            None if due is None else from_ms(due), previous)
        assert (None if got is None else from_ms(got)) == want, (
            before, interval, had_due, previous_before)

    check()
