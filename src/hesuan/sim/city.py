"""The synthetic city (``hesuan city generate``): a population the size of the source city's six
urban districts, deterministic from a seed.

What it makes:

* the region hierarchy 省-市-区县-街道-社区-网格: Shanxi, Taiyuan, the six urban districts with
  their real names and codes, and synthetic streets (~60,000 people), communities (~6,000) and
  grids (~1,000) under them; each grid has a centre inside its real district boundary
  (``data/taiyuan-districts.geojson``), grids of a community laid out as a small lattice;
* households (1-5 people) and people with valid synthetic resident ID numbers (GB 11643 check
  digit, birth-place code in force at the birth year), names, phones, ages from an age pyramid and
  groups in realistic shares (medical, port/transport, couriers, teachers and students, elderly
  at home); a few foreign residents with passports;
* sampling sites, about one per 2,500 people, each standing in a grid of its community and
  serving a contiguous block of that community's grids (see ``site_catchments``), so everyone has
  a site within a short walk; windows and opening hours; first-landing points, hospital sites and
  door-to-door teams; labs with daily capacity; couriers; and a demo account for every role.

Scale: the layout is small; the people are planned as numpy arrays, turned into rows (ID number,
encryption and lookup hashes through the platform's ``Vault``) by worker processes and streamed
into the database through ``adapters.db.bulk``.

Imports: standard library, numpy, shapely, ``hesuan.bootstrap``, ``hesuan.adapters``,
``hesuan.services``, ``hesuan.domain``, ``hesuan.sim``.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from hesuan.adapters.db import bulk
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import InvalidInput, RuleViolation
from hesuan.domain.people import Group, mask_name
from hesuan.domain.regions import URBAN_DISTRICTS, Level
from hesuan.domain.sampling import SiteKind
from hesuan.services.places import LabInput, RegionInput
from hesuan.services.ports import Vault
from hesuan.sim.example import DEMO_PASSWORD, make_resident_id

__all__ = [
    "DISTRICT_POPULATION",
    "CityPlan",
    "CityReport",
    "GridPlan",
    "SitePlan",
    "check_password",
    "generate_city",
    "load_districts",
    "person_id",
    "plan_city",
    "site_catchments",
]

OPERATOR = Principal(user_id="citygen", username="citygen", role=Role.ADMIN)

#: Resident population of the six urban districts (2020 census, thousands): the shares people
#: are spread by.
DISTRICT_POPULATION: dict[str, int] = {
    "140105": 1270, "140106": 660, "140107": 680, "140108": 600, "140109": 830, "140110": 240,
}
PEOPLE_PER_GRID = 1000
GRIDS_PER_COMMUNITY = 6
COMMUNITIES_PER_STREET = 10
PEOPLE_PER_SITE = 2500
PEOPLE_PER_LAB = 600_000
SITES_PER_COURIER = 20
#: Ages are counted back from this day (the source article's date).
REFERENCE_DAY = date(2022, 8, 29)
#: Distance between neighbouring grid centres, metres.
GRID_SPACING_M = 350.0
#: Sites that serve the grids around them (the others serve arrivals, patients, the housebound).
CATCHMENT_KINDS = frozenset({SiteKind.FIXED.value, SiteKind.TEMPORARY.value})

_STREET_STEMS = (
    "龙城", "晋阳", "汾河", "并州", "双塔", "五一", "桃园", "胜利", "柳巷", "坞城", "学府",
    "平阳", "亲贤", "滨河", "晋祠", "义井", "和平", "长风", "营盘", "北营", "黄陵", "许坦",
    "小井峪", "千峰", "兴华", "万柏林", "东社", "西铭", "杜儿坪", "南寨", "柴村", "新城",
    "古城", "罗城", "姚村", "金胜", "大东关", "涧河", "中涧河", "巨轮", "三墙路", "敦化坊",
)
_COMMUNITY_STEMS = (
    "和平", "幸福", "光明", "新华", "友谊", "建设", "文化", "繁荣", "安居", "康乐", "朝阳",
    "东风", "红旗", "团结", "春晖", "锦绣", "丽华", "金桥", "清泉", "杏林", "桃李", "丰泽",
    "松庄", "新村", "南坪", "北坪", "东岗", "西岗", "育才", "迎春", "兴隆", "长治路", "青年路",
    "体育路", "府东", "府西", "水西关", "南海街", "富力", "恒大", "龙湖", "万科", "保利",
)
_SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高",
    "林", "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧",
    "程", "曹", "袁", "邓", "许", "傅", "沈", "曾", "彭", "吕", "苏", "卢", "蒋", "蔡", "贾",
    "丁", "魏", "薛", "叶", "阎", "余", "潘", "杜", "戴", "夏", "钟", "汪", "田", "任", "姜",
    "范", "方", "石", "姚", "谭", "廖", "邹", "熊", "金", "陆", "郝", "孔", "白", "崔", "康",
    "毛", "邱", "秦", "江", "史", "顾", "侯", "邵", "孟", "龙", "万", "段", "雷", "钱", "汤",
    "尹", "黎", "易", "常", "武", "乔", "贺", "赖", "龚", "文", "欧阳", "司马", "上官",
)
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文斌宇浩然欣怡子轩梓涵一诺晨阳"
    "思远佳琪雨萱俊杰志强海燕红梅晓东建华玉兰淑珍德福永刚春生秋菊冬梅瑞鹏博文昊天嘉怡"
)
_PHONE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "155", "156", "158", "159", "166", "170", "176", "177", "180", "181",
                   "182", "183", "185", "186", "187", "188", "189", "191", "198", "199")
#: Age pyramid (years from, years to, share).
_AGE_BANDS = ((0, 5, 0.040), (5, 15, 0.100), (15, 25, 0.110), (25, 35, 0.170),
              (35, 45, 0.160), (45, 55, 0.160), (55, 65, 0.130), (65, 75, 0.080),
              (75, 85, 0.040), (85, 96, 0.010))
_GROUP_BITS: tuple[Group, ...] = (Group.MEDICAL, Group.PORT_TRANSPORT, Group.COURIER,
                                  Group.TEACHER_STUDENT, Group.ELDERLY_HOME)
_GROUP_STRINGS: tuple[str, ...] = tuple(
    ",".join(sorted(g.value for b, g in enumerate(_GROUP_BITS) if m >> b & 1))
    for m in range(1 << len(_GROUP_BITS)))
_LAB_NAMES = ("太原市第一核酸检测实验室", "山西金域医学检验所", "太原华大医学检验实验室",
              "山西迪安医学检验中心", "太原市疾控中心实验室", "山西白求恩医院检验科",
              "山西省人民医院检验科", "太原市中心医院检验科", "山西艾康医学检验所",
              "山西达瑞医学检验所", "太原凯普医学检验所", "太原市第三人民医院检验科")


def _tag(seed: int, what: str) -> str:
    """An 8-hex-digit prefix for the ids of one kind of thing in one seeded city."""
    return hashlib.sha256(f"hesuan-city:{seed}:{what}".encode()).hexdigest()[:8]


def person_id(seed: int, index: int) -> str:
    """The id of the ``index``-th person of the city made from ``seed`` (32 hex digits,
    ascending with the index so the load appends to the primary key)."""
    return f"{_tag(seed, 'person')}{index:024x}"


def _stable_id(seed: int, what: str) -> str:
    return hashlib.sha256(f"hesuan-city:{seed}:{what}".encode()).hexdigest()[:32]


# --- geography ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class District:
    code: str
    name: str
    geometry: Any  # shapely (Multi)Polygon, prepared
    center: tuple[float, float]  # lng, lat of the district seat


def load_districts() -> dict[str, District]:
    """The six urban districts' real boundaries from the packaged GeoJSON."""
    raw = (resources.files("hesuan") / "data" / "taiyuan-districts.geojson").read_text("utf-8")
    out: dict[str, District] = {}
    for feature in json.loads(raw)["features"]:
        code = str(feature["properties"]["adcode"])
        if code in URBAN_DISTRICTS:
            geom = shape(feature["geometry"])
            shapely.prepare(geom)
            lng, lat = feature["properties"]["center"]
            out[code] = District(code, URBAN_DISTRICTS[code], geom, (float(lng), float(lat)))
    missing = set(URBAN_DISTRICTS) - set(out)
    if missing:
        raise RuntimeError(f"district boundaries missing for {sorted(missing)}")
    return out


