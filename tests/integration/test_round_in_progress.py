"""A simulated round stopped in progress (the demo stops it at now): nothing is stamped after
the stop, work is left in flight, and the reconciliation is not compared with the faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.local_time import SHANGHAI
from hesuan.sim.city import generate_city
from hesuan.sim.simulate import (
    FAULTS,
    CountingSender,
    RoundOverlaps,
    current_round_start,
    simulate_round,
)


def test_current_round_start_puts_now_on_the_rounds_second_day() -> None:
    now = datetime(2022, 8, 30, 6, 30, tzinfo=UTC)  # 14:30 in Taiyuan
    assert current_round_start(now) == datetime(2022, 8, 29, tzinfo=SHANGHAI)
    late = datetime(2022, 8, 30, 16, 30, tzinfo=UTC)  # 00:30 the next local day
    assert current_round_start(late) == datetime(2022, 8, 30, tzinfo=SHANGHAI)


def test_a_round_stopped_in_progress(sim: tuple[Platform, CountingSender],
                                     clock: FixedClock) -> None:
    p, sender = sim
    start = clock.now()
    generate_city(p, 1000, seed=6, workers=0)
    stop = start + timedelta(hours=30)  # 14:00 on the round's second day
    s = simulate_round(p, clock, sender, start, hours=72, seed=6, stop_at=stop)
    assert s.in_progress and s.as_dict()["in_progress"]
    assert clock.now() == stop
    assert 0 < s.sampled < s.people_due  # a day and a half of a 72 h round
    ms = int(stop.timestamp() * 1000)
    with p.engine.connect() as c:
        later = c.execute(text("SELECT count(*) FROM samples WHERE sampled_at > :t"),
                          {"t": ms}).scalar()
        waiting = c.execute(text(
            "SELECT count(*) FROM tubes WHERE status IN ('open', 'sealed', 'boxed', "
            "'in_transit', 'received')")).scalar()
    assert later == 0
    assert waiting and waiting > 0  # tubes not yet resulted: the round goes on past the stop


def test_a_round_over_time_already_simulated_is_refused(sim: tuple[Platform, CountingSender],
                                                        clock: FixedClock) -> None:
    """A second round over hours a round already filled would sample people twice in the
    same hours and count them twice in every report: it is refused, saying from when a round
    may start, and writes nothing."""
    p, sender = sim
    start = clock.now()
    generate_city(p, 600, seed=6, workers=0)
    simulate_round(p, clock, sender, start, hours=6, seed=6)
    with p.engine.connect() as c:
        tubes, last = c.execute(text("SELECT count(*), max(opened_at) FROM tubes")).one()
    with pytest.raises(RoundOverlaps) as refused:
        simulate_round(p, clock, sender, start + timedelta(hours=3), hours=6, seed=7)
    assert refused.value.code == "round_overlaps" and refused.value.field == "start"
    with p.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM tubes")).scalar() == tubes
    after = datetime.fromtimestamp(last / 1000, UTC) + timedelta(seconds=1)
    assert simulate_round(p, clock, sender, after, hours=2, seed=7).reconcile_matches


def test_the_next_round_takes_up_the_teams_of_the_last(sim: tuple[Platform, CountingSender],
                                                       clock: FixedClock) -> None:
    """A round on a city an earlier round ran on works with the teams and staff that round
    registered (the site lead's and the checkpoint's), rather than a new team each round: the
    people the last round left on shift when it stopped go off as the next one starts."""
    p, sender = sim
    start = clock.now()
    generate_city(p, 1000, seed=6, workers=0)
    stop = start + timedelta(hours=10)  # 18:00 local: the two-lane site's rota is on
    first = simulate_round(p, clock, sender, start, hours=24, seed=6, stop_at=stop)
    assert first.in_progress and first.shifts["stints"] > 0

    def staffing() -> tuple[int, int, int]:
        with p.engine.connect() as c:
            return c.execute(text(
                "SELECT (SELECT count(*) FROM teams), (SELECT count(*) FROM staff), "
                "(SELECT count(*) FROM shifts WHERE ended_at IS NULL)")).one()

    teams, staff, on = staffing()
    assert teams == 2 and staff > 0 and on > 0  # the rota's people, stopped mid-stint
    second = simulate_round(p, clock, sender, stop + timedelta(hours=1), hours=6, seed=7)
    assert second.shifts["stints"] > 0
    assert staffing() == (teams, staff, 0)  # the same teams and people, all off after it
    with p.engine.connect() as c:
        ends = c.execute(text("SELECT count(*) FROM shifts WHERE ended_at = :t"), {
            "t": int((stop + timedelta(hours=1)).timestamp() * 1000)}).scalar()
    assert ends == on  # the last round's stints ended as the next began


def test_a_zone_still_standing_holds_its_people_in_the_next_round(
        sim: tuple[Platform, CountingSender], clock: FixedClock) -> None:
    """A building an earlier round sealed, whose 7 days have not passed when the next round
    starts: its people stay at home through that round (none comes to a site), the district's
    team goes on sampling them at their doors every day, and the round reconciles."""
    p, sender = sim
    start = clock.now()
    generate_city(p, 2000, seed=5, workers=0)
    first = simulate_round(p, clock, sender, start, hours=24, prevalence=0.01, faults=FAULTS,
                           seed=5)
    assert first.zones["zones"] == 1 and not first.zones["expired"]
    with p.engine.connect() as c:
        last = c.execute(text("SELECT max(opened_at) FROM tubes")).scalar_one()
    nxt = datetime.fromtimestamp(last / 1000, UTC) + timedelta(hours=1)
    second = simulate_round(p, clock, sender, nxt, hours=24, seed=6)
    assert second.zones["carried_over"] == 1 and second.zones["zones"] == 0
    assert second.zones["people"] == first.zones["people"]
    assert second.zones["days"] >= 1 and second.zones["sampled"] > 0
    assert second.reconcile_matches, (second.reconcile_counts, second.expected_reconcile)
    assert not second.events_rejected
    with p.engine.connect() as c:
        at_sites, at_doors = c.execute(text(
            "SELECT sum(CASE WHEN si.kind <> 'door_to_door' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN si.kind = 'door_to_door' THEN 1 ELSE 0 END) "
            "FROM person_status ps JOIN samples sa ON sa.person_id = ps.person_id "
            "JOIN tubes t ON t.id = sa.tube_id JOIN sites si ON si.id = t.site_id "
            "WHERE ps.zone_id IS NOT NULL AND sa.sampled_at >= :nxt"),
            {"nxt": int(nxt.timestamp() * 1000)}).one()
    assert at_sites == 0 and at_doors == second.zones["sampled"]
