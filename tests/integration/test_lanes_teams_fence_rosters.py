"""Services of lanes, teams, fence and rosters on SQLite and PostgreSQL: the two lanes and the
wait estimate against a simulated site, door-to-door teams with one tube per household, staff
shifts and rotation, fence alerts (passes, arrivals, de-duplication per day, scope, purge), and
coverage counted in SQL equal to the domain's classification of every person."""

from __future__ import annotations

import random
import statistics
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.schema import from_ms
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import NotFound, PermissionDenied, RuleViolation
from hesuan.domain.fence import AlertOutcome, PlaceKind
from hesuan.domain.rosters import Counts, RosterClass, classify
from hesuan.domain.sampling import SiteKind, make_tube_barcode
from hesuan.domain.shifts import StaffRole, TeamKind
from hesuan.domain.status import Colour
from hesuan.domain.zones import Area, ZoneKind
from hesuan.services.analytics import ROUND_WINDOW
from hesuan.services.fence import CheckpointKind, ScanInput
from hesuan.services.people import PersonInput
from hesuan.services.places import SiteInput
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.services.zones import ZoneInput, ZonePart
from hesuan.sim.example import OPERATOR, ExampleCity, make_resident_id, seed_example_city
from hesuan.sim.lanes import simulate_site

OFFICER = Principal("u-officer", "officer", Role.HEALTH_OFFICER, "1401")


@pytest.fixture
def city(platform: Platform) -> ExampleCity:
    return seed_example_city(platform, people=480)


def q(platform: Platform, sql: str, **params: object) -> list[tuple[Any, ...]]:
    with platform.deps.uow(readonly=True) as uow:
        return [tuple(r) for r in uow.conn.execute(text(sql), params)]  # type: ignore[attr-defined]


def test_wait_estimate_within_25_percent(platform: Platform, city: ExampleCity,
                                         clock: FixedClock) -> None:
    site = city.sites["140106"]
    sampler = Principal("u-s", "s", Role.SAMPLER, site)
    plain = [r[0] for r in q(platform, "SELECT id FROM people WHERE groups = '' ORDER BY id")]
    assert len(plain) >= 250
    run = simulate_site(platform, sampler, site, [str(p) for p in plain], clock.now(),
                        windows=2, per_min=3.0, minutes=80, warmup=25, probe_every=5,
                        set_clock=clock.set)
    assert run.rejected == 0
    assert run.swabbed == run.people
    errors = [p.error for p in run.probes if p.error is not None]
    assert len(errors) >= 8, run.probes
    # the estimate is within 25% of the simulated wait at steady load
    assert statistics.median(errors) <= 0.25, run.probes
    assert sum(e <= 0.25 for e in errors) >= 0.75 * len(errors), run.probes


