"""The synthetic city's plan: everything but the people's rows, deterministic from a seed.

The region hierarchy 省-市-区县-街道-社区-网格 (Shanxi, Taiyuan, the six urban districts with their
real names and codes, synthetic streets, communities and grids under them, each grid with a
centre inside its real district boundary, the grids of a community laid out as a small
lattice); sampling sites, about one per 2,500 people, each standing in a grid of its community
and serving a contiguous block of that community's grids (``site_catchments``); hospital sites,
door-to-door teams and first-landing points; labs sized for what they serve; the couriers; and
the ids of the city's things.

Imports: standard library, numpy, ``hesuan.services``, ``hesuan.domain``, ``hesuan.sim``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hesuan.domain.regions import URBAN_DISTRICTS, Level
from hesuan.domain.sampling import SiteKind
from hesuan.services.places import RegionInput
from hesuan.sim.geography import inside, load_districts, near, offset, urban_point

__all__ = [
    "CATCHMENT_KINDS",
    "DISTRICT_POPULATION",
    "CityPlan",
    "GridPlan",
    "LabPlan",
    "SitePlan",
    "id_prefix",
    "person_id",
    "plan_city",
    "site_catchments",
    "stable_id",
]

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
_LAB_NAMES = ("太原市第一核酸检测实验室", "山西金域医学检验所", "太原华大医学检验实验室",
              "山西迪安医学检验中心", "太原市疾控中心实验室", "山西白求恩医院检验科",
              "山西省人民医院检验科", "太原市中心医院检验科", "山西艾康医学检验所",
              "山西达瑞医学检验所", "太原凯普医学检验所", "太原市第三人民医院检验科")


def id_prefix(seed: int, what: str) -> str:
    """An 8-hex-digit prefix for the ids of one kind of thing in one seeded city."""
    return hashlib.sha256(f"hesuan-city:{seed}:{what}".encode()).hexdigest()[:8]


def person_id(seed: int, index: int) -> str:
    """The id of the ``index``-th person of the city made from ``seed`` (32 hex digits,
    ascending with the index so the load appends to the primary key)."""
    return f"{id_prefix(seed, 'person')}{index:024x}"


def stable_id(seed: int, what: str) -> str:
    """The 32-hex-digit id of the thing named ``what`` in the city made from ``seed``."""
    return hashlib.sha256(f"hesuan-city:{seed}:{what}".encode()).hexdigest()[:32]


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
            s_center = urban_point(d, rng)
            comm_names = _names(_COMMUNITY_STEMS, n_c, rng, "社区")
            for c in range(n_c):
                c_code = f"{s_code}{c + 1:03d}"
                c_name = comm_names[c]
                plan.regions.append(RegionInput(c_code, Level.COMMUNITY, c_name, s_code))
                c_center = near(d, rng, s_center, 900.0)
                n_g = grids_per_comm[ci]
                ci += 1
                cols = max(1, math.ceil(math.sqrt(n_g)))
                comm_grids: list[GridPlan] = []
                for g in range(n_g):
                    g_code = f"{c_code}{g + 1:03d}"
                    row, col = divmod(g, cols)
                    want = offset(c_center[0], c_center[1],
                                   (col - (cols - 1) / 2) * GRID_SPACING_M,
                                   (row - (cols - 1) / 2) * GRID_SPACING_M)
                    lng, lat = (near(d, rng, want, 60.0) if inside(d, want)
                                else near(d, rng, c_center, 150.0))
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
                        id=stable_id(seed, f"site:{host.code}:{j}"),
                        name=f"{name}{street_names[s]}{c_name}{j + 1}号{label}",
                        kind=kind.value, region_code=host.code, lng=host.lng, lat=host.lat,
                        opening_hours=hours[int(rng.integers(len(hours)))],
                        windows=int(min(6, max(2, math.ceil(served / 1200))))))
        # special sites: a hospital and a door-to-door team per district
        first_grid = f"{code}001001001"
        hosp = urban_point(d, rng)
        plan.sites.append(SitePlan(stable_id(seed, f"hospital:{code}"), f"{name}人民医院采样点",
                                   SiteKind.HOSPITAL.value, first_grid, hosp[0], hosp[1],
                                   "00:00-24:00", 2))
        plan.sites.append(SitePlan(stable_id(seed, f"door:{code}"), f"{name}上门采样队",
                                   SiteKind.DOOR_TO_DOOR.value, code, d.center[0], d.center[1],
                                   "08:00-20:00", 2))
    # first-landing points (第一落点): the railway station and the airport, in 小店区
    xd = districts["140105"]
    for key, label, where in (("station", "太原南站落地检采样点", (112.6105, 37.7905)),
                              ("airport", "武宿机场落地检采样点", (112.6283, 37.7547))):
        p = where if inside(xd, where) else xd.center
        plan.sites.append(SitePlan(stable_id(seed, f"landing:{key}"), label,
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
            plan.labs.append(LabPlan(stable_id(seed, f"lab:{i}"), name, code, capacity))
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
