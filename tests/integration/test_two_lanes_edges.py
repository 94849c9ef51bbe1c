"""The two lanes (登记、采样双通道, docs/API.md "Lanes") at their edges, on both backends: a
registration whose tube is sealed before the swab lapses (the person may register again and is
no longer counted in the queue), and a person registered to one tube is not sampled into
another (one open tube a person)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.services.lab import ResultInput
from hesuan.services.lanes import LaneEvent, NotSwabbed, SwabOutcome
from hesuan.services.sampling import EventKind, StationEvent, TubeView
from hesuan.sim.example import ExampleCity, seed_example_city
from tests.helpers import received_pools


class Station:
    """One site's two lanes, driven as its registrar and swabber do."""

    def __init__(self, p: Platform, clock: FixedClock, city: ExampleCity) -> None:
        self.p, self.clock = p, clock
        self.site = city.sites["140105"]
        self.staff = Principal("u-s", "sampler", Role.SAMPLER, self.site)
        self.lead = Principal("u-l", "lead", Role.SITE_LEAD, self.site)
        self.lab = city.labs["lab1"]
        self._serial: Iterator[int] = iter(range(860_000, 861_000))
        with p.deps.uow(readonly=True) as uow:  # people of no key group: pooled tubes
            plain = uow.conn.execute(text(  # type: ignore[attr-defined]
                "SELECT id FROM people WHERE groups = '' ORDER BY id")).scalars().all()
        self.people = iter(plain)

    def barcode(self) -> str:
        return make_tube_barcode(next(self._serial))

    def code(self, person_id: str) -> str:
        return self.p.deps.codes.sign(person_id)

    def lanes(self, *events: tuple[str, dict[str, object]]) -> list[tuple[str, str | None]]:
        out = self.p.lanes.submit(self.staff, [
            LaneEvent(str(uuid.uuid4()), kind, self.site, self.clock.now(),
                      window=1, **kw) for kind, kw in events])  # type: ignore[arg-type]
        return [(o.status, o.reason) for o in out]

    def queue(self) -> int:
        queue = self.p.lanes.load(self.lead, [self.site])[0].queue
        assert queue is not None  # a site running the two lanes
        return queue


@pytest.fixture
def station(platform: Platform, clock: FixedClock) -> Station:
    return Station(platform, clock, seed_example_city(platform, people=40))


def test_a_registration_lapses_when_its_tube_is_sealed_unswabbed(station: Station) -> None:
    """Sealed before the swab, the registration kept the person: every later registration,
    anywhere, was refused ``already_registered`` and the site's queue counted them."""
    s = station
    p, q = next(s.people), next(s.people)
    tube = s.barcode()
    assert s.lanes(("open_tube", {"barcode": tube, "mode": 5}),
                   ("register", {"barcode": tube, "code": s.code(p)}),
                   ("register", {"barcode": tube, "code": s.code(q)}),
                   ("swab", {"code": s.code(q)}),
                   ("seal_tube", {"barcode": tube})) == [("accepted", None)] * 5
    assert s.queue() == 0
    s.clock.advance(timedelta(minutes=30))
    again = s.barcode()
    assert s.lanes(("open_tube", {"barcode": again, "mode": 5}),
                   ("register", {"barcode": again, "code": s.code(p)})) == [
        ("accepted", None), ("accepted", None)]
    assert s.queue() == 1
    assert s.lanes(("swab", {"code": s.code(p)})) == [("accepted", None)]
    assert s.queue() == 0


def test_a_registered_person_is_not_sampled_into_another_tube(station: Station) -> None:
    """Registered to one tube (the registrar's lane), then sampled into another at a window
    (the single lane): they were in two open tubes, and the swab put them into the first too."""
    s = station
    p = next(s.people)
    bound, other = s.barcode(), s.barcode()
    assert s.lanes(("open_tube", {"barcode": bound, "mode": 5}),
                   ("register", {"barcode": bound, "code": s.code(p)})) == [
        ("accepted", None), ("accepted", None)]
    now = s.clock.now()
    out = s.p.sampling.submit(s.staff, [
        StationEvent(str(uuid.uuid4()), EventKind.OPEN_TUBE, s.site, now, barcode=other,
                     mode=5),
        StationEvent(str(uuid.uuid4()), EventKind.SAMPLE, s.site, now, barcode=other,
                     code=s.code(p))])
    assert [(o.status, o.reason) for o in out] == [("accepted", None),
                                                   ("rejected", "already_registered")]
    assert s.lanes(("swab", {"code": s.code(p)})) == [("accepted", None)]