def test_door_to_door_household_pool(platform: Platform, city: ExampleCity) -> None:
    grid = city.grids[3]
    for i, groups in enumerate(((), (), (), ("medical",))):  # one household of four
        platform.people.register(OPERATOR, PersonInput(
            make_resident_id(grid[:6], date(1980 + i, 3, 1), 900 + i), f"王{i}", grid,
            phone=f"1390000000{i}", groups=groups, household_id="HH-TEST-0001",
            address="7号楼2单元301"))
    team = platform.places.add_site(OPERATOR, SiteInput(
        "小店区上门采样一队", SiteKind.DOOR_TO_DOOR, grid[:6], windows=1))
    zone = platform.zones.designate(OFFICER, ZoneInput("封控", ZoneKind.SEALED, [Area(grid)]))
    a = platform.door_teams.assign(OFFICER, team, zone_id=zone.id)
    sampler = Principal("u-t", "t", Role.SAMPLER, team)
    route = platform.door_teams.route(sampler, team)
    assert route.people_to_sample == zone.people
    assert a.people == zone.people  # a zone's assignment counted its listed people: 0
    household = next(h for h in route.route if h.household_id == "HH-TEST-0001")
    assert [m.single_tube for m in household.members].count(True) == 1
    now = platform.deps.clock.now()
    ev = str(uuid.uuid4())
    scans = [platform.deps.codes.sign(m.person_id) for m in household.members]
    out = platform.door_teams.visit_household(sampler, team, ev, "HH-TEST-0001",
                                         make_tube_barcode(880001), now, scanned=scans)
    assert out.sampled == 3 and not out.rejected, out
    assert [x.reason for x in out.skipped] == ["single_tube_required"]
    tube = q(platform, "SELECT capacity, count, status FROM tubes WHERE barcode = :b",
             b=make_tube_barcode(880001))[0]
    assert tube == (5, 3, "sealed")
    # replaying the visit is a no-op
    again = platform.door_teams.visit_household(sampler, team, ev, "HH-TEST-0001",
                                           make_tube_barcode(880001), now, scanned=scans)
    assert again.duplicate
    route2 = platform.door_teams.route(sampler, team)
    assert route2.people_to_sample == route.people_to_sample - 3
    # the key-group member gets a single tube on a second pass
    single = out.skipped[0].person_id
    out = platform.door_teams.visit_household(
        sampler, team, str(uuid.uuid4()), "HH-TEST-0001", make_tube_barcode(880003),
        now, scanned=[platform.deps.codes.sign(single)],
        single_barcodes={single: make_tube_barcode(880004)})
    assert out.single == 1 and out.sampled == 1, out
    assert q(platform, "SELECT capacity, priority FROM tubes WHERE barcode = :b",
             b=make_tube_barcode(880004))[0] == (1, True)
    with pytest.raises(NotFound):  # named under another team's site
        platform.door_teams.close_assignment(OFFICER, a.id, site_id=city.sites["140105"])
    platform.door_teams.close_assignment(OFFICER, a.id, site_id=team)
    assert platform.door_teams.route(sampler, team).households == 0
    with pytest.raises(RuleViolation) as done:  # closed once
        platform.door_teams.close_assignment(OFFICER, a.id, site_id=team)
    assert done.value.code == "assignment_done"
    with pytest.raises(RuleViolation):  # a fixed site is not a team
        platform.door_teams.assign(OFFICER, city.sites["140105"], zone_id=zone.id)


def test_a_door_teams_zone_assignment_follows_the_zone_split_or_shrunk(
        platform: Platform, city: ExampleCity) -> None:
    """A door-to-door team assigned a sealed zone keeps its work when the zone is split or
    shrunk: the assignment follows onto the parts of the zone's kind, begun when it was (who
    the team sampled stays sampled); a part of another kind is the officer's to assign. (The
    route went empty at the split, and the team was not told why.)"""
    g1, g2, g3 = city.grids[3:6]
    assert g1[:6] == g2[:6] == g3[:6]
    team = platform.places.add_site(OPERATOR, SiteInput(
        "小店区上门采样二队", SiteKind.DOOR_TO_DOOR, g1[:6], windows=1))
    zone = platform.zones.designate(OFFICER, ZoneInput("封控", ZoneKind.SEALED,
                                                       [Area(g1), Area(g2), Area(g3)]))
    first = platform.door_teams.assign(OFFICER, team, zone_id=zone.id)
    sampler = Principal("u-t", "t", Role.SAMPLER, team)
    before = platform.door_teams.route(sampler, team)
    assert before.people_to_sample == zone.people
    household = next(h for h in before.route if h.grid_code.startswith(g1) and h.household_id
                     and not any(m.single_tube for m in h.members))
    assert household.household_id is not None
    out = platform.door_teams.visit_household(
        sampler, team, str(uuid.uuid4()), household.household_id, make_tube_barcode(880_101),
        platform.deps.clock.now(),
        scanned=[platform.deps.codes.sign(m.person_id) for m in household.members])
    assert out.sampled == len(household.members), out
    sealed, controlled = platform.zones.split(OFFICER, zone.id, [
        ZonePart(kind=ZoneKind.SEALED, areas=[Area(g1), Area(g2)]),
        ZonePart(kind=ZoneKind.CONTROLLED, areas=[Area(g3)])])
    after = platform.door_teams.route(sampler, team)
    assert first.id not in after.assignments and len(after.assignments) == 1
    assert {h.grid_code for h in after.route} == {g1, g2}
    assert sealed.people is not None
    assert after.people_to_sample == sealed.people - len(household.members)
    smaller = platform.zones.shrink(OFFICER, sealed.id, ZonePart(areas=[Area(g1)]))
    last = platform.door_teams.route(sampler, team)
    assert {h.grid_code for h in last.route} == {g1} and smaller.people is not None
    assert last.people_to_sample == smaller.people - len(household.members)
    assert controlled.kind == ZoneKind.CONTROLLED.value
    # lifted: the team's work there is done (its route kept an empty assignment)
    platform.zones.lift(OFFICER, smaller.id, "all negative")
    assert platform.door_teams.route(sampler, team).assignments == []