def _offset(lng: float, lat: float, dx_m: float, dy_m: float) -> tuple[float, float]:
    return (lng + dx_m / (111_320.0 * math.cos(math.radians(lat))), lat + dy_m / 111_320.0)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Equirectangular distance in metres between two (lng, lat) points (fine at city scale)."""
    mean_lat = math.radians((a[1] + b[1]) / 2)
    dx = (a[0] - b[0]) * 111_320.0 * math.cos(mean_lat)
    dy = (a[1] - b[1]) * 111_320.0
    return math.hypot(dx, dy)


def _inside(d: District, p: tuple[float, float]) -> bool:
    return bool(shapely.contains_xy(d.geometry, p[0], p[1]))


def _near(d: District, rng: np.random.Generator, around: tuple[float, float],
          sigma_m: float) -> tuple[float, float]:
    """A point near ``around`` inside the district (closer in when the boundary is near)."""
    for attempt in range(24):
        s = sigma_m / (1 + attempt // 6)
        p = _offset(around[0], around[1], float(rng.normal(0, s)), float(rng.normal(0, s)))
        if _inside(d, p):
            return p
    return around


def _urban_point(d: District, rng: np.random.Generator) -> tuple[float, float]:
    """A random point in the district, denser near the district seat (the built-up core)."""
    minx, miny, maxx, maxy = d.geometry.bounds
    while True:
        p = (float(rng.uniform(minx, maxx)), float(rng.uniform(miny, maxy)))
        if _inside(d, p) and rng.random() < math.exp(-distance_m(p, d.center) / 6000.0):
            return p


# --- the plan (everything but the people's rows) -----------------------------------------------

@dataclass(frozen=True, slots=True)
class GridPlan:
    code: str
    name: str
    lng: float
    lat: float
    people: int


@dataclass(frozen=True, slots=True)
class SitePlan:
    id: str
    name: str
    kind: str
    region_code: str
    lng: float
    lat: float
    opening_hours: str
    windows: int


@dataclass(frozen=True, slots=True)
class LabPlan:
    id: str
    name: str
    region_code: str
    daily_capacity: int


@dataclass(slots=True)
class CityPlan:
    seed: int
    people: int
    regions: list[RegionInput] = field(default_factory=list)
    grids: list[GridPlan] = field(default_factory=list)
    sites: list[SitePlan] = field(default_factory=list)
    labs: list[LabPlan] = field(default_factory=list)
    couriers: int = 0


def _split(total: int, parts: int, rng: np.random.Generator, spread: float = 0.3) -> list[int]:
    """``total`` split into ``parts`` positive-ish integers that vary by about ±spread."""
    if parts <= 0:
        return []
    w = rng.uniform(1 - spread, 1 + spread, parts)
    raw = w / w.sum() * total
    out = np.floor(raw).astype(np.int64)
    rest = int(total - out.sum())
    if rest:
        out[np.argsort(raw - out)[::-1][:rest]] += 1
    return [int(v) for v in out]


def _names(stems: Sequence[str], n: int, rng: np.random.Generator, suffix: str) -> list[str]:
    order = [stems[i] for i in rng.permutation(len(stems))]
    return [order[i % len(order)] + ("" if i < len(order) else str(i // len(order) + 1)) + suffix
            for i in range(n)]


def plan_city(people: int, seed: int) -> CityPlan:
    """The city's regions, grids (with populations and centres), sites and labs."""
    if people < 1:
        raise ValueError("people must be at least 1")
    rng = np.random.default_rng([seed, 1])
    districts = load_districts()
    plan = CityPlan(seed=seed, people=people)
    plan.regions += [RegionInput("14", Level.PROVINCE, "山西省"),
                     RegionInput("1401", Level.CITY, "太原市", "14")]
    weights = np.array([DISTRICT_POPULATION[c] for c in URBAN_DISTRICTS], dtype=float)
    shares = np.floor(weights / weights.sum() * people).astype(np.int64)
    shares[np.argsort(-(weights / weights.sum() * people - shares))[: people - shares.sum()]] += 1
    hours = ("07:00-21:00",) * 7 + ("06:30-22:00",) * 2 + ("08:00-20:00",)
    for (code, name), pop in zip(URBAN_DISTRICTS.items(), shares.tolist(), strict=True):
        d = districts[code]
        plan.regions.append(RegionInput(code, Level.DISTRICT, name, "1401"))
        n_grids = max(1, round(pop / PEOPLE_PER_GRID))
        n_comm = max(1, round(n_grids / GRIDS_PER_COMMUNITY))
        n_streets = max(1, round(n_comm / COMMUNITIES_PER_STREET))
        comm_per_street = _split(n_comm, n_streets, rng, 0.2)
        grids_per_comm = _split(n_grids, n_comm, rng, 0.25)
        pop_per_grid = _split(pop, n_grids, rng, 0.3)
        street_names = _names(_STREET_STEMS, n_streets, rng, "街道")
        gi = ci = 0
        for s, n_c in enumerate(comm_per_street):
            s_code = f"{code}{s + 1:03d}"
            plan.regions.append(RegionInput(s_code, Level.STREET, street_names[s], code))
            s_center = _urban_point(d, rng)
            comm_names = _names(_COMMUNITY_STEMS, n_c, rng, "社区")
            for c in range(n_c):
                c_code = f"{s_code}{c + 1:03d}"
                c_name = comm_names[c]
                plan.regions.append(RegionInput(c_code, Level.COMMUNITY, c_name, s_code))
                c_center = _near(d, rng, s_center, 900.0)
                n_g = grids_per_comm[ci]
                ci += 1
                cols = max(1, math.ceil(math.sqrt(n_g)))
                comm_grids: list[GridPlan] = []
                for g in range(n_g):
                    g_code = f"{c_code}{g + 1:03d}"
                    row, col = divmod(g, cols)
                    want = _offset(c_center[0], c_center[1],
                                   (col - (cols - 1) / 2) * GRID_SPACING_M,
                                   (row - (cols - 1) / 2) * GRID_SPACING_M)
                    lng, lat = (_near(d, rng, want, 60.0) if _inside(d, want)
                                else _near(d, rng, c_center, 150.0))
                    plan.regions.append(RegionInput(g_code, Level.GRID, f"{c_name}第{g + 1}网格",
                                                    c_code))
                    comm_grids.append(GridPlan(g_code, f"{c_name}第{g + 1}网格", lng, lat,
                                               pop_per_grid[gi]))
                    gi += 1
                plan.grids += comm_grids
                c_pop = sum(g.people for g in comm_grids)
                n_sites = max(1, min(len(comm_grids), round(c_pop / PEOPLE_PER_SITE)))
                for j in range(n_sites):
                    host = comm_grids[(2 * j + 1) * len(comm_grids) // (2 * n_sites)]
                    served = c_pop / n_sites
                    kind = SiteKind.TEMPORARY if rng.random() < 0.1 else SiteKind.FIXED
                    label = "临时采样点" if kind is SiteKind.TEMPORARY else "采样点"
                    plan.sites.append(SitePlan(
                        id=_stable_id(seed, f"site:{host.code}:{j}"),
                        name=f"{name}{street_names[s]}{c_name}{j + 1}号{label}",
                        kind=kind.value, region_code=host.code, lng=host.lng, lat=host.lat,
                        opening_hours=hours[int(rng.integers(len(hours)))],
                        windows=int(min(6, max(2, math.ceil(served / 1200))))))
        # special sites: a hospital and a door-to-door team per district
        first_grid = f"{code}001001001"
        hosp = _urban_point(d, rng)
        plan.sites.append(SitePlan(_stable_id(seed, f"hospital:{code}"), f"{name}人民医院采样点",
                                   SiteKind.HOSPITAL.value, first_grid, hosp[0], hosp[1],
                                   "00:00-24:00", 2))
        plan.sites.append(SitePlan(_stable_id(seed, f"door:{code}"), f"{name}上门采样队",
                                   SiteKind.DOOR_TO_DOOR.value, code, d.center[0], d.center[1],
                                   "08:00-20:00", 2))
    # first-landing points (第一落点): the railway station and the airport, in 小店区
    xd = districts["140105"]
    for key, label, where in (("station", "太原南站落地检采样点", (112.6105, 37.7905)),
                              ("airport", "武宿机场落地检采样点", (112.6283, 37.7547))):
        p = where if _inside(xd, where) else xd.center
        plan.sites.append(SitePlan(_stable_id(seed, f"landing:{key}"), label,
                                   SiteKind.FIRST_LANDING.value, "140105", p[0], p[1],
                                   "00:00-24:00", 4))
    n_labs = max(2, round(people / PEOPLE_PER_LAB))
    # Labs go to districts by population (largest remainder), and a site sends its boxes to
    # the labs of its district, or to any lab if its district has none. Each lab is sized for
    # what it serves: tubes a day in a 72 h round (people/3, ~10 a tube, more for single
    # tubes), 3x headroom. Handing labs out in turn would leave a populous district (万柏林区)
    # with a fraction of the capacity it needs, and its results late.
    codes = list(URBAN_DISTRICTS)
    n_by_district = np.floor(shares / shares.sum() * n_labs).astype(np.int64)
    rest = shares / shares.sum() * n_labs - n_by_district
    n_by_district[np.argsort(-rest, kind="stable")[: n_labs - int(n_by_district.sum())]] += 1
    demand = shares / 3 / 10 * 1.4
    unserved = float(demand[n_by_district == 0].sum()) / n_labs  # spread over every lab
    i = 0
    for code, n_d, dem in zip(codes, n_by_district.tolist(), demand.tolist(), strict=True):
        for _ in range(n_d):
            capacity = max(2000, math.ceil(3 * (dem / n_d + unserved) / 1000) * 1000)
            name = _LAB_NAMES[i % len(_LAB_NAMES)] + ("" if i < len(_LAB_NAMES) else f"{i + 1}")
            plan.labs.append(LabPlan(_stable_id(seed, f"lab:{i}"), name, code, capacity))
            i += 1
    catchment_sites = sum(1 for s in plan.sites if s.kind in CATCHMENT_KINDS)
    plan.couriers = max(2, math.ceil(catchment_sites / SITES_PER_COURIER))
    return plan


def site_catchments(grid_codes: Sequence[str],
                    site_rows: Sequence[tuple[str, str, str]]) -> dict[str, str]:
    """grid code → the id of the site whose catchment it is in.

    ``site_rows`` are (site id, kind, region code). Within a community the grids (by code) are
    cut into as many contiguous blocks as it has catchment sites (sites by region code, then
    id); the generator puts each site in the middle grid of its block. A community without a
    site of its own uses the sites of its street, then of its district."""
    by_prefix: dict[str, list[str]] = {}
    for sid, kind, region in sorted(site_rows, key=lambda r: (r[2], r[0])):
        if kind not in CATCHMENT_KINDS:
            continue
        for n in (12, 9, 6):
            if len(region) >= n:
                by_prefix.setdefault(region[:n], []).append(sid)
    comm_grids: dict[str, list[str]] = {}
    for g in sorted(grid_codes):
        comm_grids.setdefault(g[:12], []).append(g)
    out: dict[str, str] = {}
    for comm, grids in comm_grids.items():
        sites = by_prefix.get(comm) or by_prefix.get(comm[:9]) or by_prefix.get(comm[:6])
        if not sites:
            continue
        for i, g in enumerate(grids):
            out[g] = sites[i * len(sites) // len(grids)]
    return out


# --- the people ----------------------------------------------------------------------------

@dataclass(slots=True)
class Population:
    """The whole population as arrays (one entry per person, in id order)."""

    seed: int
    grid_codes: list[str]
    grid: np.ndarray  # int32 index into grid_codes
    household: np.ndarray  # int64 global household number
    address: list[str]  # per household
    birth: np.ndarray  # int32 date ordinal
    serial: np.ndarray  # int16, unique per birth date across the city
    surname: np.ndarray
    given1: np.ndarray
    given2: np.ndarray  # -1: one-character given name
    phone_prefix: np.ndarray  # -1: no phone
    phone_number: np.ndarray
    groups: np.ndarray  # uint8 bit mask over _GROUP_BITS
    passport: np.ndarray  # bool
    english: np.ndarray  # bool

    @property
    def size(self) -> int:
        return int(self.grid.shape[0])


def plan_population(plan: CityPlan) -> Population:
    """Every person's facts, vectorised; deterministic from the plan's seed."""
    rng = np.random.default_rng([plan.seed, 2])
    sizes_p = np.array([0.25, 0.30, 0.25, 0.12, 0.08])
    grid_idx: list[np.ndarray] = []
    hh_of: list[np.ndarray] = []
    pos_of: list[np.ndarray] = []
    hh_next = 0
    for gi, g in enumerate(plan.grids):
        if g.people <= 0:
            continue
        sizes = rng.choice(np.arange(1, 6), size=g.people // 2 + 2, p=sizes_p)
        ends = np.cumsum(sizes)
        k = int(np.searchsorted(ends, g.people)) + 1
        sizes = sizes[:k].copy()
        sizes[-1] -= int(ends[k - 1] - g.people)
        hh = np.repeat(np.arange(hh_next, hh_next + k, dtype=np.int64), sizes)
        starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
        pos_of.append(np.arange(g.people, dtype=np.int64) - starts)
        hh_of.append(hh)
        grid_idx.append(np.full(g.people, gi, dtype=np.int32))
        hh_next += k
    grid = np.concatenate(grid_idx)
    household = np.concatenate(hh_of)
    position = np.concatenate(pos_of)
    n = grid.shape[0]
    # ages: household heads are adults; everyone else follows the pyramid
    bands = np.array([(a, b) for a, b, _ in _AGE_BANDS], dtype=float)
    band = rng.choice(len(_AGE_BANDS), size=n, p=[s for _, _, s in _AGE_BANDS])
    age_days = (bands[band, 0] + rng.random(n) * (bands[band, 1] - bands[band, 0])) * 365.25
    heads = position == 0
    head_age = rng.uniform(22, 88, size=int(heads.sum())) * 365.25
    age_days[heads] = head_age
    birth = (REFERENCE_DAY.toordinal() - age_days).astype(np.int32)
    age = age_days / 365.25
    # the 3-digit sequence number: unique per birth date across the whole city, so every ID
    # number is unique whatever the birth-place code (which differs by district and era)
    serial = np.zeros(n, dtype=np.int16)
    tiebreak = rng.random(n)
    while True:
        order = np.lexsort((tiebreak, birth))
        b_sorted = birth[order]
        first = np.concatenate(([True], b_sorted[1:] != b_sorted[:-1]))
        group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        rank = np.arange(n) - group_start
        over = order[rank >= 1000]
        serial[order] = (rank % 1000).astype(np.int16)
        if over.size == 0:
            break
        birth[over] -= 1  # a crowded day: born a day earlier
    surname_w = 1.0 / (np.arange(len(_SURNAMES)) + 8.0)
    surname = np.asarray(rng.choice(len(_SURNAMES), size=n, p=surname_w / surname_w.sum()),
                         dtype=np.int16)
    given1 = np.asarray(rng.integers(0, len(_GIVEN), size=n), dtype=np.int16)
    given2 = np.where(rng.random(n) < 0.7, rng.integers(0, len(_GIVEN), size=n), -1)
    has_phone = (age >= 10) & (rng.random(n) < 0.985)
    phone_prefix = np.where(has_phone, rng.integers(0, len(_PHONE_PREFIXES), size=n), -1)
    phone_number = np.asarray(rng.integers(0, 10**8, size=n), dtype=np.int64)
    # groups (重点人群 and others), by age
    u = rng.random(n)
    working = (age >= 22) & (age < 60)
    groups = np.zeros(n, dtype=np.uint8)
    groups[working & (u < 0.020)] |= 1  # medical staff
    groups[working & (u >= 0.020) & (u < 0.032)] |= 2  # port and transport workers
    groups[working & (u >= 0.032) & (u < 0.050)] |= 4  # couriers and delivery riders
    v = rng.random(n)
    groups[(age >= 6) & (age < 22) & (v < 0.92)] |= 8  # students
    groups[working & (u >= 0.050) & (v < 0.025)] |= 8  # teachers
    groups[(age >= 75) & (v < 0.35)] |= 16  # elderly at home
    passport = (age >= 18) & (rng.random(n) < 0.002)
    english = passport | (rng.random(n) < 0.004)
    n_hh = hh_next
    building = rng.integers(1, 41, size=n_hh)
    unit = rng.integers(1, 5, size=n_hh)
    floor = rng.integers(1, 19, size=n_hh)
    room = rng.integers(1, 5, size=n_hh)
    address = [f"{b}号楼{un}单元{f}{r:02d}室" for b, un, f, r in
               zip(building.tolist(), unit.tolist(), floor.tolist(), room.tolist(), strict=True)]
    return Population(
        seed=plan.seed, grid_codes=[g.code for g in plan.grids], grid=grid, household=household,
        address=address, birth=birth, serial=serial, surname=surname, given1=given1,
        given2=given2.astype(np.int16), phone_prefix=phone_prefix.astype(np.int16),
        phone_number=phone_number, groups=groups, passport=passport, english=english)


@dataclass(slots=True)
class _Job:
    """What a worker needs to turn a slice of the population into rows."""

    pop: Population
    vault: Vault
    created_ms: int
    pg_url: str | None


def person_rows(job: _Job, lo: int, hi: int) -> list[tuple[Any, ...]]:
    """Rows for people ``lo``..``hi``, in ``bulk.PEOPLE_COLUMNS`` order: what
    ``PeopleService._prepare`` makes of a valid import row (encrypted ID, name and phone,
    keyed lookup hashes, masked name), for a synthetic person."""
    p, v = job.pop, job.vault
    enc, lookup = v.encrypt, v.lookup_hash
    pid_tag = _tag(p.seed, "person")
    hh_tag = _tag(p.seed, "household")
    grid_codes = p.grid_codes
    created_ms = job.created_ms
    dates: dict[int, date] = {}
    masked: dict[str, str] = {}
    hh_ids: dict[int, tuple[str, str]] = {}
    rows: list[tuple[Any, ...]] = []
    cols = zip(range(lo, hi), p.grid[lo:hi].tolist(), p.household[lo:hi].tolist(),
               p.birth[lo:hi].tolist(), p.serial[lo:hi].tolist(), p.surname[lo:hi].tolist(),
               p.given1[lo:hi].tolist(), p.given2[lo:hi].tolist(),
               p.phone_prefix[lo:hi].tolist(), p.phone_number[lo:hi].tolist(),
               p.groups[lo:hi].tolist(), p.passport[lo:hi].tolist(), p.english[lo:hi].tolist(),
               strict=True)
    for i, g, hh, b, ser, sn, g1, g2, pp, pn, grp, passport, english in cols:
        grid_code = grid_codes[g]
        born = dates.get(b)
        if born is None:
            born = dates[b] = date.fromordinal(b)
        if passport:
            kind, number, birth_year = "passport", f"E{i % 100_000_000:08d}", None
        else:
            kind = "resident"
            number = make_resident_id(grid_code[:6], born, ser)
            birth_year = born.year
        name = _SURNAMES[sn] + _GIVEN[g1] + (_GIVEN[g2] if g2 >= 0 else "")
        name_masked = masked.get(name)
        if name_masked is None:
            name_masked = masked[name] = mask_name(name)
        home = hh_ids.get(hh)
        if home is None:
            home = hh_ids[hh] = (f"{hh_tag}{hh:024x}", p.address[hh])
        phone_enc: bytes | None = None
        phone_hash: bytes | None = None
        if pp >= 0:
            phone = f"{_PHONE_PREFIXES[pp]}{pn:08d}"
            phone_enc, phone_hash = enc(phone), lookup(f"phone:{phone}")
        rows.append((
            f"{pid_tag}{i:024x}", kind, lookup(f"{kind}:{number}"), enc(number), number[-4:],
            enc(name), name_masked, phone_enc, phone_hash, grid_code, home[0], home[1],
            _GROUP_STRINGS[grp], birth_year, "en" if english else "zh", created_ms,
        ))
    return rows


#: The job of a forked worker process (set in the parent just before the pool forks).
_FORK_JOB: _Job | None = None


def _write_slice(task: tuple[int, int, str | None]) -> tuple[int, str | None]:
    lo, hi, shard = task
    job = _FORK_JOB
    assert job is not None
    rows = person_rows(job, lo, hi)
    if shard is None:
        assert job.pg_url is not None
        bulk.copy_people_pg(job.pg_url, rows)
        return len(rows), None
    w = bulk.ShardWriter(Path(shard))
    w.write(rows)
    w.close()
    return len(rows), shard


def _slices(n: int, chunk: int, shard_dir: Path | None) -> list[tuple[int, int, str | None]]:
    return [(lo, min(n, lo + chunk),
             None if shard_dir is None else str(shard_dir / f"people-{lo:09d}.db"))
            for lo in range(0, n, chunk)]


# --- generate ----------------------------------------------------------------------------------

@dataclass(slots=True)
class CityReport:
    people: int
    households: int
    districts: int
    streets: int
    communities: int
    grids: int
    sites: int
    labs: int
    couriers: int
    users: dict[str, tuple[str, str | None]]
    seconds: float
    people_seconds: float

    @property
    def people_per_second(self) -> float:
        return self.people / self.people_seconds if self.people_seconds else 0.0


class CityExists(RuleViolation):
    """The database already holds people: generate a city only into an empty one."""

    default_code = "city_exists"


def check_password(environment: str, password: str) -> None:
    """Refuse the published demo password for a production city's accounts."""
    if environment == "production" and password == DEMO_PASSWORD:
        raise InvalidInput("the demo password is published: a production city's accounts need "
                           "another (--password)", code="demo_password", field="password")


def generate_city(platform: Platform, people: int, seed: int, *, workers: int | None = None,
                  chunk: int = 50_000, progress: Callable[[int, int], None] | None = None,
                  password: str = DEMO_PASSWORD) -> CityReport:
    """Make the city in the platform's (empty) database. ``progress(done, total)`` is called as
    people are stored. ``workers``: processes preparing rows (default: one per CPU; 0 or 1 runs
    in this process). The testing policies (DESIGN.md defaults) start at the platform clock's
    now: bootstrap with a ``FixedClock`` at the first round's start. ``password``: the demo
    accounts'; a production platform refuses the published demo password (``InvalidInput``),
    before anything is written."""
    global _FORK_JOB
    check_password(platform.settings.environment, password)
    started = time.perf_counter()
    if bulk.people_count(platform.engine):
        raise CityExists("the database already holds people; use --fresh to start anew")
    plan = plan_city(people, seed)
    now = platform.deps.clock.now()
    platform.places.add_regions(OPERATOR, plan.regions)
    bulk.insert_sites(platform.engine, [
        {"id": s.id, "name": s.name, "kind": s.kind, "region_code": s.region_code, "lat": s.lat,
         "lng": s.lng, "opening_hours": s.opening_hours, "windows": s.windows, "status": "open",
         "created_at": now} for s in plan.sites])
    for lab in plan.labs:
        platform.places.add_lab(OPERATOR, LabInput(lab.name, lab.region_code,
                                                   lab.daily_capacity, id=lab.id))
    users = _make_users(platform, plan, password)
    pop = plan_population(plan)
    n = pop.size
    job = _Job(pop, platform.deps.vault, int(now.timestamp() * 1000),
               None if platform.engine.dialect.name == "sqlite"
               else platform.engine.url.render_as_string(hide_password=False))
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    t_people = time.perf_counter()
    done = 0
    with bulk.BulkPeopleLoader(platform.engine) as loader:
        shard_dir = (Path(tempfile.mkdtemp(prefix="hesuan-city-",
                                           dir=_shard_parent(platform)))
                     if loader.sqlite else None)
        try:
            _FORK_JOB = job
            for count, shard in _run(_slices(n, chunk, shard_dir), n_workers):
                if shard is not None:
                    loader.load_shard(Path(shard))
                done += count
                if progress is not None:
                    progress(done, n)
            # the testing policies, assigned to everyone while the secondary indexes are still
            # off (their columns are what the assignment writes)
            platform.status.seed_defaults(OPERATOR, start=now)
        finally:
            _FORK_JOB = None
            if shard_dir is not None:
                shutil.rmtree(shard_dir, ignore_errors=True)
    people_seconds = time.perf_counter() - t_people
    with platform.deps.uow() as uow:
        uow.audit(platform.deps.clock.now(), OPERATOR.username, "city.generate", "city",
                  {"seed": seed, "people": n, "grids": len(plan.grids),
                   "sites": len(plan.sites), "labs": len(plan.labs)})
        uow.commit()
    levels = [r.level for r in plan.regions]
    return CityReport(
        people=n, households=int(pop.household[-1]) + 1 if n else 0,
        districts=levels.count(Level.DISTRICT), streets=levels.count(Level.STREET),
        communities=levels.count(Level.COMMUNITY), grids=levels.count(Level.GRID),
        sites=len(plan.sites), labs=len(plan.labs), couriers=plan.couriers, users=users,
        seconds=time.perf_counter() - started, people_seconds=people_seconds)


def _shard_parent(platform: Platform) -> str | None:
    db = platform.engine.url.database
    return str(Path(db).resolve().parent) if db and db != ":memory:" else None


def _run(tasks: list[tuple[int, int, str | None]],
         workers: int) -> Iterator[tuple[int, str | None]]:
    if workers <= 1 or len(tasks) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for t in tasks:
            yield _write_slice(t)
        return
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(min(workers, len(tasks))) as pool:
        yield from pool.imap(_write_slice, tasks)


def _make_users(platform: Platform, plan: CityPlan,
                password: str) -> dict[str, tuple[str, str | None]]:
    """A demo account for every role (all with ``password``), plus the couriers."""
    routine = next(s for s in plan.sites if s.kind in CATCHMENT_KINDS)
    landing = next(s for s in plan.sites if s.kind == SiteKind.FIRST_LANDING.value)
    venue_id = platform.venues.register(OPERATOR, f"CS-{routine.region_code[:6]}-0001",
                                        "柳巷商业街（演示场所）", routine.region_code)
    accounts: dict[str, tuple[Role, str | None]] = {
        "admin": (Role.ADMIN, None),
        "officer": (Role.HEALTH_OFFICER, "1401"),
        "officer_xiaodian": (Role.HEALTH_OFFICER, "140105"),
        "sitelead": (Role.SITE_LEAD, routine.id),
        "sampler": (Role.SAMPLER, routine.id),
        "landing": (Role.SAMPLER, landing.id),
        "courier": (Role.COURIER, None),
        "lab": (Role.LAB, plan.labs[0].id),
        "grid": (Role.GRID_WORKER, plan.grids[0].code),
        "venue": (Role.VENUE, venue_id),
        "resident": (Role.RESIDENT, person_id(plan.seed, 0)),
    }
    for username, (role, scope) in accounts.items():
        platform.auth.create_user(OPERATOR, username, password, role, scope)
    # the courier fleet shares one password hash (one argon2 run, not hundreds)
    now = platform.deps.clock.now()
    shared = platform.deps.passwords.hash(password)
    bulk.insert_users(platform.engine, [
        {"id": _stable_id(plan.seed, f"courier:{i}"), "username": f"courier{i + 1:03d}",
         "password_hash": shared, "role": Role.COURIER.value, "scope": None, "active": True,
         "created_at": now} for i in range(plan.couriers)])
    return {u: (r.value, s) for u, (r, s) in accounts.items()}
