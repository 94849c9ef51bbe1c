"""Zones on SQLite and PostgreSQL: designate, statuses change in bulk, split, shrink, lift,
expiry, polygons resolved against grid centres, GeoJSON round trips, cadence."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.cadence import ScopeKind
from hesuan.domain.errors import PermissionDenied, RuleViolation
from hesuan.domain.json import JsonObject
from hesuan.domain.status import decide
from hesuan.domain.zones import Area, ZoneKind, ZoneRules, default_rules
from hesuan.services.status import PolicyInput
from hesuan.services.zones import ZoneChanges, ZoneInput, ZonePart
from hesuan.sim.example import OPERATOR, ExampleCity, seed_example_city

OFFICER = Principal("u-officer", "officer", Role.HEALTH_OFFICER, "1401")
ADMIN = Principal("u-admin", "admin", Role.ADMIN)


@pytest.fixture
def city(platform: Platform) -> ExampleCity:
    return seed_example_city(platform, people=240)


def colours(platform: Platform, where: str = "1 = 1") -> dict[str, int]:
    with platform.deps.uow(readonly=True) as uow:
        rows = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT ps.colour, count(*) FROM person_status ps JOIN people p ON p.id = "
            f"ps.person_id WHERE {where} GROUP BY ps.colour")).all()
    return {r[0]: int(r[1]) for r in rows}


def rows(platform: Platform, sql: str) -> list[Any]:
    with platform.deps.uow(readonly=True) as uow:
        return list(uow.conn.execute(text(sql)).all())  # type: ignore[attr-defined]


def engine_agrees(platform: Platform) -> None:
    """Every materialised status is what the pure engine decides from the facts now."""
    now = platform.deps.clock.now()
    with platform.deps.uow(readonly=True) as uow:
        ids = [r[0] for r in uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT person_id FROM person_status").all()]
        rules = platform.status.rules(uow)
        for pid in ids:
            facts = uow.statuses.facts_of(pid)
            row = uow.statuses.status_row(pid)
            assert facts is not None and row is not None
            want = decide(facts, now, rules)
            assert (row.colour, row.reasons) == (want.colour.value, ",".join(want.reasons)), pid
            if want.rule_id == "R-ZONE":
                assert row.evidence == want.evidence


def test_designate_sealed_then_lift(platform: Platform, city: ExampleCity) -> None:
    community = city.grids[0][:12]
    before = colours(platform)
    z = platform.zones.designate(OFFICER, ZoneInput("封控区一", ZoneKind.SEALED,
                                                    [Area(community)]))
    inside = rows(platform, f"SELECT count(*) FROM people WHERE grid_code LIKE '{community}%'")
    assert z.people == inside[0][0] > 0
    assert colours(platform, f"p.grid_code LIKE '{community}%'") == {"red": z.people}
    engine_agrees(platform)
    ev = rows(platform, f"SELECT evidence, reasons, rule_id FROM person_status WHERE zone_id = "
                        f"'{z.id}' LIMIT 1")[0]
    assert "in_zone" in ev[1]
    assert ev[2] == "R-ZONE"
    inside = rows(platform, f"SELECT person_id FROM person_status WHERE zone_id = '{z.id}' "
                            "LIMIT 1")[0][0]
    status = platform.status.status_of(OFFICER, inside).status
    assert status.evidence["zone"] == {"kind": "sealed", "id": z.id}
    # outside the zone nothing changed
    assert colours(platform, f"p.grid_code NOT LIKE '{community}%'").get("red") is None
    lifted = platform.zones.lift(OFFICER, z.id, "all negative for 14 days")
    assert lifted.status == "lifted"
    assert colours(platform) == before
    assert rows(platform, "SELECT count(*) FROM person_status WHERE zone_id IS NOT NULL")[0][0] == 0
    engine_agrees(platform)
    _, history = platform.zones.get(OFFICER, z.id)
    assert [h.action for h in history] == ["designate", "lifted"]


def test_controlled_yellow_precaution_unchanged_and_strictest_wins(
        platform: Platform, city: ExampleCity) -> None:
    street = city.grids[0][:9]
    grid = city.grids[0]
    pre = platform.zones.designate(OFFICER, ZoneInput("防范区", ZoneKind.PRECAUTION,
                                                      [Area(street)]))
    assert colours(platform, f"p.grid_code LIKE '{street}%'").get("green") == pre.people
    ctl = platform.zones.designate(OFFICER, ZoneInput("管控区", ZoneKind.CONTROLLED,
                                                      [Area(grid)]))
    assert colours(platform, f"p.grid_code = '{grid}'") == {"yellow": ctl.people}
    # the precaution zone keeps the people of the street outside the grid
    n = rows(platform, f"SELECT count(*) FROM person_status WHERE zone_id = '{pre.id}'")[0][0]
    assert pre.people is not None and ctl.people is not None
    assert n == pre.people - ctl.people
    engine_agrees(platform)
    # lifting the controlled zone hands its people back to the precaution zone
    platform.zones.lift(OFFICER, ctl.id, "done")
    n = rows(platform, f"SELECT count(*) FROM person_status WHERE zone_id = '{pre.id}'")[0][0]
    assert n == pre.people
    assert colours(platform, f"p.grid_code LIKE '{street}%'") == {"green": pre.people}


def test_split_and_shrink_keep_history(platform: Platform, city: ExampleCity) -> None:
    community = city.grids[0][:12]
    g1, g2 = [g for g in city.grids if g.startswith(community)][:2]
    z = platform.zones.designate(OFFICER, ZoneInput("小区", ZoneKind.SEALED, [Area(community)]))
    parts = platform.zones.split(OFFICER, z.id, [
        ZonePart("核心区", ZoneKind.SEALED, [Area(g1)]),
        ZonePart("外围", ZoneKind.CONTROLLED, [Area(g2)])])
    assert [p.parent_id for p in parts] == [z.id, z.id]
    assert colours(platform, f"p.grid_code = '{g1}'") == {"red": parts[0].people}
    assert colours(platform, f"p.grid_code = '{g2}'") == {"yellow": parts[1].people}
    old, history = platform.zones.get(OFFICER, z.id)
    assert old.status == "split"
    assert history[-1].detail["into"] == [p.id for p in parts]
    with pytest.raises(RuleViolation):  # a part must lie inside its parent
        platform.zones.shrink(OFFICER, parts[0].id, ZonePart(areas=[Area(g2)]))
    # shrink the core to one building of its grid
    building = rows(platform, f"SELECT address FROM people WHERE grid_code = '{g1}' "
                              "ORDER BY address LIMIT 1")[0][0].split("单元")[0][:4]
    small = platform.zones.shrink(OFFICER, parts[0].id, ZonePart(areas=[Area(g1, building)]))
    assert small.kind == "sealed" and small.parent_id == parts[0].id
    in_building = rows(platform, f"SELECT count(*) FROM people WHERE grid_code = '{g1}' AND "
                                 f"address LIKE '{building}%'")[0][0]
    assert small.people == in_building
    assert colours(platform, f"p.grid_code = '{g1}'").get("red") == in_building
    engine_agrees(platform)


def test_polygon_zone_resolves_grid_centres(platform: Platform, city: ExampleCity) -> None:
    grids = city.grids[:3]
    points = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": g},
         "geometry": {"type": "Point", "coordinates": [112.50 + i * 0.01, 37.80]}}
        for i, g in enumerate(grids)]}
    assert platform.zones.import_boundaries(OPERATOR, points) == 3
    square: JsonObject = {"type": "Polygon", "coordinates": [[
        [112.495, 37.79], [112.515, 37.79], [112.515, 37.81], [112.495, 37.81],
        [112.495, 37.79]]]}
    z = platform.zones.designate(OFFICER, ZoneInput("画圈", ZoneKind.CONTROLLED, polygon=square))
    assert sorted(a.region_code for a in z.areas) == sorted(grids[:2])
    exported = platform.zones.export_geojson(OFFICER)
    feat = next(f for f in exported["features"] if f["id"] == z.id)
    assert feat["geometry"]["type"] == "Polygon"
    assert feat["properties"]["kind"] == "controlled"
    # its times as every report writes one: ISO 8601 UTC with Z
    assert feat["properties"]["starts_at"].endswith("Z"), feat["properties"]
    assert feat["properties"]["created_at"].endswith("Z"), feat["properties"]
    # import the same FeatureCollection back: a second zone with the same areas
    again = platform.zones.import_geojson(OFFICER, {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None,
         "properties": {"name": "从文件", "kind": "sealed", "areas": grids[2:3]}}]})
    assert again[0].status == "created"
    assert again[0].people == rows(
        platform, f"SELECT count(*) FROM people WHERE grid_code = '{grids[2]}'")[0][0]
    # the answer the API and `hesuan zones import` give: the keys of its outcome only
    assert set(again[0].answer()) == {"feature", "status", "id", "people"}
    refused = platform.zones.import_geojson(OFFICER, {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None, "properties": {"name": "x", "kind": "none"}}]})
    assert refused[0].answer() == {"feature": 0, "status": "rejected", "reason": "bad_kind",
                                   "message": refused[0].message, "field": "kind"}


def test_boundaries_round_trip(platform: Platform, city: ExampleCity) -> None:
    import json
    from importlib import resources

    text = resources.files("hesuan").joinpath("data/taiyuan-districts.geojson").read_text()
    fc = json.loads(text)
    n = platform.zones.import_boundaries(OPERATOR, fc, source="taiyuan-districts.geojson")
    assert n == len(fc["features"])
    out = platform.zones.export_boundaries(OFFICER, level=6)
    codes = {f["properties"]["code"] for f in out["features"]}
    assert {"140105", "140106"} <= codes
    # a zone over a whole district exports with the district's boundary
    z = platform.zones.designate(OFFICER, ZoneInput("小店区防范", ZoneKind.PRECAUTION,
                                                    [Area("140105")]))
    feat = next(f for f in platform.zones.export_geojson(OFFICER)["features"]
                if f["id"] == z.id)
    assert feat["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_scheduled_start_and_planned_end(platform: Platform, city: ExampleCity,
                                         clock: FixedClock) -> None:
    grid = city.grids[1]
    now = clock.now()
    z = platform.zones.designate(OFFICER, ZoneInput(
        "明日封控", ZoneKind.SEALED, [Area(grid)], starts_at=now + timedelta(hours=2),
        planned_end=now + timedelta(days=3)))
    assert z.status == "scheduled" and colours(platform, f"p.grid_code = '{grid}'").get(
        "red") is None
    clock.advance(timedelta(hours=2))
    assert platform.zones.tick(OPERATOR) == ZoneChanges(1, 0)
    assert set(colours(platform, f"p.grid_code = '{grid}'")) == {"red"}
    clock.advance(timedelta(days=3))
    assert platform.zones.tick(OPERATOR) == ZoneChanges(0, 1)
    assert "red" not in colours(platform, f"p.grid_code = '{grid}'")
    assert platform.zones.get(OFFICER, z.id)[0].status == "expired"


def test_zone_cadence_and_restore(platform: Platform, city: ExampleCity) -> None:
    grid = city.grids[2]
    before = dict(rows(platform, "SELECT ps.person_id, ps.interval_ms FROM person_status ps "
                                 f"JOIN people p ON p.id = ps.person_id WHERE p.grid_code = "
                                 f"'{grid}'"))
    z = platform.zones.designate(OFFICER, ZoneInput(
        "管控日检", ZoneKind.CONTROLLED, [Area(grid)],
        rules=ZoneRules(24, default_rules(ZoneKind.CONTROLLED).sampling_mode,
                        default_rules(ZoneKind.CONTROLLED).movement)))
    during = dict(rows(platform, f"SELECT person_id, interval_ms FROM person_status WHERE "
                                 f"zone_id = '{z.id}'"))
    assert set(during.values()) <= {24 * 3_600_000} and during
    platform.zones.lift(OFFICER, z.id, "done")
    after = dict(rows(platform, "SELECT ps.person_id, ps.interval_ms FROM person_status ps "
                                f"JOIN people p ON p.id = ps.person_id WHERE p.grid_code = "
                                f"'{grid}'"))
    assert after == before



def test_a_policy_edited_while_a_zone_stands_keeps_the_zones_cadence(
        platform: Platform, clock: FixedClock, city: ExampleCity) -> None:
    """An edit of the district's policy (its reminder lead) while a daily-testing zone stood
    gave the zone's people their policy's 72 h back: the zone's cadence came back only at their
    next zone change."""
    grid = city.grids[2]
    z = platform.zones.designate(OFFICER, ZoneInput(
        "管控日检", ZoneKind.CONTROLLED, [Area(grid)],
        rules=ZoneRules(24, default_rules(ZoneKind.CONTROLLED).sampling_mode,
                        default_rules(ZoneKind.CONTROLLED).movement)))
    sql = ("SELECT person_id, interval_ms, next_due_at FROM person_status "
           f"WHERE zone_id = '{z.id}' ORDER BY person_id")
    during = rows(platform, sql)
    assert during and {r[1] for r in during} == {24 * 3_600_000}
    clock.advance(timedelta(hours=1))
    (policy,) = [x for x in platform.status.policies(ADMIN) if grid.startswith(x.scope)
                 and x.scope_kind is ScopeKind.REGION]
    platform.status.set_policy(ADMIN, PolicyInput(
        ScopeKind.REGION, policy.scope, policy.interval, id=policy.id,
        reminder_lead=policy.reminder_lead + timedelta(hours=1)))
    assert rows(platform, sql) == during

def test_scope_and_pass_revocation(platform: Platform, city: ExampleCity) -> None:
    xiaodian = Principal("u2", "xd", Role.HEALTH_OFFICER, "140105")
    with pytest.raises(PermissionDenied):
        platform.zones.designate(xiaodian, ZoneInput("越界", ZoneKind.SEALED,
                                                     [Area("140106")]))
    grid = city.grids[0]
    pid = rows(platform, f"SELECT id FROM people WHERE grid_code = '{grid}' AND groups = '' "
                         "ORDER BY id LIMIT 1")[0][0]
    text = platform.passes.issue(OFFICER, pid)
    assert platform.passes.verify(OFFICER, text).valid
    z = platform.zones.designate(xiaodian, ZoneInput("封控", ZoneKind.SEALED, [Area(grid)]))
    platform.passes._invalidate()
    v = platform.passes.verify(OFFICER, text)
    assert not v.valid and v.failure is not None and v.failure.value == "revoked"
    red = platform.passes.issue(OFFICER, pid)
    assert platform.passes.verify(OFFICER, red).colour.value == "red"  # type: ignore[union-attr]
    platform.zones.lift(xiaodian, z.id, "解封")
    platform.passes._invalidate()
    v = platform.passes.verify(OFFICER, red)
    assert not v.valid and v.failure is not None and v.failure.value == "revoked"


def test_a_zone_lifted_and_split_at_once_ends_once(platform: Platform,
                                                   city: ExampleCity) -> None:
    """On PostgreSQL two officers lifting and splitting a zone at once both succeeded: the zone
    read 'lifted' while its parts stayed active, its people red. The zone's row is read for
    update: the second finds it ended."""
    from hesuan.adapters.db.zones_store import SqlZones
    from tests.helpers import at_once, slowed

    community = city.grids[0][:12]
    g1, g2 = [g for g in city.grids if g.startswith(community)][:2]
    z = platform.zones.designate(OFFICER, ZoneInput("小区", ZoneKind.SEALED, [Area(community)]))
    other = Principal("u-officer2", "officer2", Role.HEALTH_OFFICER, "1401")
    answers: dict[str, object] = {}

    def run(name: str, call: Any) -> None:
        try:
            answers[name] = call()
        except RuleViolation as exc:
            answers[name] = exc.code

    with slowed(SqlZones, "zone"):
        at_once(lambda: run("lift", lambda: platform.zones.lift(OFFICER, z.id, "解封")),
                lambda: run("split", lambda: platform.zones.split(
                    other, z.id, [ZonePart("核心区", ZoneKind.SEALED, [Area(g1)]),
                                  ZonePart("外围", ZoneKind.CONTROLLED, [Area(g2)])])))
    assert sorted(str(a) for a in answers.values() if isinstance(a, str)) \
        == ["zone_not_active"], answers
    ended, history = platform.zones.get(OFFICER, z.id)
    assert [e.action for e in history].count("lifted") + [
        e.action for e in history].count("split") == 1, history
    live = rows(platform, f"SELECT count(*) FROM zones WHERE parent_id = '{z.id}' "
                          "AND status = 'active'")[0][0]
    assert live == (2 if ended.status == "split" else 0), (ended.status, live)


def test_a_zones_people_count_its_members_whatever_was_drawn_after(
        platform: Platform, city: ExampleCity) -> None:
    """A sealed grid drawn inside a controlled community left the community counting the
    grid's people too (the zones summed to more people than live there), and residents
    registered into a sealed zone were never counted."""
    community = city.grids[0][:12]
    grid = next(g for g in city.grids if g.startswith(community))
    ctl = platform.zones.designate(OFFICER, ZoneInput("管控区", ZoneKind.CONTROLLED,
                                                      [Area(community)]))
    sealed = platform.zones.designate(OFFICER, ZoneInput("封控区", ZoneKind.SEALED,
                                                         [Area(grid)]))

    def members(zone_id: str) -> int:
        return int(rows(platform, "SELECT count(*) FROM person_status WHERE zone_id = "
                                  f"'{zone_id}'")[0][0])

    for z in (ctl, sealed):
        assert platform.zones.get(OFFICER, z.id)[0].people == members(z.id), z.name
    from datetime import date

    from hesuan.services.people import PersonInput
    from hesuan.sim.example import make_resident_id

    for i in range(3):
        platform.people.register(OPERATOR, PersonInput(
            make_resident_id(grid[:6], date(1990, 1, 1 + i), 700 + i), f"新{i}", grid))
    assert platform.zones.get(OFFICER, sealed.id)[0].people == members(sealed.id)