def test_live_coverage_counts_the_round_the_list_does(platform: Platform, city: ExampleCity,
                                                      clock: FixedClock) -> None:
    """A grid worker's live counts and list are of the same round, ending now (the counts
    ended at the city's latest sample: overnight, a grid sampled four days ago showed no one
    outstanding while its list showed everyone)."""
    grid = city.grids[0]
    worker = Principal("u-g", "g", Role.GRID_WORKER, grid)
    site = city.sites["140105"]
    sampler = Principal("u-s", "s", Role.SAMPLER, site)
    mine = [r[0] for r in q(platform, "SELECT id FROM people WHERE grid_code = :g AND "
                                      "groups = '' ORDER BY id LIMIT 4", g=grid)]
    others = [r[0] for r in q(platform, "SELECT id FROM people WHERE grid_code <> :g AND "
                                        "groups = '' ORDER BY id LIMIT 4", g=grid)]
    serial = iter(range(881_000, 881_100))

    def sample(people: list[str]) -> None:
        for pid in people:
            bc = make_tube_barcode(next(serial))
            out = platform.sampling.submit(sampler, [
                StationEvent(str(uuid.uuid4()), EventKind.OPEN_TUBE, site, clock.now(),
                             barcode=bc, mode=1),
                StationEvent(str(uuid.uuid4()), EventKind.SAMPLE, site, clock.now(),
                             barcode=bc, code=platform.deps.codes.sign(pid))])
            assert {o.status for o in out} == {"accepted"}, out

    sample(mine)
    clock.advance(timedelta(hours=85))
    sample(others)  # the city's latest samples, in the evening
    clock.advance(timedelta(hours=12))  # the next morning: no one sampled yet
    live = platform.rosters.coverage(worker, live=True)
    (row,) = [g for g in live.grids if g.code == grid]
    listed = platform.rosters.people(worker, which="outstanding")
    assert live.as_of == clock.now() == listed.as_of
    assert row.outstanding == listed.count > 0


def test_shifts_rotation_and_moving_teams(platform: Platform, city: ExampleCity,
                                          clock: FixedClock) -> None:
    site = city.sites["140105"]
    lead = Principal("u-l", "lead", Role.SITE_LEAD, site)
    team = platform.teams.add_team(OFFICER, "小店一队", TeamKind.SAMPLING, "site", site)
    staff = [platform.teams.add_staff(lead, f"采样员{i}", StaffRole.SWABBER, team)
             for i in range(3)]
    t0 = clock.now()
    for i, s in enumerate(staff[:2]):
        platform.teams.start_shift(lead, s, "site", site, window=i + 1, at=t0)
    clock.advance(timedelta(hours=3, minutes=50))
    board = platform.teams.board(lead, site)
    assert board.staffed_windows == [1, 2]
    assert set(board.due_to_rotate) == set(staff[:2])
    assert board.on[0].rotate_because == "at_window"
    load = platform.lanes.load(lead, [site])[0]
    assert load.staffed_windows == 2
    platform.teams.end_shift(lead, staff[0])
    with pytest.raises(RuleViolation):  # needs rest first
        platform.teams.start_shift(lead, staff[0], "site", site, window=1)
    platform.teams.start_shift(lead, staff[2], "site", site, window=1)
    with pytest.raises(PermissionDenied):  # another site's lead
        platform.teams.start_shift(Principal("x", "x", Role.SITE_LEAD, "other"), staff[0],
                                   "site", site)
    cp = platform.fence.add_checkpoint(OFFICER, "TYN-STATION", "太原南站", CheckpointKind.STATION,
                                       "140105")
    moved = platform.teams.move_team(OFFICER, team, "checkpoint", cp, "支援交通卡口")
    assert moved.shifts_ended == 2 and [m.to_kind for m in moved.history] == [
        "site", "checkpoint"]
    assert platform.teams.board(lead, site).on == []


