"""The access holes the review of the running server found, one regression test each, on
SQLite and PostgreSQL: each object belongs to one district (or site, or lab) and is acted on
by someone whose scope is another."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from hesuan.domain.sampling import SiteKind, make_tube_barcode
from hesuan.domain.shifts import StaffRole, TeamKind
from hesuan.domain.zones import Area, ZoneKind
from hesuan.services.people import PersonInput
from hesuan.services.places import SiteInput
from hesuan.services.zones import ZoneInput
from hesuan.sim.example import OPERATOR, ExampleCity, make_resident_id, seed_example_city

XIAODIAN, YINGZE = "140105", "140106"
OFFICER_A = Principal("u-oa", "officer-a", Role.HEALTH_OFFICER, XIAODIAN)
OFFICER_B = Principal("u-ob", "officer-b", Role.HEALTH_OFFICER, YINGZE)


@pytest.fixture
def city(platform: Platform) -> ExampleCity:
    return seed_example_city(platform, people=120)


def _person_in(platform: Platform, district: str) -> str:
    with platform.deps.uow(readonly=True) as uow:
        row = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE grid_code LIKE :d ORDER BY id LIMIT 1"),
            {"d": district + "%"}).first()
    assert row is not None
    return str(row[0])


def _audited(platform: Platform, action: str, actor: str) -> int:
    with platform.deps.uow(readonly=True) as uow:
        return int(uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT count(*) FROM audit_log WHERE action = :a AND actor = :u"),
            {"a": action, "u": actor}).scalar_one())


def test_arrivals_only_at_an_arrival_checkpoint_by_its_staff(platform: Platform,
                                                              city: ExampleCity) -> None:
    now = platform.deps.clock.now()
    person = _person_in(platform, YINGZE)
    ordinary = city.sites[XIAODIAN]
    sampler = Principal("u-s", "s", Role.SAMPLER, ordinary)
    with pytest.raises(RuleViolation) as e:  # an ordinary site is no checkpoint
        platform.status.register_arrival(sampler, person, ordinary, "4403", "high", now)
    assert e.value.code == "not_a_checkpoint"
    landing = city.sites["first_landing"]
    with pytest.raises(PermissionDenied):  # not their checkpoint
        platform.status.register_arrival(sampler, person, landing, "4403", "high", now)
    with pytest.raises(PermissionDenied):  # an officer of another district
        platform.status.register_arrival(OFFICER_A, person, landing, "4403", "high", now)
    checkpoint_staff = Principal("u-l", "l", Role.SAMPLER, landing)
    platform.status.register_arrival(checkpoint_staff, person, landing, "4403", "high", now)
    platform.status.register_arrival(OFFICER_B, person, landing, "4403", "low", now)


def test_an_officer_revokes_only_their_own_districts_exemptions(platform: Platform,
                                                                 city: ExampleCity) -> None:
    now = platform.deps.clock.now()
    person = _person_in(platform, YINGZE)
    eid = platform.status.exempt(OFFICER_B, person, "in_hospital", now + timedelta(days=3))
    with pytest.raises(PermissionDenied):
        platform.status.revoke_exemption(OFFICER_A, eid)
    read = platform.status.status_of(OFFICER_B, person)
    assert [x.revoked_at for x in read.exemptions] == [None]
    platform.status.revoke_exemption(OFFICER_B, eid)


def test_override_requests_are_listed_within_the_region_and_audited(
        platform: Platform, city: ExampleCity) -> None:
    now = platform.deps.clock.now()
    from hesuan.domain.status import Colour
    platform.status.request_override(OFFICER_B, _person_in(platform, YINGZE), Colour.GREEN,
                                     "复核", "《传染病防治法》", now + timedelta(days=1))
    assert platform.status.pending_overrides(OFFICER_A) == []
    assert len(platform.status.pending_overrides(OFFICER_B)) == 1
    assert _audited(platform, "override.list", OFFICER_A.username) == 1


def _door_team(platform: Platform, city: ExampleCity, district: str) -> tuple[str, str]:
    """A door-to-door team of ``district`` with a sealed zone of its first grid assigned;
    returns (team site id, the zone's grid)."""
    grid = next(g for g in city.grids if g.startswith(district))
    team = platform.places.add_site(OPERATOR, SiteInput(
        f"上门采样队{district}", SiteKind.DOOR_TO_DOOR, district, windows=1))
    zone = platform.zones.designate(OPERATOR, ZoneInput(f"封控{district}", ZoneKind.SEALED,
                                                        [Area(grid)]))
    platform.door_teams.assign(OPERATOR, team, zone_id=zone.id)
    return team, grid


def test_door_to_door_routes_are_read_in_scope_and_audited(platform: Platform,
                                                           city: ExampleCity) -> None:
    team_b, _ = _door_team(platform, city, YINGZE)
    with pytest.raises(PermissionDenied):
        platform.door_teams.route(OFFICER_A, team_b)
    route = platform.door_teams.route(OFFICER_B, team_b)
    assert route.households > 0
    assert _audited(platform, "team.route", OFFICER_B.username) == 1


def test_a_door_visit_scans_everyone_and_keeps_to_the_route(platform: Platform,
                                                            city: ExampleCity) -> None:
    team_a, _ = _door_team(platform, city, XIAODIAN)
    grid_b = next(g for g in city.grids if g.startswith(YINGZE))
    for i in range(5):  # an unassigned household of five in another district
        platform.people.register(OPERATOR, PersonInput(
            make_resident_id(YINGZE, date(1980 + i, 3, 1), 700 + i), f"李{i}", grid_b,
            household_id="HH-OTHER-0001", address="9号楼"))
    sampler = Principal("u-d", "d", Role.SAMPLER, team_a)
    now = platform.deps.clock.now()
    barcode = make_tube_barcode(770001)
    with pytest.raises(TypeError):  # no one scanned: the old call shape is gone
        platform.door_teams.visit_household(sampler, team_a, str(uuid.uuid4()),  # type: ignore[call-arg]
                                       "HH-OTHER-0001", barcode, now)
    with pytest.raises(InvalidInput):
        platform.door_teams.visit_household(sampler, team_a, str(uuid.uuid4()), "HH-OTHER-0001",
                                       barcode, now, scanned=["HS1:NOT-A-CODE"])
    with platform.deps.uow(readonly=True) as uow:
        members = uow.teams.household_members("HH-OTHER-0001")
    codes = [platform.deps.codes.sign(m.person_id) for m in members]
    with pytest.raises(RuleViolation) as e:  # scanned, but not on this team's route
        platform.door_teams.visit_household(sampler, team_a, str(uuid.uuid4()), "HH-OTHER-0001",
                                       barcode, now, scanned=codes)
    assert e.value.code == "not_on_route"
    other_site = Principal("u-x", "x", Role.SAMPLER, city.sites[XIAODIAN])
    with pytest.raises(PermissionDenied):  # a sampler of another site
        platform.door_teams.visit_household(other_site, team_a, str(uuid.uuid4()),
                                       "HH-OTHER-0001", barcode, now, scanned=codes)
    with platform.deps.uow(readonly=True) as uow:
        sampled = uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT count(*) FROM samples s JOIN people p ON p.id = s.person_id "
            "WHERE p.household_id = 'HH-OTHER-0001'")).scalar_one()
    assert sampled == 0


