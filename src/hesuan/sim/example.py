"""A small example city: the real six urban districts, a few streets, communities and grids
under each, sites, labs, a few hundred people, and one demo account for every role.

Used by the demo until the full city generator runs, and by the tests as their fixture city.

Imports: standard library, ``hesuan.bootstrap``, ``hesuan.services``,
``hesuan.domain``.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.regions import URBAN_DISTRICTS, Level
from hesuan.domain.sampling import SiteKind
from hesuan.services.places import LabInput, RegionInput, SiteInput

__all__ = ["DEMO_PASSWORD", "ExampleCity", "make_resident_id", "seed_example_city"]

DEMO_PASSWORD = "hesuan-demo-2022"
OPERATOR = Principal(user_id="seed", username="seed", role=Role.ADMIN)

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文斌宇浩然欣怡子轩梓涵一诺"


# The six districts date from 1997; before that the same land was these districts (1983-1996),
# and before 1983 the city code. A valid ID carries the code in force at the birth year.
_PREDECESSOR = {"140105": "140112", "140106": "140102", "140107": "140103",
                "140108": "140113", "140109": "140104", "140110": "140112"}


def make_resident_id(district: str, born: date, serial: int) -> str:
    """A synthetic but valid resident ID number: birth-place code in force at the birth year,
    birth date, sequence, GB 11643 check digit."""
    place = (district if born.year >= 1997 or district not in _PREDECESSOR
             else _PREDECESSOR[district] if born.year >= 1983 else "140100")
    head, s_place = _place_part(place)
    day, s_day = _day_part(born)
    seq, s_seq = _SERIALS[serial % 1000]
    return head + day + seq + _CHECK[(s_place + s_day + s_seq) % 11]


# GB 11643 check digit: weights 2^(17-i) mod 11 over the first 17 digits. The weighted sum is
# additive over the place, date and sequence parts, so each part's sum is computed once and
# cached (the city generator makes millions of ID numbers; this keeps one to about a
# microsecond). ``ric.calc_check_digit`` gives the same digit.
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK = "10X98765432"


def _part(digits: str, offset: int) -> tuple[str, int]:
    return digits, sum(int(c) * w for c, w in zip(digits, _WEIGHTS[offset:], strict=False))


_SERIALS = [_part(f"{n:03d}", 14) for n in range(1000)]


@functools.lru_cache(maxsize=4096)
def _place_part(place: str) -> tuple[str, int]:
    return _part(place, 0)


@functools.lru_cache(maxsize=65536)
def _day_part(born: date) -> tuple[str, int]:
    return _part(f"{born:%Y%m%d}", 6)


def make_name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


@dataclass
class ExampleCity:
    grids: list[str] = field(default_factory=list)
    sites: dict[str, str] = field(default_factory=dict)  # name -> id
    labs: dict[str, str] = field(default_factory=dict)
    people: int = 0
    users: dict[str, tuple[Role, str | None]] = field(default_factory=dict)


def seed_regions(platform: Platform, streets: int = 2, communities: int = 2,
                 grids: int = 2) -> list[str]:
    rows = [RegionInput("14", Level.PROVINCE, "山西省"),
            RegionInput("1401", Level.CITY, "太原市", "14")]
    grid_codes: list[str] = []
    for code, name in URBAN_DISTRICTS.items():
        rows.append(RegionInput(code, Level.DISTRICT, name, "1401"))
        for s in range(1, streets + 1):
            sc = f"{code}{s:03d}"
            rows.append(RegionInput(sc, Level.STREET, f"{name}第{s}街道", code))
            for c in range(1, communities + 1):
                cc = f"{sc}{c:03d}"
                rows.append(RegionInput(cc, Level.COMMUNITY, f"{name}{s}街道{c}社区", sc))
                for g in range(1, grids + 1):
                    gc = f"{cc}{g:03d}"
                    rows.append(RegionInput(gc, Level.GRID, f"{name}{s}-{c}社区第{g}网格", cc))
                    grid_codes.append(gc)
    platform.places.add_regions(OPERATOR, rows)
    return grid_codes


def seed_example_city(platform: Platform, people: int = 300, seed: int = 7) -> ExampleCity:
    rng = random.Random(seed)
    city = ExampleCity(grids=seed_regions(platform))
    for code, name in URBAN_DISTRICTS.items():
        sid = platform.places.add_site(OPERATOR, SiteInput(
            name=f"{name}体育馆采样点", kind=SiteKind.FIXED, region_code=f"{code}001",
            windows=4, lat=37.85, lng=112.55))
        city.sites[code] = sid
    city.sites["first_landing"] = platform.places.add_site(OPERATOR, SiteInput(
        name="太原南站落地检采样点", kind=SiteKind.FIRST_LANDING, region_code="140105",
        windows=2, opening_hours="00:00-24:00"))
    city.labs["lab1"] = platform.places.add_lab(OPERATOR, LabInput("太原市第一检测实验室",
                                                                   "1401", 200_000))
    city.labs["lab2"] = platform.places.add_lab(OPERATOR, LabInput("山西金域检测实验室",
                                                                   "1401", 150_000))
    rows = []
    groups_cycle = ["", "", "", "", "", "", "", "medical", "courier", "teacher_student",
                    "elderly_home", "port_transport"]
    for i in range(people):
        grid = city.grids[i % len(city.grids)]
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 60))
        rows.append({"id_number": make_resident_id(grid[:6], born, i), "name": make_name(rng),
                     "phone": f"13{rng.randrange(10**9):09d}", "grid_code": grid,
                     "groups": groups_cycle[i % len(groups_cycle)],
                     "language": "en" if i % 25 == 0 else "zh",
                     "household_id": f"{grid}{i // 3:06d}"[:32],
                     "address": f"{1 + i % 12}号楼{1 + i % 3}单元"})
    report = platform.people.import_rows(OPERATOR, rows, set(city.grids))
    city.people = report.inserted
    platform.status.seed_defaults(OPERATOR)
    first_district = next(iter(URBAN_DISTRICTS))
    accounts: dict[str, tuple[Role, str | None]] = {
        "admin": (Role.ADMIN, None),
        "officer": (Role.HEALTH_OFFICER, "1401"),
        "sampler": (Role.SAMPLER, city.sites[first_district]),
        "sitelead": (Role.SITE_LEAD, city.sites[first_district]),
        "landing": (Role.SAMPLER, city.sites["first_landing"]),
        "courier": (Role.COURIER, None),
        "lab": (Role.LAB, city.labs["lab1"]),
        "grid": (Role.GRID_WORKER, city.grids[0]),
    }
    if city.people:
        with platform.deps.uow(readonly=True) as uow:
            # the demo residents are in no key group: their samples go into pools, as most
            # people's do (a key group's must be single tubes)
            ids = uow.people.people_ids(len(rows))
            facts = uow.people.person_facts(ids)
            first_two = [i for i in ids if not facts[i].groups][:2]
        accounts["resident"] = (Role.RESIDENT, first_two[0])
        if len(first_two) > 1:
            accounts["resident2"] = (Role.RESIDENT, first_two[1])
    for username, (role, scope) in accounts.items():
        platform.auth.create_user(OPERATOR, username, DEMO_PASSWORD, role, scope)
    city.users = accounts
    return city