def test_fence_alerts_passes_arrivals_and_dedup(platform: Platform, city: ExampleCity,
                                                clock: FixedClock) -> None:
    venue = platform.venues.register(OFFICER, "CINEMA-01", "影城", "140110")
    device = Principal("u-v", "cinema", Role.VENUE, venue)
    grid = city.grids[0]
    pid = str(q(platform, "SELECT id FROM people WHERE grid_code = :g AND groups = '' "
                          "ORDER BY id LIMIT 1", g=grid)[0][0])
    # an arrival from a medium-risk area who never tests
    platform.status.register_arrival(OFFICER, pid, city.sites["first_landing"], "4201",
                                     "medium", clock.now())
    clock.advance(timedelta(hours=30))
    text_pass = platform.passes.issue(OFFICER, pid)

    def scan(**kw: object) -> list[str]:
        s = ScanInput(str(uuid.uuid4()), PlaceKind.VENUE, venue, clock.now(),
                      **kw)  # type: ignore[arg-type]
        out = platform.fence.scan(device, [s])[0]
        assert out.status == "accepted", out
        return out.alerts

    assert scan(pass_text=text_pass) == ["arrival_follow_up"]
    assert scan(code=platform.deps.codes.sign(pid)) == ["arrival_follow_up"]
    alerts = platform.fence.alerts(Principal("g", "g", Role.GRID_WORKER, grid))
    assert len(alerts) == 1 and alerts[0].scans == 2
    # a time in an alert's detail as every report writes one: ISO 8601 UTC with Z
    detail = alerts[0].detail
    assert str(detail["first_scan_at"]).endswith("Z"), detail
    assert str(detail["arrival_at"]).endswith("Z"), detail
    # the next local day: a new alert
    clock.advance(timedelta(hours=24))
    scan(code=platform.deps.codes.sign(pid))
    assert len(platform.fence.alerts(OFFICER)) == 2
    # another district's officer and another grid's worker see none of them
    assert platform.fence.alerts(Principal("o2", "o2", Role.HEALTH_OFFICER, "140110")) == []
    assert platform.fence.alerts(Principal("g2", "g2", Role.GRID_WORKER, city.grids[5])) == []
    with pytest.raises(Exception):  # noqa: B017 - not theirs to close
        platform.fence.close(Principal("g2", "g2", Role.GRID_WORKER, city.grids[5]),
                             alerts[0].id, AlertOutcome.TESTED)
    platform.fence.close(Principal("g", "g", Role.GRID_WORKER, grid), alerts[0].id,
                         AlertOutcome.TESTED, "补检")
    # bad scans are rejected one by one, the batch goes on
    outs = platform.fence.scan(device, [
        ScanInput("not-a-uuid", PlaceKind.VENUE, venue, clock.now(), code="x"),
        ScanInput(str(uuid.uuid4()), PlaceKind.VENUE, venue, clock.now(), code="forged"),
        ScanInput(str(uuid.uuid4()), PlaceKind.VENUE, "elsewhere", clock.now(),
                  code=platform.deps.codes.sign(pid)),
        ScanInput(str(uuid.uuid4()), PlaceKind.VENUE, venue, clock.now(),
                  code=platform.deps.codes.sign(pid))])
    assert [o.reason for o in outs] == ["bad_event_id", "unknown_person", "unknown_place", None]
    # scans expire on the venue schedule, with the retention pass
    n = q(platform, "SELECT count(*) FROM fence_scans")[0][0]
    assert n == 4
    clock.advance(timedelta(days=13))
    assert platform.retention.run(OPERATOR).fence_scans == 0
    clock.advance(timedelta(days=2))
    assert platform.retention.run(OPERATOR).fence_scans == 4
    assert q(platform, "SELECT count(*) FROM fence_scans")[0][0] == 0


