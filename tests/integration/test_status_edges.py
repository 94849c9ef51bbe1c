"""A person's status at the edges of its facts, on both backends: two exemptions at once (the
longest in force holds, whichever is added or revoked); a person registered after the policies
and zones exist (they take their cadence and their zone at once); reminders never tell a sealed
zone's residents to go out to a site."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.schema import to_ms
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.cadence import ScopeKind
from hesuan.domain.errors import Conflict
from hesuan.domain.status import OverrideState
from hesuan.domain.zones import Area, Movement, SamplingMode, ZoneKind, ZoneRules
from hesuan.services.people import PersonInput
from hesuan.services.status import PolicyInput
from hesuan.services.zones import ZoneInput
from hesuan.sim.example import OPERATOR, ExampleCity, make_resident_id, seed_example_city

ADMIN = Principal("u-admin", "admin", Role.ADMIN)
OFFICER = Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401")


@pytest.fixture
def city(platform: Platform) -> ExampleCity:
    return seed_example_city(platform, people=24)


def _plain(p: Platform, n: int) -> list[str]:
    with p.deps.uow(readonly=True) as uow:
        return list(uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = '' AND grid_code LIKE '140105%' ORDER BY id "
            f"LIMIT {n}")).scalars().all())


def _status(p: Platform, pid: str) -> tuple[str, tuple[str, ...]]:
    s = p.status.status_of(ADMIN, pid).status
    return s.colour.value, tuple(s.reasons)


def test_the_longest_exemption_in_force_holds(platform: Platform, clock: FixedClock,
                                               city: ExampleCity) -> None:
    """A shorter exemption added after a longer one, or revoked beside it, left the person not
    exempt (one column held the last one written): overdue on day 10, on the grid's list."""
    a, b = _plain(platform, 2)
    now = clock.now()
    platform.status.exempt(OFFICER, a, "bedridden", now + timedelta(days=200))
    short = platform.status.exempt(OFFICER, a, "away", now + timedelta(days=5))
    platform.status.revoke_exemption(OFFICER, short)
    platform.status.exempt(OFFICER, b, "bedridden", now + timedelta(days=200))
    platform.status.exempt(OFFICER, b, "in_hospital", now + timedelta(days=5))
    clock.advance(timedelta(days=10))
    platform.status.sweep(ADMIN)
    for pid in (a, b):
        assert _status(platform, pid) == ("green", ("exempt",)), pid
        with platform.deps.uow(readonly=True) as uow:
            row = uow.statuses.status_row(pid)
        assert row is not None and row.colour == "green"


def _row(p: Platform, pid: str) -> tuple[object, ...]:
    with p.deps.uow(readonly=True) as uow:
        return tuple(uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT policy_id, next_due_at, zone_id FROM person_status WHERE person_id = :p"),
            {"p": pid}).one())


def _newcomer(p: Platform, grid: str, n: int) -> str:
    """Someone registered now in ``grid`` (the ``n``-th newcomer of the test)."""
    return p.people.register(OPERATOR, PersonInput(
        make_resident_id(grid[:6], date(1990, 1, n), 900 + n), f"新{n}", grid,
        phone=f"1390000000{n}", address=f"{n}号楼1单元"))


def test_a_person_registered_later_takes_their_cadence_and_zone(
        platform: Platform, clock: FixedClock, city: ExampleCity) -> None:
    """Someone registered after the policies and a sealed zone exist had neither: never due,
    never reminded nor overdue, not in the zone (green at a venue far away). They take the
    district's cadence from their registration, and the zone, at once."""
    grid = city.grids[0]
    zone = platform.zones.designate(OFFICER, ZoneInput("封控", ZoneKind.SEALED, [Area(grid)]))
    clock.advance(timedelta(days=5))
    registered = clock.now()
    sealed = _newcomer(platform, grid, 1)
    elsewhere = _newcomer(platform, city.grids[2], 2)
    (policy,) = [p for p in platform.status.policies(ADMIN) if p.scope == grid[:6]]
    due = to_ms(registered + policy.interval)  # from registration, not the policy's start
    assert _row(platform, elsewhere) == (policy.id, due, None)
    assert _row(platform, sealed)[2] == zone.id
    assert _status(platform, sealed)[1] == ("in_zone",)
    clock.advance(policy.interval + policy.grace + timedelta(hours=1))
    platform.status.sweep(ADMIN)
    assert _status(platform, elsewhere) == ("yellow", ("overdue",))


