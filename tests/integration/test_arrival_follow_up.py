"""An arrival's two tests (三天两检, docs/STATUS.md "Arrivals") through the platform, on both
backends: the first test is due within 24 h of arrival and the second, at least 24 h after the
test before it, by 72 h after arrival; once both are taken the person's own cadence takes over
(nothing due where no policy covers them); a policy's change keeps an open follow-up's due
time; an arrival registered after the landing swab counts that swab as the first test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.schema import from_ms
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.arrivals import FOLLOW_UP_WATCHED
from hesuan.domain.cadence import ScopeKind
from hesuan.domain.errors import InvalidInput
from hesuan.domain.sampling import make_tube_barcode
from hesuan.domain.zones import Area, Movement, SamplingMode, ZoneKind, ZoneRules
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.services.status import PolicyInput
from hesuan.services.zones import ZoneInput
from hesuan.sim.example import ExampleCity, seed_example_city

ADMIN = Principal("u-admin", "admin", Role.ADMIN)
H = timedelta(hours=1)


class Arrival:
    """One person arriving at the example city's first-landing checkpoint, swabbed there."""

    def __init__(self, p: Platform, clock: FixedClock, city: ExampleCity) -> None:
        self.p, self.clock = p, clock
        self.site = city.sites["first_landing"]
        self.staff = Principal("u-landing", "landing", Role.SAMPLER, self.site)
        with p.deps.uow(readonly=True) as uow:
            self.district, self.pid = uow.conn.execute(text(  # type: ignore[attr-defined]
                "SELECT substr(grid_code, 1, 6), id FROM people WHERE groups = '' "
                "ORDER BY id")).first()
        self._serial: Iterator[int] = iter(range(870_000, 871_000))
        self.at: datetime | None = None

    def register(self, at: datetime | None = None) -> None:
        self.at = at or self.clock.now()
        self.p.status.register_arrival(self.staff, self.pid, self.site, "4201", "low", self.at)

    def swab(self) -> None:
        barcode = make_tube_barcode(next(self._serial))

        def event(kind: EventKind, **kw: object) -> StationEvent:
            return StationEvent(str(uuid.uuid4()), kind, self.site, self.clock.now(),
                                barcode=barcode, **kw)  # type: ignore[arg-type]

        out = self.p.sampling.submit(self.staff, [
            event(EventKind.OPEN_TUBE, mode=1),
            event(EventKind.SAMPLE, code=self.p.deps.codes.sign(self.pid))])
        assert {o.status for o in out} == {"accepted"}, out

    def due(self) -> timedelta | None:
        """The due time, as a time after arrival."""
        with self.p.deps.uow(readonly=True) as uow:
            ms = uow.conn.execute(text(  # type: ignore[attr-defined]
                "SELECT next_due_at FROM person_status WHERE person_id = :p"),
                {"p": self.pid}).scalar_one()
        assert self.at is not None
        return None if ms is None else from_ms(ms) - self.at

    def colour(self) -> tuple[str, tuple[str, ...]]:
        self.p.status.sweep(ADMIN)
        s = self.p.status.status_of(ADMIN, self.pid).status
        return s.colour.value, tuple(s.reasons)

    def end_policy(self) -> None:
        """The district's cadence ends (its policy's new version no longer in force)."""
        (policy,) = [x for x in self.p.status.policies(ADMIN) if x.scope == self.district]
        now = self.clock.now()
        self.p.status.set_policy(ADMIN, PolicyInput(
            ScopeKind.REGION, self.district, policy.interval, id=policy.id,
            valid_from=now - timedelta(days=1), valid_to=now))


@pytest.fixture
def arrival(platform: Platform, clock: FixedClock) -> Arrival:
    return Arrival(platform, clock, seed_example_city(platform, people=24))