def test_a_scan_made_before_the_zone_was_drawn_is_no_zone_exit(
        platform: Platform, city: ExampleCity, clock: FixedClock) -> None:
    """A venue's device offline for the morning uploaded a scan made before the grid was
    sealed: the grid worker was told the resident had left the sealed zone."""
    venue = platform.venues.register(OFFICER, "CINEMA-03", "影城", "140110")
    device = Principal("u-v", "cinema", Role.VENUE, venue)
    grid = city.grids[0]
    pid = str(q(platform, "SELECT id FROM people WHERE grid_code = :g AND groups = '' "
                          "ORDER BY id LIMIT 1", g=grid)[0][0])
    before = clock.now()
    clock.advance(timedelta(hours=2))
    platform.zones.designate(OFFICER, ZoneInput("封控", ZoneKind.SEALED, [Area(grid)]))
    clock.advance(timedelta(minutes=5))
    code = platform.deps.codes.sign(pid)
    late, after = platform.fence.scan(device, [
        ScanInput(str(uuid.uuid4()), PlaceKind.VENUE, venue, before, code=code),
        ScanInput(str(uuid.uuid4()), PlaceKind.VENUE, venue, clock.now(), code=code)])
    assert (late.status, late.alerts) == ("accepted", []), late
    assert after.alerts == ["zone_exit"], after


def test_a_late_scan_is_judged_by_the_status_at_its_time(
        platform: Platform, city: ExampleCity, clock: FixedClock) -> None:
    """A device offline for the morning uploads its scans at noon. ``red_or_retest`` read the
    status as it was at the upload: a resident scanned while pending a re-test whose
    negative re-test came before the upload raised nothing; one scanned before their pool or
    their single tube came back positive, and uploaded after, was stopped after the fact."""
    from hesuan.services.lab import ResultInput
    from tests.integration.lab_bench import Bench

    b = Bench(platform, clock, city)
    lab = b.lab_user(1)
    venue = platform.venues.register(OFFICER, "CINEMA-04", "影城", "140110")
    device = Principal("u-v", "cinema", Role.VENUE, venue)
    cleared, pooled, single = b.person(), b.person(), b.person()
    # 08:00: ``cleared`` is in a pool that comes back positive: recalled, pending a re-test
    (first,) = b.tubes(1, mode=5, members=[[cleared] + [b.person() for _ in range(4)]])
    b.p.lab.record(lab, b.lab_id, [ResultInput(first, "positive")])
    while_pending = clock.now() + timedelta(minutes=10)
    clock.advance(timedelta(hours=1))
    (retest,) = b.tubes(1, members=[[cleared]])
    # ``pooled`` and ``single`` sampled; scanned before their results come back
    (pool,) = b.tubes(1, mode=5, members=[[pooled] + [b.person() for _ in range(4)]])
    (alone,) = b.tubes(1, members=[[single]])
    before_results = clock.now()
    clock.advance(timedelta(hours=1))
    b.p.lab.record(lab, b.lab_id, [ResultInput(retest, "negative"), ResultInput(pool, "positive"),
                                   ResultInput(alone, "positive")])
    clock.advance(timedelta(hours=1))
    assert [r[0] for r in q(platform, "SELECT colour FROM person_status WHERE person_id = :p",
                             p=cleared)] == ["green"]

    def scan(pid: str, at: Any) -> list[str]:
        (out,) = platform.fence.scan(device, [ScanInput(
            str(uuid.uuid4()), PlaceKind.VENUE, venue, at,
            code=platform.deps.codes.sign(pid))])
        assert out.status == "accepted", out
        return out.alerts

    assert scan(cleared, while_pending) == ["red_or_retest"]  # green now, pending then
    assert scan(cleared, clock.now()) == []
    assert scan(pooled, before_results) == []  # green then, pending a re-test now
    assert scan(pooled, clock.now()) == ["red_or_retest"]
    assert scan(single, before_results) == []  # green then, positive now
    assert scan(single, clock.now()) == ["red_or_retest"]
    # a red override for a day, replaced an hour later by a green one: red in between only
    other = Principal("u-officer2", "officer2", Role.HEALTH_OFFICER, "1401")
    overridden = b.person()

    def override(colour: Colour) -> None:
        oid = platform.status.request_override(OFFICER, overridden, colour, "mistaken identity",
                                               "a test", clock.now() + timedelta(days=1))
        platform.status.decide_override(other, oid, approve=True)

    override(Colour.RED)
    while_red = clock.now() + timedelta(minutes=10)
    clock.advance(timedelta(hours=1))
    override(Colour.GREEN)
    clock.advance(timedelta(minutes=5))
    assert scan(overridden, while_red) == ["red_or_retest"]
    assert scan(overridden, while_red - timedelta(hours=1)) == []
    assert scan(overridden, clock.now()) == []