def test_a_sealed_zones_residents_are_not_reminded_to_go_out(
        platform: Platform, clock: FixedClock, city: ExampleCity) -> None:
    """A reminder tells the person to go to the nearest site: a sealed zone's residents, who
    stay home and are sampled at their door, were sent it daily (the zone's cadence); their
    neighbours outside the zone still get theirs."""
    grid = city.grids[0]
    platform.zones.designate(OFFICER, ZoneInput("封控", ZoneKind.SEALED, [Area(grid)]))
    with platform.deps.uow(readonly=True) as uow:
        held, free = (list(uow.conn.execute(text(  # type: ignore[attr-defined]
            f"SELECT id FROM people WHERE grid_code {op} :g AND grid_code LIKE :d"),
            {"g": grid, "d": grid[:6] + "%"}).scalars()) for op in ("=", "<>"))
    assert held and free
    for _ in range(8):
        clock.advance(timedelta(hours=12))
        platform.status.sweep(ADMIN)
    with platform.deps.uow(readonly=True) as uow:
        reminded = set(uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT person_id FROM outbox WHERE template = 'reminder'")).scalars())
    assert not reminded & set(held)
    assert reminded & set(free)


def test_a_newcomers_zone_cadence_counts_from_their_registration_when_reapplied(
        platform: Platform, clock: FixedClock, city: ExampleCity) -> None:
    """A zone re-applied (another zone over the home lifted) put a newcomer's first due time at
    the zone's start + its cadence, before they were registered: overdue at once."""
    grid = city.grids[0]
    daily = platform.zones.designate(OFFICER, ZoneInput(
        "防范", ZoneKind.PRECAUTION, [Area(grid)],
        rules=ZoneRules(24, SamplingMode.AT_SITE, Movement.NO_GATHERING)))
    held = platform.zones.designate(OFFICER, ZoneInput("管控", ZoneKind.CONTROLLED, [Area(grid)]))
    clock.advance(timedelta(days=5))
    registered = clock.now()
    pid = _newcomer(platform, grid, 3)
    due = to_ms(registered + timedelta(hours=24))
    assert _row(platform, pid)[1] == due
    clock.advance(timedelta(hours=1))
    platform.zones.lift(OFFICER, held.id, "all negative")
    assert _row(platform, pid)[1:] == (due, daily.id)
    assert _status(platform, pid)[0] == "green"


def test_a_zones_cadence_lifted_gives_the_never_sampled_their_policys_due_time(
        platform: Platform, clock: FixedClock, city: ExampleCity) -> None:
    """A zone's daily cadence, lifted, gave the sampled their policy's interval back but left
    the never sampled due at the zone's start + a day: overdue two days before their policy
    says, until the policy's next change."""
    grid = city.grids[0]
    pid = _newcomer(platform, grid, 4)
    before = _row(platform, pid)
    assert before[1] is not None
    clock.advance(timedelta(hours=2))
    daily = platform.zones.designate(OFFICER, ZoneInput(
        "防范", ZoneKind.PRECAUTION, [Area(grid)],
        rules=ZoneRules(24, SamplingMode.AT_SITE, Movement.NO_GATHERING)))
    assert _row(platform, pid)[1] == to_ms(clock.now() + timedelta(hours=24))
    clock.advance(timedelta(hours=1))
    platform.zones.lift(OFFICER, daily.id, "all negative")
    assert _row(platform, pid) == before
    clock.advance(timedelta(hours=60))
    platform.status.sweep(ADMIN)
    assert _status(platform, pid)[0] == "green"


def test_an_exemption_revoked_revokes_the_green_pass_it_gave(
        platform: Platform, clock: FixedClock, city: ExampleCity) -> None:
    """An overdue person exempted, given a green pass, then the exemption revoked: a venue
    still admitted them on that pass for up to a day."""
    (pid,) = _plain(platform, 1)
    clock.advance(timedelta(days=5))
    platform.status.sweep(ADMIN)
    assert _status(platform, pid)[0] == "yellow"
    exemption = platform.status.exempt(OFFICER, pid, "in_hospital",
                                       clock.now() + timedelta(days=3))
    green = platform.passes.issue(OFFICER, pid)
    assert platform.passes.verify(OFFICER, green).valid
    platform.status.revoke_exemption(OFFICER, exemption)
    platform.passes._invalidate()
    verdict = platform.passes.verify(OFFICER, green)
    assert not verdict.valid and verdict.failure is not None
    assert verdict.failure.value == "revoked"


def test_registering_someone_known_elsewhere_names_no_one(
        platform: Platform, city: ExampleCity) -> None:
    """A grid worker registering an ID number known in another area got that person's id back
    (a 201, as for anyone new): who is registered was an oracle, the id to another's record."""
    other_grid = next(g for g in city.grids if not g.startswith("140105"))
    known = make_resident_id(other_grid[:6], date(1970, 1, 1), 555)
    pid = platform.people.register(OPERATOR, PersonInput(known, "李四", other_grid))
    grid_worker = Principal("u-g", "grid", Role.GRID_WORKER, city.grids[0])
    with pytest.raises(Conflict) as refused:
        platform.people.register(grid_worker, PersonInput(known, "王五", city.grids[0]))
    assert refused.value.code == "registered_elsewhere" and pid not in str(refused.value)
    # the registrar's own retry is the same person again
    mine = make_resident_id(city.grids[0][:6], date(1980, 1, 1), 556)
    first = platform.people.register(grid_worker, PersonInput(mine, "赵六", city.grids[0]))
    assert platform.people.register(grid_worker, PersonInput(mine, "赵六",
                                                             city.grids[0])) == first


def test_a_policy_that_makes_people_overdue_revokes_their_green_passes(
        platform: Platform, clock: FixedClock, city: ExampleCity) -> None:
    """A district's cadence shortened from 72 h to 24 h made its never-tested people overdue
    at once; their green passes stayed valid up to a day."""
    (pid,) = _plain(platform, 1)
    clock.advance(timedelta(hours=50))
    green = platform.passes.issue(OFFICER, pid)
    (policy,) = [x for x in platform.status.policies(ADMIN) if x.scope == "140105"]
    platform.status.set_policy(ADMIN, PolicyInput(ScopeKind.REGION, "140105",
                                                  timedelta(hours=24), id=policy.id,
                                                  grace=timedelta(hours=1)))
    assert _status(platform, pid)[0] != "green"
    platform.passes._invalidate()
    verdict = platform.passes.verify(OFFICER, green)
    assert not verdict.valid and verdict.failure is not None
    assert verdict.failure.value == "revoked"


def test_two_officers_deciding_one_override_at_once_decide_it_once(
        platform: Platform, city: ExampleCity) -> None:
    """On PostgreSQL one officer approved while another rejected: both were told done, the
    request read 'rejected' and the person stayed red under it. The request is read for
    update: the second is told it is decided."""
    from hesuan.adapters.db.status_store import SqlOverrides
    from hesuan.domain.errors import HesuanError
    from hesuan.domain.status import Colour
    from tests.helpers import at_once, slowed

    first = Principal("u-o1", "officer1", Role.HEALTH_OFFICER, "1401")
    approver = Principal("u-o2", "officer2", Role.HEALTH_OFFICER, "1401")
    rejecter = Principal("u-o3", "officer3", Role.HEALTH_OFFICER, "1401")
    pid = city.users["resident"][1]
    assert pid is not None
    oid = platform.status.request_override(first, pid, Colour.RED, "hospital check",
                                           "防控方案第九版",
                                           platform.deps.clock.now() + timedelta(days=3))
    answers: dict[str, str] = {}

    def decide(who: Principal, approve: bool) -> None:
        try:
            platform.status.decide_override(who, oid, approve)
            answers[who.username] = "done"
        except HesuanError as exc:
            answers[who.username] = exc.code

    with slowed(SqlOverrides, "override"):
        at_once(lambda: decide(approver, True), lambda: decide(rejecter, False))
    assert answers == {"officer2": "done", "officer3": "override_decided"}, answers
    view = platform.status.status_of(ADMIN, pid)
    (o,) = [x for x in view.overrides if x.id == oid]
    assert o.status is OverrideState.APPROVED and view.status.colour.value == "red"


def _policy_of(p: Platform, pid: str) -> tuple[str | None, int | None, int | None]:
    with p.deps.uow(readonly=True) as uow:
        row = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT ps.policy_id, ps.policy_version, q.interval_ms / 3600000 FROM person_status "
            "ps LEFT JOIN policies q ON q.id = ps.policy_id AND q.version = ps.policy_version "
            "WHERE ps.person_id = :p"), {"p": pid}).first()
    return row[0], row[1], None if row[2] is None else int(row[2])


