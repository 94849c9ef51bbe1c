"""A small city on the fakes for service tests: regions (one city, two districts, a few
grids), a fixed sampling site, a first-landing checkpoint, a lab, and people made on demand;
the ``Deps`` to build services with, and the committed tables to look at."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hesuan.adapters.clock import FixedClock
from hesuan.domain.sampling import SiteKind, make_box_code, make_tube_barcode
from hesuan.services.context import Deps, Limits
from hesuan.services.people_ports import NewLab, NewPerson, NewSite, RegionRow
from hesuan.services.sampling import EventKind, StationEvent
from tests.fakes.database import FakeDatabase, PersonStatus, Tables
from tests.fakes.deps import fake_deps
from tests.fakes.uow import FakeUnitOfWork, FakeUnitOfWorkFactory

__all__ = ["CITY", "GRIDS", "START", "World", "make_world"]

#: 2022-08-29 08:00 in Taiyuan
START = datetime(2022, 8, 29, 0, 0, tzinfo=UTC)
CITY = "1401"
#: Grids of the city: two in one community of 小店区, one in 迎泽区.
GRIDS = ("140105001001001", "140105001001002", "140106001001001")

_REGIONS = (
    RegionRow("14", "province", "山西省", None),
    RegionRow(CITY, "city", "太原市", "14"),
    RegionRow("140105", "district", "小店区", CITY),
    RegionRow("140106", "district", "迎泽区", CITY),
    RegionRow("140105001", "street", "坞城街道", "140105"),
    RegionRow("140106001", "street", "柳巷街道", "140106"),
    RegionRow("140105001001", "community", "一社区", "140105001"),
    RegionRow("140106001001", "community", "二社区", "140106001"),
    *(RegionRow(g, "grid", f"网格{g[-3:]}", g[:12]) for g in GRIDS),
)


@dataclass
class World:
    db: FakeDatabase
    clock: FixedClock
    deps: Deps
    site: str  # a fixed sampling site in 小店区
    checkpoint: str  # a first-landing site (arrivals, single tubes only) in 小店区
    lab: str
    _serials: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def t(self) -> Tables:
        """The committed tables."""
        return self.db.tables

    def status(self, person_id: str) -> PersonStatus:
        """A person's committed status row."""
        return self.db.tables.statuses[person_id]

    @property
    def factory(self) -> FakeUnitOfWorkFactory:
        uow = self.deps.uow
        assert isinstance(uow, FakeUnitOfWorkFactory)
        return uow

    def uow(self) -> FakeUnitOfWork:
        return self.factory()

    # -- station events ----------------------------------------------------------------------

    def barcode(self) -> str:
        """A new tube barcode (valid, never used)."""
        return make_tube_barcode(next(self._serials))

    def box_code(self) -> str:
        return make_box_code(next(self._serials))

    def ev(self, kind: EventKind, *, site: str | None = None, at: datetime | None = None,
           **kw: Any) -> StationEvent:
        """A station event with a new id, at the site, now (unless told)."""
        return StationEvent(str(uuid.uuid4()), kind, site or self.site, at or self.clock.now(),
                            **kw)

    def tube(self, people: list[str], mode: int = 10, *, barcode: str | None = None,
             seal: bool = True, site: str | None = None) -> tuple[str, list[StationEvent]]:
        """The events of a tube: opened, ``people`` sampled into it, sealed (unless told or
        full); its barcode and the events."""
        b = barcode or self.barcode()
        events = [self.ev(EventKind.OPEN_TUBE, site=site, barcode=b, mode=mode)]
        events += [self.ev(EventKind.SAMPLE, site=site, barcode=b,
                           code=self.deps.codes.sign(p)) for p in people]
        if seal and len(people) < mode:
            events.append(self.ev(EventKind.SEAL_TUBE, site=site, barcode=b))
        return b, events

    # -- people --------------------------------------------------------------------------

    def person(self, grid: str = GRIDS[0], groups: str = "", address: str | None = None,
               name: str = "张三") -> str:
        """A new person living in ``grid``; their id."""
        return self.people(1, grid, groups, address, name)[0]

    def people(self, n: int, grid: str = GRIDS[0], groups: str = "",
               address: str | None = None, name: str = "张三") -> list[str]:
        vault, now = self.deps.vault, self.clock.now()
        rows = []
        for _ in range(n):
            pid = self.deps.new_id()
            rows.append(NewPerson(
                id=pid, id_kind="resident", id_hash=vault.lookup_hash(f"id:{pid}"),
                id_enc=vault.encrypt(pid), id_last4=pid[-4:], name_enc=vault.encrypt(name),
                name_masked=name[0] + "*" * (len(name) - 1), phone_enc=None, phone_hash=None,
                grid_code=grid, household_id=None, address=address, groups=groups,
                birth_year=1990, language="zh"))
        with self.uow() as uow:
            assert uow.people.insert_people(rows, now) == n
            uow.commit()
        return [r.id for r in rows]


def make_world(clock: FixedClock | None = None, limits: Limits | None = None) -> World:
    """The city's places, committed; no people yet."""
    clock = clock or FixedClock(START)
    db = FakeDatabase()
    deps = fake_deps(db, clock, limits)
    now = clock.now()
    ids = [deps.new_id() for _ in range(3)]
    site, checkpoint, lab = ids
    with FakeUnitOfWork(db) as uow:
        uow.places.upsert_regions(_REGIONS)
        uow.places.add_site(NewSite(site, "坞城路固定采样点", SiteKind.FIXED.value, GRIDS[0],
                                    37.8, 112.5, "07:00-20:00", 8, "active", now))
        uow.places.add_site(NewSite(checkpoint, "太原南站落地点", SiteKind.FIRST_LANDING.value,
                                    GRIDS[1], 37.7, 112.6, "00:00-24:00", 4, "active", now))
        uow.places.add_lab(NewLab(lab, "第一检测实验室", "140105", 100_000, now))
        uow.commit()
    return World(db, clock, deps, site, checkpoint, lab)