def test_two_hands_closing_an_alert_at_once_close_it_once(
        platform: Platform, city: ExampleCity, clock: FixedClock) -> None:
    """On PostgreSQL a grid worker and an officer closing one alert at once were both told
    closed; the last one's outcome stood and the other's was lost. The alert is read for
    update: the second is told it is closed already."""
    from hesuan.adapters.db.fence_store import SqlFence
    from tests.helpers import at_once, slowed

    venue = platform.venues.register(OFFICER, "CINEMA-02", "影城", "140110")
    device = Principal("u-v", "cinema", Role.VENUE, venue)
    grid = city.grids[0]
    pid = str(q(platform, "SELECT id FROM people WHERE grid_code = :g AND groups = '' "
                          "ORDER BY id LIMIT 1", g=grid)[0][0])
    platform.zones.designate(OFFICER, ZoneInput("封控", ZoneKind.SEALED, [Area(grid)]))
    out = platform.fence.scan(device, [ScanInput(str(uuid.uuid4()), PlaceKind.VENUE, venue,
                                                 clock.now(),
                                                 code=platform.deps.codes.sign(pid))])
    assert out[0].alerts == ["zone_exit"], out
    (alert,) = platform.fence.alerts(OFFICER)
    answers: dict[str, str] = {}

    def close(who: Principal, outcome: AlertOutcome) -> None:
        try:
            platform.fence.close(who, alert.id, outcome, who.username)
            answers[who.username] = "closed"
        except RuleViolation as exc:
            answers[who.username] = exc.code

    worker = Principal("g", "g", Role.GRID_WORKER, grid)
    with slowed(SqlFence, "fence_alert"):
        at_once(lambda: close(worker, AlertOutcome.ISOLATED),
                lambda: close(OFFICER, AlertOutcome.FALSE_ALARM))
    assert answers == {"g": "closed", "officer": "alert_closed"}, answers
    (closed,) = platform.fence.alerts(OFFICER, statuses=["closed"])
    assert (closed.outcome, closed.closed_by) == ("isolated", "g")