def test_a_policy_window_that_opens_or_closes_later_is_followed_by_the_sweep(
        platform: Platform, clock: FixedClock, city: ExampleCity) -> None:
    """The returning students' 36 h policy ended on day 3 and they stayed on it, due and
    overdue by it, while their explanation named the district's 72 h; a new version of a
    district's policy starting tomorrow took everyone off the policy today (an overdue
    person turned green), and nothing put them on the new one when it started."""
    with platform.deps.uow(readonly=True) as uow:
        student = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = 'teacher_student' ORDER BY id")).first()[0]
    assert _policy_of(platform, student)[2] == 36
    clock.advance(timedelta(days=4))
    platform.status.sweep(ADMIN)
    assert _policy_of(platform, student)[2] == 72  # the window closed: the district's own
    (plain,) = _plain(platform, 1)
    clock.advance(timedelta(days=1))
    platform.status.sweep(ADMIN)
    assert _status(platform, plain) == ("yellow", ("overdue",))
    district = next(p for p in platform.status.policies(ADMIN) if p.scope == "140105")
    platform.status.set_policy(ADMIN, PolicyInput(
        ScopeKind.REGION, "140105", timedelta(hours=48), id=district.id,
        valid_from=clock.now() + timedelta(days=1)))
    assert _policy_of(platform, plain) == (district.id, district.version, 72)  # still in force
    assert _status(platform, plain) == ("yellow", ("overdue",))
    clock.advance(timedelta(days=1, minutes=1))
    platform.status.sweep(ADMIN)
    assert _policy_of(platform, plain) == (district.id, district.version + 1, 48)