def test_shifts_staff_and_teams_keep_to_the_site_and_district(platform: Platform,
                                                              city: ExampleCity) -> None:
    site_b = city.sites[YINGZE]
    team_b = platform.teams.add_team(OFFICER_B, "迎泽一队", TeamKind.SAMPLING, "site", site_b)
    lead_a = Principal("u-la", "lead-a", Role.SITE_LEAD, city.sites[XIAODIAN])
    with pytest.raises(PermissionDenied):  # a lead adds staff to another site's team
        platform.teams.add_staff(lead_a, "采样员", StaffRole.SWABBER, team_b)
    staff = platform.teams.add_staff(OFFICER_B, "采样员", StaffRole.SWABBER, team_b)
    platform.teams.start_shift(OFFICER_B, staff, "site", site_b, window=1)
    with pytest.raises(PermissionDenied):  # an officer ends a shift in another district
        platform.teams.end_shift(OFFICER_A, staff)
    with pytest.raises(PermissionDenied):
        platform.teams.end_shift(lead_a, staff)
    assert [t.id for t in platform.teams.teams(OFFICER_A)] == []
    assert team_b in [t.id for t in platform.teams.teams(OFFICER_B)]
    platform.teams.end_shift(OFFICER_B, staff)


def test_the_hidden_answer_is_the_same_as_for_no_one(platform: Platform,
                                                     city: ExampleCity) -> None:
    resident = Principal("u-r", "r", Role.RESIDENT, _person_in(platform, XIAODIAN))
    other = _person_in(platform, YINGZE)
    with pytest.raises(NotFound) as seen:
        platform.people.get(resident, other)
    with pytest.raises(NotFound) as unseen:
        platform.people.get(resident, "0" * 32)
    assert seen.value.as_dict() == unseen.value.as_dict()