def test_coverage_sql_equals_domain(platform: Platform, city: ExampleCity,
                                    clock: FixedClock) -> None:
    rng = random.Random(5)
    now = clock.now()
    ids = [str(r[0]) for r in q(platform, "SELECT id FROM people ORDER BY id")]
    with platform.deps.uow() as uow:
        for pid in ids:
            sampled = None if rng.random() < 0.3 else rng.randint(-150, -1) * 3_600_000
            exempt = None if rng.random() < 0.8 else rng.randint(-20, 200) * 3_600_000
            uow.conn.execute(text(  # type: ignore[attr-defined]
                "UPDATE person_status SET last_sampled_at = :s, exempt_until = :e "
                "WHERE person_id = :p"),
                {"s": None if sampled is None else int(now.timestamp() * 1000) + sampled,
                 "e": None if exempt is None else int(now.timestamp() * 1000) + exempt,
                 "p": pid})
        uow.commit()
    window = ROUND_WINDOW
    got = platform.rosters.coverage(OPERATOR, live=True, as_of=now)
    want: dict[str, Counts] = {}
    rows = q(platform, "SELECT p.grid_code, ps.last_sampled_at, ps.exempt_until FROM people p "
                       "JOIN person_status ps ON ps.person_id = p.id")
    as_of = now
    for g, s, e in rows:
        cls = classify(None if s is None else from_ms(int(s)),
                       None if e is None else from_ms(int(e)),
                       as_of - window, as_of)
        one = Counts(1, cls is RosterClass.SAMPLED, cls is RosterClass.EXEMPT,
                     cls is RosterClass.OUTSTANDING)
        want[str(g)] = want[str(g)] + one if str(g) in want else one
    for row in got.grids:
        assert row.code is not None
        c = want[row.code]
        assert (row.due, row.sampled, row.exempt, row.outstanding) == (
            c.due, c.sampled, c.exempt, c.outstanding), row.code
    # the grid worker's list is exactly the outstanding people of the grid
    grid = city.grids[0]
    lst = platform.rosters.people(Principal("g", "g", Role.GRID_WORKER, grid), as_of=as_of)
    assert lst.count == want[grid].outstanding
    assert {p.roster_class for p in lst.people} == {RosterClass.OUTSTANDING.value}
    # the snapshot (round ending now) agrees with the live count for the same round
    platform.rosters.refresh_snapshot(OPERATOR)
    snap = platform.rosters.coverage(OPERATOR)
    live = platform.rosters.coverage(OPERATOR, live=True, as_of=now)
    assert snap.source == "snapshot" and snap.grids == live.grids


def test_checkpoints_listed_to_whom_they_belong(platform: Platform, city: ExampleCity) -> None:
    """The city's checkpoints as registered, each shown to the officers over its region and to
    its own device; the other roles read none."""
    station = platform.fence.add_checkpoint(OFFICER, "TYN-STATION", "太原南站",
                                            CheckpointKind.STATION, "140105", 37.79, 112.61)
    highway = platform.fence.add_checkpoint(OFFICER, "G5-JINCI", "晋祠高速口",
                                            CheckpointKind.HIGHWAY, "140110")
    every = platform.fence.checkpoints(OFFICER)
    assert [(c.code, c.kind, c.region_code) for c in every] == [
        ("G5-JINCI", "highway", "140110"), ("TYN-STATION", "station", "140105")]
    assert (every[1].id, every[1].name, every[1].lat, every[1].lng) == (
        station, "太原南站", 37.79, 112.61)
    district = Principal("o2", "o2", Role.HEALTH_OFFICER, "140110")
    assert [c.id for c in platform.fence.checkpoints(district)] == [highway]
    device = Principal("u-cp", "station-gate", Role.VENUE, station)
    assert [c.id for c in platform.fence.checkpoints(device)] == [station]
    for role, scope in ((Role.GRID_WORKER, city.grids[0]), (Role.SAMPLER, city.sites["140106"]),
                        (Role.RESIDENT, None)):
        with pytest.raises(PermissionDenied):
            platform.fence.checkpoints(Principal("x", "x", role, scope))