def test_a_registered_person_sampled_at_a_window_into_their_tube_is_swabbed(
        station: Station) -> None:
    """Registered to a tube, then sampled into that same tube at a window (the single lane):
    their registration went on waiting, counted in the queue, and a swab of the whole tube
    tried to sample them again (already_in_tube)."""
    s = station
    p, q = next(s.people), next(s.people)
    tube = s.barcode()
    assert s.lanes(("open_tube", {"barcode": tube, "mode": 5}),
                   ("register", {"barcode": tube, "code": s.code(p)}),
                   ("register", {"barcode": tube, "code": s.code(q)})) == [
        ("accepted", None)] * 3
    out = s.p.sampling.submit(s.staff, [StationEvent(
        str(uuid.uuid4()), EventKind.SAMPLE, s.site, s.clock.now(), barcode=tube,
        code=s.code(p))])
    assert [(o.status, o.reason) for o in out] == [("accepted", None)]
    assert s.queue() == 1
    swab = s.p.lanes.submit(s.staff, [LaneEvent(str(uuid.uuid4()), "swab", s.site,
                                                s.clock.now(), barcode=tube, window=1)])
    assert [(o.status, o.reason, o.message) for o in swab] == [("accepted", None, None)]
    assert s.queue() == 0


def test_a_registration_or_a_swab_is_not_stamped_before_what_it_follows(
        station: Station) -> None:
    """A registration stamped before its tube was opened, and a swab before the person's
    registration, were taken as sent (a sample's time before its registration's)."""
    s = station
    p = next(s.people)
    tube = s.barcode()
    now = s.clock.now()
    minutes = timedelta(minutes=5)

    def send(kind: str, at: datetime, **kw: object) -> list[tuple[str, str | None]]:
        out = s.p.lanes.submit(s.staff, [LaneEvent(str(uuid.uuid4()), kind, s.site, at,
                                                   window=1, **kw)])  # type: ignore[arg-type]
        return [(o.status, o.reason) for o in out]

    assert send("open_tube", now, barcode=tube, mode=5) == [("accepted", None)]
    assert send("register", now - minutes, barcode=tube, code=s.code(p)) == [
        ("rejected", "before_tube_open")]
    assert send("register", now + minutes, barcode=tube, code=s.code(p)) == [
        ("accepted", None)]
    assert send("swab", now + 2 * timedelta(minutes=1), code=s.code(p)) == [
        ("rejected", "before_registration")]
    assert send("swab", now + 2 * minutes, code=s.code(p)) == [("accepted", None)]


def test_a_walk_up_sample_leaves_room_for_those_registered_to_the_tube(
        station: Station) -> None:
    """Four registered to a tube of five, then two walk-ups sampled into it at a window (the
    single lane): both were taken, the tube sealed itself full at five, and the registered
    people's swabs were refused (their registrations lapsed with the tube)."""
    s = station
    registered = [next(s.people) for _ in range(4)]
    walk_ups = [next(s.people) for _ in range(2)]
    tube = s.barcode()
    binds: list[tuple[str, dict[str, object]]] = [
        ("register", {"barcode": tube, "code": s.code(p)}) for p in registered]
    assert s.lanes(("open_tube", {"barcode": tube, "mode": 5}), *binds) == [
        ("accepted", None)] * 5

    def walk_up(person: str) -> tuple[str, str | None]:
        out = s.p.sampling.submit(s.staff, [StationEvent(
            str(uuid.uuid4()), EventKind.SAMPLE, s.site, s.clock.now(), barcode=tube,
            code=s.code(person), window=2)])
        return out[0].status, out[0].reason

    assert walk_up(walk_ups[0]) == ("accepted", None)
    assert walk_up(walk_ups[1]) == ("rejected", "tube_full")
    assert s.queue() == 4
    swabs = s.p.lanes.submit(s.staff, [LaneEvent(str(uuid.uuid4()), "swab", s.site,
                                                 s.clock.now(), code=s.code(p), window=1)
                                       for p in registered])
    assert [(o.status, o.reason) for o in swabs] == [("accepted", None)] * 4
    last = swabs[-1].tube
    assert isinstance(last, TubeView)
    assert (last.count, last.status) == (5, "sealed")
    assert s.queue() == 0


