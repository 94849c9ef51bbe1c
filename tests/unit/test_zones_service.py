"""The zones service's rules on the fake unit of work (no database): a zone's members and their
colours (sealed red, controlled yellow, precaution unchanged, the strictest zone wins), its
start, end, split and shrink with their history, its cadence, the passes it makes untrue, and
who may change it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hesuan.adapters.geo import ShapelyGeometry
from hesuan.domain.access import Principal, Role
from hesuan.domain.cadence import ScopeKind
from hesuan.domain.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from hesuan.domain.json import JsonObject
from hesuan.domain.status import Colour
from hesuan.domain.zones import Area, ZoneKind, ZoneRules, default_rules
from hesuan.services.sampling import SamplingService
from hesuan.services.status import PolicyInput, StatusService
from hesuan.services.status_ports import IssuedPass
from hesuan.services.zones import ZoneChanges, ZoneInput, ZonePart, ZoneService
from tests.fakes import GRIDS, World, make_world
from tests.fakes.database import PassRecord

ADMIN = Principal("u-admin", "admin", Role.ADMIN)
OFFICER = Principal("u-o1", "officer", Role.HEALTH_OFFICER, "1401")
OFFICER2 = Principal("u-o2", "officer2", Role.HEALTH_OFFICER, "1401")
XIAODIAN = Principal("u-o3", "xiaodian", Role.HEALTH_OFFICER, "140105")
COMMUNITY = GRIDS[0][:12]  # holds GRIDS[0] and GRIDS[1]; GRIDS[2] is in another district


@pytest.fixture
def w() -> World:
    return make_world()


@pytest.fixture
def zones(w: World) -> ZoneService:
    return ZoneService(w.deps, StatusService(w.deps), ShapelyGeometry())


@pytest.fixture
def people(w: World) -> dict[str, list[str]]:
    """Three people in the first grid (two in building 3), two in the second, two elsewhere."""
    return {GRIDS[0]: [w.person(GRIDS[0], address="3号楼1单元101"),
                       w.person(GRIDS[0], address="3号楼2单元502"),
                       w.person(GRIDS[0], address="5号楼1单元301")],
            GRIDS[1]: w.people(2, GRIDS[1]), GRIDS[2]: w.people(2, GRIDS[2])}


def colours(w: World, pids: list[str]) -> set[tuple[str, str]]:
    return {(w.status(p).colour, w.status(p).reasons) for p in pids}


def test_a_sealed_zone_turns_its_people_red_and_lifting_restores_them(
        w: World, zones: ZoneService, people: dict[str, list[str]]) -> None:
    inside, outside = people[GRIDS[0]] + people[GRIDS[1]], people[GRIDS[2]]
    z = zones.designate(XIAODIAN, ZoneInput("封控区一", ZoneKind.SEALED, [Area(COMMUNITY)]))
    assert (z.status, z.people, z.areas) == ("active", 5, (Area(COMMUNITY),))
    assert colours(w, inside) == {("red", "in_zone")}
    assert colours(w, outside) == {("green", "not_yet_tested")}
    assert {w.status(p).zone_id for p in inside} == {z.id}
    row = w.status(inside[0])
    assert (row.rule_id, row.evidence) == ("R-ZONE", {"zone": {"kind": "sealed", "id": z.id}})
    status = StatusService(w.deps).status_of(OFFICER, inside[0]).status
    assert status.evidence["zone"] == {"kind": "sealed", "id": z.id}
    lifted = zones.lift(XIAODIAN, z.id, "14 天无新增")
    assert (lifted.status, lifted.end_reason) == ("lifted", "14 天无新增")
    assert colours(w, inside) == {("green", "not_yet_tested")}
    assert {w.status(p).zone_id for p in inside} == {None}
    _, history = zones.get(OFFICER, z.id)
    assert [h.action for h in history] == ["designate", "lifted"]
    assert [a.action for a in w.t.audit] == ["zone.designate", "status.read", "zone.lift"]
    with pytest.raises(RuleViolation) as again:
        zones.lift(XIAODIAN, z.id, "twice")
    assert again.value.code == "zone_not_active"


def test_the_strictest_zone_wins_and_a_lifted_one_hands_its_people_back(
        w: World, zones: ZoneService, people: dict[str, list[str]]) -> None:
    street = people[GRIDS[0]] + people[GRIDS[1]]
    pre = zones.designate(OFFICER, ZoneInput("防范区", ZoneKind.PRECAUTION,
                                             [Area(GRIDS[0][:9])]))
    assert pre.people == 5 and colours(w, street) == {("green", "not_yet_tested")}
    ctl = zones.designate(OFFICER, ZoneInput("管控区", ZoneKind.CONTROLLED, [Area(GRIDS[0])]))
    assert ctl.people == 3
    assert colours(w, people[GRIDS[0]]) == {("yellow", "in_zone")}
    assert {w.status(p).zone_id for p in people[GRIDS[1]]} == {pre.id}
    # a weaker zone over the stricter one takes nobody from it
    again = zones.designate(OFFICER, ZoneInput("防范区二", ZoneKind.PRECAUTION, [Area(GRIDS[0])]))
    assert again.people == 0 and {w.status(p).zone_id for p in people[GRIDS[0]]} == {ctl.id}
    zones.lift(OFFICER, ctl.id, "done")
    assert {w.status(p).zone_id for p in street} <= {pre.id, again.id}
    assert colours(w, street) == {("green", "not_yet_tested")}


def test_a_zone_of_one_building(w: World, zones: ZoneService,
                                people: dict[str, list[str]]) -> None:
    in_three, in_five = people[GRIDS[0]][:2], people[GRIDS[0]][2:]
    z = zones.designate(OFFICER, ZoneInput("3号楼", ZoneKind.SEALED,
                                           [Area(GRIDS[0], "3号楼")]))
    assert z.people == 2
    assert colours(w, in_three) == {("red", "in_zone")}
    assert colours(w, in_five) == {("green", "not_yet_tested")}
    with pytest.raises(InvalidInput) as bad:
        zones.designate(OFFICER, ZoneInput("楼", ZoneKind.SEALED, [Area(COMMUNITY, "3号楼")]))
    assert bad.value.code == "bad_building"


def test_a_scheduled_zone_starts_and_expires_with_time(
        w: World, zones: ZoneService, people: dict[str, list[str]]) -> None:
    now = w.clock.now()
    grid = people[GRIDS[1]]
    sealed = default_rules(ZoneKind.SEALED)
    z = zones.designate(OFFICER, ZoneInput("明日封控", ZoneKind.SEALED, [Area(GRIDS[1])],
                                           starts_at=now + timedelta(hours=2),
                                           planned_end=now + timedelta(days=3),
                                           rules=ZoneRules(None, sealed.sampling_mode,
                                                           sealed.movement)))
    assert z.status == "scheduled" and colours(w, grid) == {("green", "not_yet_tested")}
    assert zones.tick(ADMIN) == ZoneChanges(0, 0)
    w.clock.advance(timedelta(hours=2))
    assert zones.tick(ADMIN) == ZoneChanges(1, 0)
    assert colours(w, grid) == {("red", "in_zone")}
    w.clock.advance(timedelta(days=3))
    assert zones.tick(ADMIN) == ZoneChanges(0, 1)
    assert colours(w, grid) == {("green", "not_yet_tested")}
    got, history = zones.get(OFFICER, z.id)
    assert got.status == "expired"
    assert [h.action for h in history] == ["designate", "start", "expired"]
    with pytest.raises(PermissionDenied):
        zones.tick(OFFICER)


def test_split_and_shrink_keep_the_history(w: World, zones: ZoneService,
                                           people: dict[str, list[str]]) -> None:
    z = zones.designate(OFFICER, ZoneInput("小区", ZoneKind.SEALED, [Area(COMMUNITY)]))
    with pytest.raises(RuleViolation) as overlap:
        zones.split(OFFICER, z.id, [ZonePart("a", areas=[Area(COMMUNITY)]),
                                    ZonePart("b", areas=[Area(GRIDS[1])])])
    assert overlap.value.code == "parts_overlap"
    core, outer = zones.split(OFFICER, z.id, [
        ZonePart("核心区", ZoneKind.SEALED, [Area(GRIDS[0])]),
        ZonePart("外围", ZoneKind.CONTROLLED, [Area(GRIDS[1])])])
    assert (core.parent_id, outer.parent_id, core.people, outer.people) == (z.id, z.id, 3, 2)
    assert colours(w, people[GRIDS[0]]) == {("red", "in_zone")}
    assert colours(w, people[GRIDS[1]]) == {("yellow", "in_zone")}
    old, history = zones.get(OFFICER, z.id)
    assert old.status == "split" and history[-1].detail["into"] == [core.id, outer.id]
    with pytest.raises(RuleViolation) as outside:
        zones.shrink(OFFICER, core.id, ZonePart(areas=[Area(GRIDS[1])]))
    assert outside.value.code == "outside_parent"
    small = zones.shrink(OFFICER, core.id, ZonePart(areas=[Area(GRIDS[0], "3号楼")]))
    assert (small.kind, small.parent_id, small.people) == ("sealed", core.id, 2)
    assert colours(w, people[GRIDS[0]][2:]) == {("green", "not_yet_tested")}
    assert zones.get(OFFICER, core.id)[0].status == "shrunk"


def test_a_zone_sets_its_cadence_while_it_stands(w: World, zones: ZoneService,
                                                 people: dict[str, list[str]]) -> None:
    status = StatusService(w.deps)
    status.seed_defaults(ADMIN)
    sampled, never = people[GRIDS[0]][0], people[GRIDS[0]][1]
    events = w.tube([sampled], mode=1)[1]
    SamplingService(w.deps, status).submit(Principal("u-s", "s", Role.SAMPLER, w.site), events)
    at = w.clock.now()
    assert w.status(sampled).next_due_at == at + timedelta(hours=72)
    never_due = w.status(never).next_due_at
    w.clock.advance(timedelta(hours=6))
    start = w.clock.now()
    z = zones.designate(OFFICER, ZoneInput(
        "管控日检", ZoneKind.CONTROLLED, [Area(GRIDS[0])],
        rules=ZoneRules(24, default_rules(ZoneKind.CONTROLLED).sampling_mode,
                        default_rules(ZoneKind.CONTROLLED).movement)))
    for p in (sampled, never):  # sampled before the zone: due a day after its start
        assert (w.status(p).interval, w.status(p).next_due_at) == (
            timedelta(hours=24), start + timedelta(hours=24))
    w.clock.advance(timedelta(hours=1))
    (policy,) = [x for x in status.policies(ADMIN) if GRIDS[0].startswith(x.scope)]
    status.set_policy(ADMIN, PolicyInput(ScopeKind.REGION, policy.scope, policy.interval,
                                         id=policy.id, reminder_lead=timedelta(hours=6)))
    for p in (sampled, never):  # a policy's edit keeps the zone's cadence
        assert (w.status(p).interval, w.status(p).next_due_at) == (
            timedelta(hours=24), start + timedelta(hours=24))
    zones.lift(OFFICER, z.id, "done")
    assert (w.status(sampled).interval, w.status(sampled).next_due_at) == (
        timedelta(hours=72), at + timedelta(hours=72))
    assert (w.status(never).interval, w.status(never).next_due_at) == (
        timedelta(hours=72), never_due)


def test_who_may_change_a_zone(w: World, zones: ZoneService,
                               people: dict[str, list[str]]) -> None:
    with pytest.raises(PermissionDenied):
        zones.designate(XIAODIAN, ZoneInput("越界", ZoneKind.SEALED, [Area(GRIDS[2])]))
    with pytest.raises(PermissionDenied):
        zones.designate(Principal("u-g", "grid", Role.GRID_WORKER, GRIDS[0]),
                        ZoneInput("网格", ZoneKind.SEALED, [Area(GRIDS[0])]))
    with pytest.raises(NotFound) as unknown:
        zones.designate(OFFICER, ZoneInput("无", ZoneKind.SEALED, [Area("140105001009")]))
    assert unknown.value.code == "unknown_region"
    with pytest.raises(InvalidInput) as name:
        zones.designate(OFFICER, ZoneInput(" ", ZoneKind.SEALED, [Area(GRIDS[0])]))
    assert name.value.code == "bad_name"
    with pytest.raises(InvalidInput) as colour:
        zones.designate(OFFICER, ZoneInput("防范", ZoneKind.PRECAUTION, [Area(GRIDS[0])],
                                           rules=ZoneRules(None, default_rules(
                                               ZoneKind.PRECAUTION).sampling_mode,
                                               default_rules(ZoneKind.PRECAUTION).movement,
                                               "red")))
    assert colour.value.code == "bad_colour"
    assert not w.t.zones and colours(w, people[GRIDS[0]]) == {("green", "not_yet_tested")}
    z = zones.designate(OFFICER, ZoneInput("跨区", ZoneKind.CONTROLLED,
                                           [Area(GRIDS[0]), Area(GRIDS[2])]))
    with pytest.raises(PermissionDenied):  # every part of the zone must be theirs
        zones.lift(XIAODIAN, z.id, "mine")
    yingze = Principal("u-o4", "yingze", Role.HEALTH_OFFICER, "140106")
    assert [x.id for x in zones.list_zones(yingze)] == [z.id]
    only_xiaodian = zones.designate(XIAODIAN, ZoneInput("小店", ZoneKind.SEALED,
                                                        [Area(GRIDS[1])]))
    assert [x.id for x in zones.list_zones(yingze)] == [z.id]
    with pytest.raises(PermissionDenied):
        zones.get(yingze, only_xiaodian.id)


def test_passes_made_untrue_are_revoked(w: World, zones: ZoneService,
                                        people: dict[str, list[str]]) -> None:
    member, other = people[GRIDS[0]][0], people[GRIDS[2]][0]
    now = w.clock.now()

    def issue(key: str, pid: str, colour: str) -> None:
        w.t.passes[key] = PassRecord(IssuedPass(key, pid, "k1", colour, w.clock.now(),
                                                w.clock.now() + timedelta(hours=24)))

    issue("member-green", member, "green")
    issue("other-green", other, "green")
    z = zones.designate(OFFICER, ZoneInput("封控", ZoneKind.SEALED, [Area(GRIDS[0])]))
    assert w.t.passes["member-green"].revoke_reason == "zone"
    assert w.t.passes["other-green"].revoked_at is None
    w.clock.advance(timedelta(minutes=10))
    issue("member-red", member, "red")
    zones.lift(OFFICER, z.id, "解封")
    assert w.t.passes["member-red"].revoke_reason == "zone_lifted"
    assert w.t.passes["member-green"].revoked_at == now


def test_a_member_with_other_facts_is_decided_by_the_engine(
        w: World, zones: ZoneService, people: dict[str, list[str]]) -> None:
    status = StatusService(w.deps)
    exempt, overridden, plain = people[GRIDS[0]]
    status.exempt(OFFICER, exempt, "infant", w.clock.now() + timedelta(days=30))
    oid = status.request_override(OFFICER, overridden, Colour.GREEN, "essential worker",
                                  "法", w.clock.now() + timedelta(days=3))
    status.decide_override(OFFICER2, oid, approve=True)
    zones.designate(OFFICER, ZoneInput("封控", ZoneKind.CONTROLLED, [Area(GRIDS[0])],
                                       rules=ZoneRules(24, default_rules(
                                           ZoneKind.CONTROLLED).sampling_mode, default_rules(
                                           ZoneKind.CONTROLLED).movement, "popup")))
    assert colours(w, [plain]) == {("popup", "in_zone")}
    assert colours(w, [exempt]) == {("popup", "in_zone")}  # an exemption holds off no zone
    assert colours(w, [overridden]) == {("green", "manual_override,in_zone")}


def test_extending_a_zone_moves_its_planned_end(w: World, zones: ZoneService,
                                                people: dict[str, list[str]]) -> None:
    now = w.clock.now()
    z = zones.designate(OFFICER, ZoneInput("封控", ZoneKind.SEALED, [Area(GRIDS[0])],
                                           planned_end=now + timedelta(days=2)))
    later = zones.extend(OFFICER, z.id, now + timedelta(days=7))
    assert later.planned_end == now + timedelta(days=7)
    with pytest.raises(InvalidInput) as past:
        zones.extend(OFFICER, z.id, now - timedelta(hours=1))
    assert past.value.code == "bad_planned_end"
    w.clock.advance(timedelta(days=3))
    assert zones.tick(ADMIN) == ZoneChanges(0, 0)
    history = zones.get(OFFICER, z.id)[1]
    assert [h.action for h in history] == ["designate", "extend"]
    assert history[1].detail["was"] == (now + timedelta(days=2)).isoformat()


def test_a_polygon_is_resolved_to_the_grids_whose_centre_lies_inside(
        w: World, zones: ZoneService, people: dict[str, list[str]]) -> None:
    centres = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": g},
         "geometry": {"type": "Point", "coordinates": [112.50 + i * 0.01, 37.80]}}
        for i, g in enumerate(GRIDS)]}
    assert zones.import_boundaries(ADMIN, centres) == 3
    square: JsonObject = {"type": "Polygon", "coordinates": [[
        [112.495, 37.79], [112.515, 37.79], [112.515, 37.81], [112.495, 37.81], [112.495, 37.79]]]}
    z = zones.designate(OFFICER, ZoneInput("画圈", ZoneKind.CONTROLLED, polygon=square))
    assert [a.region_code for a in z.areas] == list(GRIDS[:2])
    assert z.people == 5 and z.geometry is not None
    far: JsonObject = {"type": "Polygon",
                       "coordinates": [[[100, 30], [100.1, 30], [100.1, 30.1], [100, 30]]]}
    with pytest.raises(RuleViolation) as empty:
        zones.designate(OFFICER, ZoneInput("远", ZoneKind.CONTROLLED, polygon=far))
    assert empty.value.code == "polygon_empty"