def test_a_sweep_over_many_people_commits_in_parts(
        platform: Platform, clock: FixedClock, city: ExampleCity,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep was one transaction: when a cohort fell due at once (274,222 people at 5.4 M,
    22.6 s on PostgreSQL) a station's write to one of their status rows waited for all of it,
    and on SQLite every write did. It commits a part at a time now: a write to a person the
    sweep has decided goes through while the sweep goes on with the others; each part has its
    audit entry."""
    import threading
    import time

    from hesuan.adapters.db.status_store import SqlStatuses
    from hesuan.services import status as status_service

    monkeypatch.setattr(status_service, "SWEEP_PART", 4, raising=False)
    clock.advance(timedelta(days=10))  # all 24 past due + grace: overdue at once
    second_part = threading.Event()
    overdue = SqlStatuses.refresh_overdue
    calls: list[float] = []

    def slow_part(self: SqlStatuses, *args: object, **kwargs: object) -> int:
        calls.append(time.monotonic())
        if len(calls) == 2:
            second_part.set()
        time.sleep(0.3)  # a part takes a while
        return overdue(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SqlStatuses, "refresh_overdue", slow_part)
    done: dict[str, Any] = {}
    sweeper = threading.Thread(target=lambda: done.update(
        report=platform.status.sweep(ADMIN), at=time.monotonic()))
    sweeper.start()
    try:
        assert second_part.wait(10), "the sweep decided everyone in one part"
        with platform.deps.uow(readonly=True) as uow:
            decided = uow.conn.execute(text(  # type: ignore[attr-defined]
                "SELECT person_id FROM person_status WHERE status_at = :now "
                "ORDER BY person_id LIMIT 1"), {"now": to_ms(clock.now())}).scalar_one()
        # a station's write to that person's status row (its own transaction)
        with platform.deps.uow() as uow:
            uow.conn.execute(text(  # type: ignore[attr-defined]
                "UPDATE person_status SET updated_at = :now WHERE person_id = :p"),
                {"now": to_ms(clock.now()), "p": decided})
            uow.commit()
        done["written"] = time.monotonic()
    finally:
        sweeper.join(30)
    # the write went through while the sweep went on with the others: on PostgreSQL the
    # person's row was committed with the first part; on SQLite the write had the turn after
    # the part it came during
    assert done["written"] < done["at"] - 0.3, (done, calls)
    assert done["report"].recomputed == 24 and len(calls) >= 6
    with platform.deps.uow(readonly=True) as uow:
        parts = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT count(*) FROM audit_log WHERE action = 'sweep'")).scalar_one()
        left = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT count(*) FROM person_status WHERE status_valid_until <= :now"),
            {"now": to_ms(clock.now())}).scalar_one()
    assert parts == len(calls) and left == 0


def test_a_sweep_in_parts_reminds_each_person_once(
        platform: Platform, clock: FixedClock, city: ExampleCity,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The reminders of a cohort falling due together go out a part at a time: each person's
    once, every part's marked in it, and a second sweep finds none left to queue."""
    from hesuan.services import status as status_service

    monkeypatch.setattr(status_service, "SWEEP_PART", 4)
    policies = platform.status.policies(ADMIN)
    longest = max(p.interval for p in policies)
    lead = min(p.reminder_lead for p in policies if p.interval == longest)
    clock.advance(longest - lead + timedelta(minutes=1))  # everyone inside their lead
    first = platform.status.sweep(ADMIN)
    with platform.deps.uow(readonly=True) as uow:
        queued = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT person_id FROM outbox WHERE template = 'reminder'")).scalars().all()
        unmarked = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT count(*) FROM person_status WHERE next_due_at > :now "
            "AND (reminded_due_at IS NULL OR reminded_due_at <> next_due_at) "
            "AND person_id IN (SELECT person_id FROM outbox WHERE template = 'reminder')"),
            {"now": to_ms(clock.now())}).scalar_one()
    assert first.reminders == len(queued) == len(set(queued)) > 4
    assert unmarked == 0
    assert platform.status.sweep(ADMIN).reminders == 0


def test_one_persons_change_leaves_the_cohort_that_ran_out_to_the_sweep(
        platform: Platform, clock: FixedClock, city: ExampleCity) -> None:
    """A write that decides given people (an exemption here; a station's batch, a recall)
    decided every person whose status had run out first, in its own transaction: when a cohort
    fell due at once, the first such write carried the whole cohort's update, which the
    sweep does a part at a time. It decides its own people; the sweep the others."""
    a = _plain(platform, 1)[0]
    clock.advance(timedelta(days=10))  # everyone's status ran out: overdue, undecided yet
    platform.status.exempt(OFFICER, a, "bedridden", clock.now() + timedelta(days=30))
    with platform.deps.uow(readonly=True) as uow:
        decided = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT person_id FROM person_status WHERE status_at = :now"),
            {"now": to_ms(clock.now())}).scalars().all()
    assert decided == [a]
    assert platform.status.sweep(ADMIN).recomputed == 23
    assert _status(platform, a) == ("green", ("exempt",))