def test_both_tests_taken_where_no_policy_covers_them_nothing_is_due(arrival: Arrival) -> None:
    """Where no cadence covers them, an arrival who took both tests owes nothing more (the due
    time stayed at 72 h after arrival: overdue at 96 h, and no test cleared it)."""
    a = arrival
    a.end_policy()
    a.register()
    assert a.due() == 24 * H
    a.clock.advance(2 * H)
    a.swab()
    assert a.due() == 72 * H
    a.clock.advance(48 * H)
    a.swab()
    assert a.due() is None
    a.clock.advance(47 * H)
    assert a.colour()[0] == "green"


def test_a_second_test_too_soon_after_the_first_is_not_the_second(arrival: Arrival) -> None:
    a = arrival
    a.register()
    a.clock.advance(2 * H)
    a.swab()
    a.clock.advance(8 * H)
    a.swab()  # 8 h after the first: the second is still due by 72 h after arrival
    assert a.due() == 72 * H
    a.clock.advance(24 * H)
    a.swab()  # 24 h after the test before it: both taken, the district's 72 h cadence now
    assert a.due() == 34 * H + 72 * H


def test_a_late_first_test_still_asks_for_the_second(arrival: Arrival) -> None:
    """A first test 50 h after arrival: the second is due 24 h after it (it was the cadence's
    72 h, so no second test was asked for)."""
    a = arrival
    a.register()
    a.clock.advance(50 * H)
    a.swab()
    assert a.due() == 74 * H


def test_a_policy_change_keeps_an_open_follow_ups_due_time(arrival: Arrival) -> None:
    """A change of the district's policy (its reminder lead only) moved an untested arrival's
    first due time from 24 h to the policy's 72 h: green at 49 h instead of overdue."""
    a = arrival
    a.register()
    (policy,) = [x for x in a.p.status.policies(ADMIN) if x.scope == a.district]
    a.clock.advance(H)
    a.p.status.set_policy(ADMIN, PolicyInput(
        ScopeKind.REGION, a.district, policy.interval, id=policy.id,
        reminder_lead=policy.reminder_lead + H))
    assert a.due() == 24 * H
    a.clock.advance(48 * H)
    assert a.colour() == ("yellow", ("overdue",))
    a.end_policy()  # and where the cadence ends, the follow-up stays due
    assert a.due() == 24 * H


def test_an_arrival_registered_after_the_landing_swab_counts_it(arrival: Arrival) -> None:
    a = arrival
    landed = a.clock.now()
    a.clock.advance(5 * timedelta(minutes=1))
    a.swab()
    a.clock.advance(10 * timedelta(minutes=1))
    a.register(at=landed)
    assert a.due() == 72 * H


def test_a_test_too_soon_after_a_late_first_is_not_the_second(arrival: Arrival) -> None:
    """The too-soon rule held only while the test before was within 72 h of arrival: a first
    test at 80 h and another at 85 h ended the follow-up (the fence still asked for the
    second)."""
    a = arrival
    a.register()
    a.clock.advance(80 * H)
    a.swab()
    assert a.due() == 104 * H
    a.clock.advance(5 * H)
    a.swab()
    assert a.due() == 104 * H


def test_a_policy_set_after_the_follow_up_gives_the_cadence(arrival: Arrival) -> None:
    """Both tests taken where no cadence covered them (nothing due), a district policy set on
    day 10 left the arrival with no due time for good (the follow-up counted as open)."""
    a = arrival
    (policy,) = [x for x in a.p.status.policies(ADMIN) if x.scope == a.district]
    a.end_policy()
    a.register()
    a.clock.advance(2 * H)
    a.swab()
    a.clock.advance(28 * H)
    a.swab()
    assert a.due() is None
    a.clock.advance(10 * 24 * H)
    a.p.status.set_policy(ADMIN, PolicyInput(ScopeKind.REGION, a.district, policy.interval,
                                             id=policy.id))
    assert a.due() == 30 * H + policy.interval


