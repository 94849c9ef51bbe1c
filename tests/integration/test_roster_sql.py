"""The roster's classes in set-based SQL decide as the domain does, on both backends.

A person's last sample and exemption end are generated (at the round's bounds and beside them,
or none) with a round; the fragments of ``adapters.db.roster_sql`` — the filter of each
list and the coverage's counts — must put them where
``domain.rosters.classify`` does.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db import roster_sql
from hesuan.adapters.db.schema import from_ms, to_ms
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.rosters import ROSTER_LISTS, RosterClass, classify
from hesuan.sim.example import seed_example_city
from tests.integration.lab_bench import Bench

H = 3_600_000
_RUN = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

# offsets from the round's end (ms): its bounds (96 h before, the end) and their neighbours
_EDGES = [0, 1, -1, -96 * H, -96 * H + 1, -96 * H - 1, 24 * H, -200 * H]
offset = st.one_of(st.sampled_from(_EDGES), st.integers(-300 * H, 300 * H))
maybe = st.one_of(st.none(), offset)


@_RUN
@given(last_sampled=maybe, exempt_until=maybe,
       window_h=st.sampled_from([24, 72, 96]))
@example(last_sampled=-96 * H, exempt_until=1, window_h=96)  # at the start: not in the round
@example(last_sampled=0, exempt_until=1, window_h=96)  # at the end: sampled wins
@example(last_sampled=None, exempt_until=0, window_h=96)  # exempt until the end: not exempt
def test_roster_sql_classifies_as_the_domain(platform: Platform, clock: FixedClock,
                                             last_sampled: int | None, exempt_until: int | None,
                                             window_h: int) -> None:
    as_of = clock.now()
    since = as_of - timedelta(hours=window_h)
    end = to_ms(as_of)
    ls = None if last_sampled is None else end + last_sampled
    ex = None if exempt_until is None else end + exempt_until
    want = classify(None if ls is None else from_ms(ls), None if ex is None else from_ms(ex),
                    since, as_of)
    conditions = ", ".join(f"CASE WHEN {roster_sql.condition(which, 'ps.')} THEN 1 ELSE 0 END"
                           for which in ROSTER_LISTS)
    person = ("(SELECT CAST(:ls AS BIGINT) AS last_sampled_at, "
              "CAST(:ex AS BIGINT) AS exempt_until, 'nobody' AS person_id) ps")
    params = {"ls": ls, "ex": ex, "since": to_ms(since), "as_of": end}
    with platform.engine.connect() as c:
        lists = c.execute(text(f"SELECT {conditions} FROM {person}"), params).one()
        counts = c.execute(text(f"SELECT {roster_sql.coverage_counts('ps.')} FROM {person}"),
                           params).one()
    due, sampled, exempt = (int(x or 0) for x in counts)
    assert dict(zip(ROSTER_LISTS, lists, strict=True)) == {
        "due": 1, **{k.value: int(k is want) for k in RosterClass}}
    assert (due, sampled, exempt) == (1, int(want is RosterClass.SAMPLED),
                                      int(want is RosterClass.EXEMPT))


def test_a_past_rounds_coverage_counts_what_stood_then(platform: Platform,
                                                       clock: FixedClock) -> None:
    """A round that ended in the past was counted with today's facts: someone sampled in it
    and again since was outstanding, an exemption made since counted, one revoked since did
    not."""
    b = Bench(platform, clock, seed_example_city(platform, people=24))
    officer = Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401")
    sampled, later, revoked = b.person(), b.person(), b.person()
    until = clock.now() + timedelta(days=10)
    gone = platform.status.exempt(officer, revoked, "in_hospital", until)
    b.tubes(1, members=[[sampled]])
    as_of = clock.now() + timedelta(hours=1)
    clock.advance(timedelta(hours=5))
    platform.status.exempt(officer, later, "in_hospital", until)
    platform.status.revoke_exemption(officer, gone)
    b.tubes(1, members=[[sampled]])
    clock.advance(timedelta(hours=1))

    then = platform.analytics.coverage(officer, as_of=as_of, window=timedelta(hours=24))
    assert (then.total.sampled, then.total.exempt) == (1, 1)
    now = platform.analytics.coverage(officer, as_of=clock.now(), window=timedelta(hours=24))
    assert (now.total.sampled, now.total.exempt) == (1, 1)  # the other exemption now
    # the grid worker's list of that round classes its people as the counts do
    with platform.deps.uow(readonly=True) as uow:
        grid = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT grid_code FROM people WHERE id = :p"), {"p": revoked}).scalar_one()
    listed = platform.rosters.people(officer, region=grid, which="exempt", as_of=as_of,
                                     window=timedelta(hours=24))
    assert [r.person_id for r in listed.people] == [revoked]