def test_a_checkpoints_recent_scans(platform: Platform, city: ExampleCity,
                                    clock: FixedClock) -> None:
    """A checkpoint's recent scans, newest first: when, by code or by pass, and how many fence
    rules each broke (stop the person, or let them through); nothing about the person. Its own
    device and the officers over its region read them; another checkpoint's device does not."""
    cp = platform.fence.add_checkpoint(OFFICER, "G5-WUSU", "武宿高速口", CheckpointKind.HIGHWAY,
                                       "140105")
    other = platform.fence.add_checkpoint(OFFICER, "G5-JINCI", "晋祠高速口",
                                          CheckpointKind.HIGHWAY, "140110")
    device = Principal("u-cp", "wusu-gate", Role.VENUE, cp)
    people = [str(q(platform, "SELECT id FROM people WHERE grid_code = :g AND groups = '' "
                              "ORDER BY id LIMIT 1", g=grid)[0][0])
              for grid in (city.grids[0], city.grids[1], city.grids[2])]
    # the third lives in a sealed building: leaving it through the checkpoint breaks a rule
    platform.zones.designate(OFFICER, ZoneInput("封控", ZoneKind.SEALED, [Area(city.grids[2])]))
    times = []
    for i, (pid, by_pass) in enumerate(zip(people, (False, True, False), strict=True)):
        at = clock.now() + timedelta(minutes=i)
        code = None if by_pass else platform.deps.codes.sign(pid)
        pass_text = platform.passes.issue(OFFICER, pid) if by_pass else None
        out = platform.fence.scan(device, [ScanInput(str(uuid.uuid4()), PlaceKind.CHECKPOINT,
                                                     cp, at, code, pass_text)])[0]
        assert out.status == "accepted", out
        times.append(at)
    platform.fence.scan(OFFICER, [ScanInput(str(uuid.uuid4()), PlaceKind.CHECKPOINT, other,
                                            clock.now(), platform.deps.codes.sign(people[0]))])
    recent = platform.fence.checkpoint_scans(device, cp)
    assert [(s.at, s.via, s.alerts) for s in recent] == [
        (times[2], "code", 1), (times[1], "pass", 0), (times[0], "code", 0)]
    assert [s.at for s in platform.fence.checkpoint_scans(device, cp, limit=2)] == [
        times[2], times[1]]
    assert platform.fence.checkpoint_scans(OFFICER, cp) == recent
    for outsider in (Principal("u-cp2", "jinci-gate", Role.VENUE, other),
                     Principal("o2", "o2", Role.HEALTH_OFFICER, "140110"),
                     Principal("g", "g", Role.GRID_WORKER, city.grids[0])):
        with pytest.raises(PermissionDenied):
            platform.fence.checkpoint_scans(outsider, cp)
    with pytest.raises(NotFound):
        platform.fence.checkpoint_scans(OFFICER, "no-such-checkpoint")


def test_a_teams_staff_with_who_may_start_when(platform: Platform, city: ExampleCity,
                                               clock: FixedClock) -> None:
    """The site lead's list of their team (班组): who is on where, hours today, and when each
    of the others may next start (after their rest, or on the next local day)."""
    site = city.sites["140105"]
    lead = Principal("u-l", "lead", Role.SITE_LEAD, site)
    team = platform.teams.add_team(OFFICER, "小店一队", TeamKind.SAMPLING, "site", site)
    a, b, c = (platform.teams.add_staff(lead, name, role, team) for name, role in (
        ("采样员甲", StaffRole.SWABBER), ("采样员乙", StaffRole.SWABBER),
        ("登记员丙", StaffRole.REGISTRAR)))
    t0 = clock.now()
    platform.teams.start_shift(lead, a, "site", site, window=1, at=t0)
    platform.teams.start_shift(lead, b, "site", site, window=2, at=t0)
    clock.advance(timedelta(hours=4))
    platform.teams.end_shift(lead, b)
    clock.advance(timedelta(minutes=10))
    got = platform.teams.team_staff(lead, team)
    assert got.team.id == team and got.as_of == clock.now()
    by_id = {m.staff_id: m for m in got.staff}
    assert [m.name for m in got.staff] == ["登记员丙", "采样员乙", "采样员甲"]
    assert (by_id[a].on_at, by_id[a].window, by_id[a].may_start_at) == (site, 1, None)
    assert by_id[a].hours_today == 4.17
    assert (by_id[b].on_at, by_id[b].hours_today) == (None, 4.0)
    assert by_id[b].may_start_at == t0 + timedelta(hours=4, minutes=30)  # 30 min of rest
    assert by_id[c].may_start_at == clock.now() and by_id[c].hours_today == 0
    # the officer over the district sees it too; another site's lead, a sampler, the city's
    # other district officer do not
    assert len(platform.teams.team_staff(OFFICER, team).staff) == 3
    for other in (Principal("x", "x", Role.SITE_LEAD, city.sites["140106"]),
                  Principal("s", "s", Role.SAMPLER, site),
                  Principal("o", "o", Role.HEALTH_OFFICER, "140110")):
        with pytest.raises(PermissionDenied):
            platform.teams.team_staff(other, team)
    with pytest.raises(NotFound):
        platform.teams.team_staff(lead, "no-such-team")