def test_a_zones_cadence_covers_an_arrival_whose_follow_up_is_over(arrival: Arrival) -> None:
    """A zone's daily cadence passed over anyone who had ever arrived: a month after both
    tests, a controlled building's arrival stayed on the district's 72 h."""
    a = arrival
    a.register()
    a.clock.advance(2 * H)
    a.swab()
    a.clock.advance(28 * H)
    a.swab()
    a.clock.advance(30 * 24 * H)
    with a.p.deps.uow(readonly=True) as uow:
        grid = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT grid_code FROM people WHERE id = :p"), {"p": a.pid}).scalar_one()
    officer = Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401")
    daily = a.p.zones.designate(officer, ZoneInput(
        "管控", ZoneKind.PRECAUTION, [Area(grid)],
        rules=ZoneRules(24, SamplingMode.AT_SITE, Movement.NO_GATHERING)))
    assert a.due() == 30 * 24 * H + 30 * H + 24 * H
    a.clock.advance(3 * 24 * H)
    assert a.colour() == ("yellow", ("overdue",))
    a.p.zones.lift(officer, daily.id, "all negative")
    (policy,) = [x for x in a.p.status.policies(ADMIN) if x.scope == a.district]
    assert a.due() == 30 * H + policy.interval


def test_a_zone_drawn_during_a_follow_up_holds_once_the_tests_are_taken(
        arrival: Arrival) -> None:
    """A zone drawn while an arrival's follow-up was open passed over them for good: after
    their second test they went back to the district's 72 h while their neighbours in the
    zone were due daily; and lifted, their own policy's interval comes back."""
    a = arrival
    a.register()
    a.clock.advance(2 * H)
    a.swab()
    with a.p.deps.uow(readonly=True) as uow:
        grid = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT grid_code FROM people WHERE id = :p"), {"p": a.pid}).scalar_one()
    officer = Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401")
    a.clock.advance(H)
    daily = a.p.zones.designate(officer, ZoneInput(
        "管控", ZoneKind.PRECAUTION, [Area(grid)],
        rules=ZoneRules(24, SamplingMode.AT_SITE, Movement.NO_GATHERING)))
    assert a.due() == 72 * H  # the follow-up's second test keeps its due time
    a.clock.advance(27 * H)
    a.swab()  # the second test, 30 h after arrival
    assert a.due() == 30 * H + 24 * H  # the zone's cadence from it, as for the neighbours
    a.p.zones.lift(officer, daily.id, "all negative")
    (policy,) = [x for x in a.p.status.policies(ADMIN) if x.scope == a.district]
    assert a.due() == 54 * H  # within the watched week a change keeps the due time
    a.clock.advance(24 * H)
    a.swab()
    assert a.due() == 54 * H + policy.interval  # and their own interval counts after it
    # lifted while a second arrival's follow-up is open: its own cadence after the tests
    a.clock.advance(10 * 24 * H)
    a.register()
    a.clock.advance(2 * H)
    a.swab()
    daily = a.p.zones.designate(officer, ZoneInput(
        "管控", ZoneKind.PRECAUTION, [Area(grid)],
        rules=ZoneRules(24, SamplingMode.AT_SITE, Movement.NO_GATHERING)))
    a.p.zones.lift(officer, daily.id, "all negative")
    assert a.due() == 72 * H
    a.clock.advance(28 * H)
    a.swab()
    assert a.due() == 30 * H + policy.interval


def test_an_arrival_is_dated_within_its_watched_week_and_not_ahead(arrival: Arrival) -> None:
    """An arrival dated 2099 kept its person yellow or pop-up for good: no test taken before
    it counted after it."""
    a = arrival
    for at, code in ((a.clock.now() + timedelta(days=365 * 77), "future_time"),
                     (a.clock.now() + 11 * timedelta(minutes=1), "future_time"),
                     (a.clock.now() - FOLLOW_UP_WATCHED - H, "stale_time")):
        with pytest.raises(InvalidInput) as refused:
            a.register(at=at)
        assert (refused.value.code, refused.value.field) == (code, "arrived_at")
    a.register(at=a.clock.now() - 2 * 24 * H)  # registered two days late: its follow-up
    assert a.due() == 24 * H
