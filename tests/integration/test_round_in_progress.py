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
