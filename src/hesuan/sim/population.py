"""The people of the synthetic city: households (1-5 people) in every grid and people with
valid synthetic resident ID numbers (GB 11643 check digit, birth-place code in force at the
birth year), names, phones, ages from an age pyramid and groups in realistic shares (medical,
port/transport, couriers, teachers and students, elderly at home); a few foreign residents with
passports.

The population is planned as numpy arrays (``plan_population``), then turned into rows (ID
number, encryption and lookup hashes through the platform's ``Vault``) a slice at a time
(``person_rows``), by the worker processes of ``city.generate_city``.

Imports: standard library, numpy, ``hesuan.services``, ``hesuan.domain``, ``hesuan.sim``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import shapely

from hesuan.domain.nearby import HOME_DECIMALS
from hesuan.domain.people import Group, mask_name
from hesuan.services.ports import Vault
from hesuan.sim.city_plan import GRID_SPACING_M, CityPlan, id_prefix
from hesuan.sim.example import make_resident_id
from hesuan.sim.geography import load_districts

__all__ = ["REFERENCE_DAY", "Population", "RowJob", "household_homes", "person_rows",
           "plan_population"]

#: Ages are counted back from this day (the source article's date).
REFERENCE_DAY = date(2022, 8, 29)

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
class RowJob:
    """What a worker needs to turn a slice of the population into rows."""

    pop: Population
    vault: Vault
    created_ms: int
    pg_url: str | None


def person_rows(job: RowJob, lo: int, hi: int) -> list[tuple[Any, ...]]:
    """Rows for people ``lo``..``hi``, in ``bulk.PEOPLE_COLUMNS`` order: what
    ``PeopleService._prepare`` makes of a valid import row (encrypted ID, name and phone,
    keyed lookup hashes, masked name), for a synthetic person."""
    p, v = job.pop, job.vault
    enc, lookup = v.encrypt, v.lookup_hash
    pid_tag = id_prefix(p.seed, "person")
    hh_tag = id_prefix(p.seed, "household")
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


def household_homes(plan: CityPlan, pop: Population) -> list[dict[str, Any]]:
    """Each household's location (rows as the ``households`` table): a building within its
    grid's cell around the grid's centre, in the sites' datum, kept to about 100 m;
    deterministic from the plan's seed."""
    if not pop.size:
        return []
    first = np.unique(pop.household, return_index=True)[1]  # each household's first member
    grid = pop.grid[first]
    lng = np.array([g.lng for g in plan.grids])[grid]
    lat = np.array([g.lat for g in plan.grids])[grid]
    rng = np.random.default_rng([plan.seed, 3])
    half = GRID_SPACING_M / 2
    dx, dy = rng.uniform(-half, half, size=(2, first.shape[0]))
    # a cell at a district's edge reaches over it: such a home moves towards its grid's
    # centre (inside the district) until it is inside too, so a home is in its own district
    districts = load_districts()
    district = np.array([pop.grid_codes[g][:6] for g in range(len(pop.grid_codes))])[grid]
    outside = np.ones(first.shape[0], dtype=bool)
    for shrink in (1.0, 0.5, 0.25, 0.0):
        dx[outside] *= shrink
        dy[outside] *= shrink
        lat_out = np.round(lat + dy / 111_320.0, HOME_DECIMALS)
        lng_out = np.round(lng + dx / (111_320.0 * np.cos(np.radians(lat))), HOME_DECIMALS)
        outside[:] = False
        for code, d in districts.items():
            mine = district == code
            outside[mine] = ~shapely.contains_xy(d.geometry, lng_out[mine], lat_out[mine])
        if not outside.any():
            break
    lat_out[outside], lng_out[outside] = lat[outside], lng[outside]  # the centre, unrounded
    tag = id_prefix(plan.seed, "household")
    return [{"id": f"{tag}{h:024x}", "lat": float(a), "lng": float(b)}
            for h, a, b in zip(pop.household[first].tolist(), lat_out.tolist(),
                               lng_out.tolist(), strict=True)]
