"""The synthetic city's plan: deterministic, inside the real districts, valid and unique IDs,
sites within a short walk."""

from __future__ import annotations

from collections import Counter

import pytest
import shapely
from stdnum.cn import ric

from hesuan.adapters.crypto import KeyRing
from hesuan.domain.people import Group
from hesuan.domain.regions import URBAN_DISTRICTS, Level
from hesuan.sim.city_plan import CATCHMENT_KINDS, plan_city, site_catchments
from hesuan.sim.geography import distance_m, load_districts
from hesuan.sim.population import RowJob, person_rows, plan_population

PEOPLE = 20_000


@pytest.fixture(scope="module")
def plan():  # type: ignore[no-untyped-def]
    return plan_city(PEOPLE, seed=11)


def test_the_plan_is_deterministic(plan) -> None:  # type: ignore[no-untyped-def]
    again = plan_city(PEOPLE, seed=11)
    assert again.regions == plan.regions
    assert again.grids == plan.grids
    assert again.sites == plan.sites
    assert again.labs == plan.labs
    other = plan_city(PEOPLE, seed=12)
    assert other.grids != plan.grids


def test_hierarchy_and_real_districts(plan) -> None:  # type: ignore[no-untyped-def]
    levels = Counter(r.level for r in plan.regions)
    assert levels[Level.DISTRICT] == 6
    districts = {r.code: r.name for r in plan.regions if r.level is Level.DISTRICT}
    assert districts == URBAN_DISTRICTS
    assert levels[Level.GRID] == len(plan.grids)
    codes = {r.code for r in plan.regions}
    for r in plan.regions:
        assert r.parent_code is None or r.parent_code in codes
        assert r.parent_code is None or r.code.startswith(r.parent_code)
    assert sum(g.people for g in plan.grids) == PEOPLE
    # shares follow the districts' populations: 小店区 is the largest, 晋源区 the smallest
    by_district: Counter[str] = Counter()
    for g in plan.grids:
        by_district[g.code[:6]] += g.people
    assert max(by_district, key=by_district.__getitem__) == "140105"
    assert min(by_district, key=by_district.__getitem__) == "140110"


def test_coordinates_lie_inside_their_real_district(plan) -> None:  # type: ignore[no-untyped-def]
    districts = load_districts()
    for g in plan.grids:
        assert shapely.contains_xy(districts[g.code[:6]].geometry, g.lng, g.lat), g
    for s in plan.sites:
        assert shapely.contains_xy(districts[s.region_code[:6]].geometry, s.lng, s.lat), s


def test_about_one_site_per_2500_people_within_a_short_walk(plan) -> None:  # type: ignore[no-untyped-def]
    routine = [s for s in plan.sites if s.kind in CATCHMENT_KINDS]
    assert 0.7 * PEOPLE / 2500 <= len(routine) <= 1.5 * PEOPLE / 2500
    catch = site_catchments([g.code for g in plan.grids],
                            [(s.id, s.kind, s.region_code) for s in plan.sites])
    site_at = {s.id: (s.lng, s.lat) for s in plan.sites}
    assert set(catch) == {g.code for g in plan.grids}
    for g in plan.grids:
        # 15 minutes' walk at ~80 m a minute
        assert distance_m((g.lng, g.lat), site_at[catch[g.code]]) <= 1200, g
    for s in routine:
        assert 2 <= s.windows <= 6
        assert s.opening_hours in ("07:00-21:00", "06:30-22:00", "08:00-20:00")
    assert {s.kind for s in plan.sites} >= {"fixed", "first_landing", "hospital", "door_to_door"}
    assert all(lab.daily_capacity > 0 for lab in plan.labs)


def test_people_have_valid_unique_ids_and_realistic_groups(plan) -> None:  # type: ignore[no-untyped-def]
    pop = plan_population(plan)
    assert pop.size == PEOPLE
    vault = KeyRing(b"k" * 32)
    rows = person_rows(RowJob(pop, vault, 0, None), 0, pop.size)
    ids = [vault.decrypt(r[3]) for r in rows]
    assert len(set(ids)) == len(ids)
    assert len({r[2] for r in rows}) == len(rows)  # id_hash unique
    residents = [(i, r) for i, r in zip(ids, rows, strict=True) if r[1] == "resident"]
    assert len(residents) > 0.99 * len(rows)
    for number, r in residents[::4]:
        assert ric.validate(number) == number
        assert r[13] == int(number[6:10])  # birth year
        assert r[9].startswith(number[:4]) or number[:4] == "1401"
    groups = Counter(g for r in rows for g in r[12].split(",") if g)
    n = len(rows)
    assert 0.01 < groups[Group.MEDICAL.value] / n < 0.03
    assert 0.08 < groups[Group.TEACHER_STUDENT.value] / n < 0.25
    assert 0.005 < groups[Group.ELDERLY_HOME.value] / n < 0.05
    # households of 1-5 people in one grid each
    sizes = Counter(r[10] for r in rows)
    assert max(sizes.values()) <= 5
    assert 2.0 < n / len(sizes) < 3.2
    # phones: 11 digits, most adults have one
    phones = [vault.decrypt(r[7]) for r in rows[:2000] if r[7]]
    assert all(len(p) == 11 and p[0] == "1" for p in phones)


def test_people_rows_are_deterministic(plan) -> None:  # type: ignore[no-untyped-def]
    vault = KeyRing(b"k" * 32)
    a = person_rows(RowJob(plan_population(plan), vault, 0, None), 100, 400)
    b = person_rows(RowJob(plan_population(plan_city(PEOPLE, seed=11)), vault, 0, None), 100, 400)
    plain = [(r[0], r[1], r[2], r[4], r[6], r[8], r[9], r[10], r[11], r[12], r[13]) for r in a]
    assert plain == [(r[0], r[1], r[2], r[4], r[6], r[8], r[9], r[10], r[11], r[12], r[13])
                     for r in b]