def test_two_registrars_binding_one_person_at_once_bind_them_once(station: Station) -> None:
    """On PostgreSQL two registrar windows scanning one person's code at once bound them to
    two tubes: each read that the person waited nowhere before either wrote. The person is
    held while registered: the second is told ``already_registered``."""
    from hesuan.adapters.db.lanes_store import SqlLanes
    from tests.helpers import at_once, slowed

    s = station
    p = next(s.people)
    tubes = [s.barcode(), s.barcode()]
    assert s.lanes(*(("open_tube", {"barcode": t, "mode": 5}) for t in tubes)) == [
        ("accepted", None)] * 2
    answers: dict[int, tuple[str, str | None]] = {}

    def register(window: int) -> None:
        out = s.p.lanes.submit(s.staff, [LaneEvent(
            str(uuid.uuid4()), "register", s.site, s.clock.now(), barcode=tubes[window - 1],
            code=s.code(p), window=window)])
        answers[window] = (out[0].status, out[0].reason)

    with slowed(SqlLanes, "pending_for_people"):
        at_once(lambda: register(1), lambda: register(2))
    assert answers == {1: ("accepted", None), 2: ("rejected", "already_registered")}, answers
    assert s.queue() == 1


def test_people_recalled_while_they_wait_are_named_and_their_registrations_lapse(
        station: Station) -> None:
    """Registered to a pooled tube, then recalled (an earlier pool of theirs positive) while
    they waited: the whole tube's swab was answered ``accepted`` with "1 not swabbed" and no
    name, and their registrations went on waiting, so that neither could be registered to a
    single tube (``already_registered``) until the pooled tube was sealed."""
    s = station
    earlier = [next(s.people) for _ in range(5)]
    q, r = earlier[0], earlier[1]
    p = next(s.people)
    received_pools(s.p, s.clock, s.lab, s.site, earlier, [s.barcode()], 5, make_box_code(31))
    with s.p.deps.uow(readonly=True) as uow:
        pooled = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT t.barcode FROM tubes t JOIN samples x ON x.tube_id = t.id "
            "WHERE x.person_id = :q"), {"q": q}).scalar_one()
    tube = s.barcode()
    bound = s.p.lanes.submit(s.staff, [
        LaneEvent(str(uuid.uuid4()), "open_tube", s.site, s.clock.now(), barcode=tube,
                  mode=5, window=1),
        *(LaneEvent(str(uuid.uuid4()), "register", s.site, s.clock.now(), barcode=tube,
                    code=s.code(x), window=1) for x in (p, q, r))])
    assert [o.status for o in bound] == ["accepted"] * 4
    names = {x: o.person.name for x, o in zip((p, q, r), bound[1:], strict=True)
             if o.person is not None}
    s.p.lab.record(Principal("u-lab", "lab", Role.LAB, s.lab), s.lab, [
        ResultInput(pooled, "positive", {"ORF1ab": 28.5, "N": 29.0})])
    s.clock.advance(timedelta(minutes=5))
    lapsed = NotSwabbed(names[r], "recall_requires_single_tube", "lapsed")

    one = s.p.lanes.submit(s.staff, [LaneEvent(str(uuid.uuid4()), "swab", s.site,
                                               s.clock.now(), code=s.code(r), window=1)])
    assert [(o.status, o.reason) for o in one] == [("rejected", "recall_requires_single_tube")]
    assert isinstance(one[0], SwabOutcome) and one[0].not_swabbed == (lapsed,)
    assert s.queue() == 2

    whole = s.p.lanes.submit(s.staff, [LaneEvent(str(uuid.uuid4()), "swab", s.site,
                                                 s.clock.now(), barcode=tube, window=1)])
    assert [(o.status, o.reason) for o in whole] == [("accepted", None)]
    assert isinstance(whole[0], SwabOutcome) and whole[0].not_swabbed == (
        NotSwabbed(names[q], "recall_requires_single_tube", "lapsed"),)
    assert whole[0].message is not None and names[q] in whole[0].message
    assert s.queue() == 0

    single = s.barcode()
    assert s.lanes(("open_tube", {"barcode": single, "mode": 1}),
                   ("register", {"barcode": single, "code": s.code(q)}),
                   ("swab", {"code": s.code(q)})) == [("accepted", None)] * 3
    assert s.queue() == 0
