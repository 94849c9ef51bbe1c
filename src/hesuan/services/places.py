"""Places: the region hierarchy (省-市-区县-街道-社区-网格), sampling sites and labs.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hesuan.domain.access import Action, Principal, Target, authorize
from hesuan.domain.errors import InvalidInput, NotFound
from hesuan.domain.nearby import distance_m, for_residents
from hesuan.domain.opening import open_at
from hesuan.domain.regions import Level, check_region_code
from hesuan.domain.sampling import SiteKind
from hesuan.services.context import Deps
from hesuan.services.people_ports import LabRow, NewLab, NewSite, RegionRow, SiteRow
from hesuan.services.targets import no_such_person, person_target

__all__ = ["LabInput", "NearbySite", "PlacesService", "RegionInput", "SiteInput"]

_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")


@dataclass(frozen=True, slots=True)
class RegionInput:
    code: str
    level: Level
    name: str
    parent_code: str | None = None


@dataclass(frozen=True, slots=True)
class SiteInput:
    name: str
    kind: SiteKind
    region_code: str
    opening_hours: str = "07:00-21:00"
    windows: int = 2
    lat: float | None = None
    lng: float | None = None
    status: str = "open"
    id: str | None = None


@dataclass(frozen=True, slots=True)
class NearbySite:
    """An open site on a resident's list, and its distance from their home in metres (None
    when either location is not known)."""

    site: SiteRow
    distance_m: int | None


@dataclass(frozen=True, slots=True)
class LabInput:
    name: str
    region_code: str
    daily_capacity: int
    id: str | None = None


class PlacesService:
    def __init__(self, deps: Deps) -> None:
        self._d = deps

    def add_regions(self, actor: Principal, regions: Sequence[RegionInput]) -> int:
        authorize(actor, Action.DEFINE_REGIONS)
        rows = []
        for r in regions:
            check_region_code(r.code, r.level, r.parent_code)
            rows.append(RegionRow(r.code, r.level.value, r.name, r.parent_code))
        now = self._d.clock.now()
        with self._d.uow() as uow:
            uow.places.upsert_regions(rows)
            uow.audit_log.append(now, actor.username, "region.upsert", "regions",
                                 {"count": len(rows)})
            uow.commit()
        return len(rows)

    def add_site(self, actor: Principal, s: SiteInput) -> str:
        authorize(actor, Action.CREATE_SITE, Target(region=s.region_code), field="region_code")
        if not _HOURS.match(s.opening_hours):
            raise InvalidInput("opening_hours must look like 07:00-21:00",
                               code="bad_opening_hours", field="opening_hours")
        if not 1 <= s.windows <= 50:
            raise InvalidInput("windows must be 1-50", code="bad_windows", field="windows")
        if s.status not in ("open", "closed", "suspended"):
            raise InvalidInput("status must be open, closed or suspended", code="bad_status",
                               field="status")
        for value, field, bound in ((s.lat, "lat", 90.0), (s.lng, "lng", 180.0)):
            if value is not None and not (math.isfinite(value) and -bound <= value <= bound):
                raise InvalidInput(f"{field} must be a {field} in degrees (±{bound:g})",
                                   code="bad_location", field=field)
        site_id = s.id or self._d.new_id()
        now = self._d.clock.now()
        with self._d.uow() as uow:
            if uow.places.region(s.region_code) is None:
                raise NotFound("region_code: no such region", code="unknown_region",
                               field="region_code")
            uow.places.add_site(NewSite(
                id=site_id, name=s.name, kind=s.kind.value, region_code=s.region_code,
                lat=s.lat, lng=s.lng, opening_hours=s.opening_hours, windows=s.windows,
                status=s.status, created_at=now))
            uow.audit_log.append(now, actor.username, "site.create", f"site:{site_id}",
                                 {"name": s.name})
            uow.commit()
        return site_id

    def add_lab(self, actor: Principal, lab: LabInput) -> str:
        authorize(actor, Action.CREATE_LAB, Target(region=lab.region_code))
        if lab.daily_capacity <= 0:
            raise InvalidInput("daily_capacity must be positive (tubes a day)",
                               code="bad_capacity", field="daily_capacity")
        lab_id = lab.id or self._d.new_id()
        now = self._d.clock.now()
        with self._d.uow() as uow:
            if uow.places.region(lab.region_code) is None:
                raise NotFound("region_code: no such region", code="unknown_region",
                               field="region_code")
            uow.places.add_lab(NewLab(id=lab_id, name=lab.name, region_code=lab.region_code,
                                      daily_capacity=lab.daily_capacity, created_at=now))
            uow.audit_log.append(now, actor.username, "lab.create", f"lab:{lab_id}",
                                 {"name": lab.name})
            uow.commit()
        return lab_id

    def sites(self) -> list[SiteRow]:
        """Sites are public information (residents look for the nearest one)."""
        with self._d.uow(readonly=True) as uow:
            return uow.places.sites()

    def region_names(self, codes: Iterable[str]) -> dict[str, str]:
        """The names of the regions ``codes`` names (the administrative hierarchy is public),
        for pages that show a region by its name; an unknown code is left out."""
        with self._d.uow(readonly=True) as uow:
            found = (uow.places.region(c) for c in dict.fromkeys(codes))
            return {r.code: r.name for r in found if r is not None}

    def nearest_open(self, grid_code: str, limit: int = 5) -> list[SiteRow]:
        """Sites a resident may go to, open at this hour, nearest a grid by the region
        hierarchy (same community, street, district, city): the site whose region shares the
        longest code prefix with the grid. Arrival checkpoints and door-to-door teams are not
        among them (``nearby.for_residents``)."""
        with self._d.uow(readonly=True) as uow:
            sites = self._open_for_residents(uow.places.sites())
        return sorted(sites, key=lambda x: (-_shared(x.region_code, grid_code), x.name))[:limit]

    def nearby_open(self, actor: Principal, person_id: str, limit: int = 5) -> list[NearbySite]:
        """The sites a person may go to, open at this hour, nearest their home first, with the
        distance from it; by the region hierarchy when their household's location or a site's
        is not known (those sites after the measured ones)."""
        with self._d.uow(readonly=True) as uow:
            person = uow.people.person(person_id)
            if person is None:
                raise no_such_person()
            authorize(actor, Action.READ_PERSON, person_target(person), hidden=no_such_person())
            home = uow.people.home(person.household_id) if person.household_id else None
            sites = self._open_for_residents(uow.places.sites())
        out = []
        for x in sites:
            far = (None if home is None or x.lat is None or x.lng is None
                   else distance_m(home.lat, home.lng, x.lat, x.lng))
            out.append(NearbySite(x, None if far is None else round(far)))
        return sorted(out, key=lambda n: (
            n.distance_m is None, n.distance_m or 0,
            -_shared(n.site.region_code, person.grid_code), n.site.name))[:limit]

    def _open_for_residents(self, sites: Sequence[SiteRow]) -> list[SiteRow]:
        now = self._d.clock.now()
        return [x for x in sites if x.status == "open" and for_residents(x.kind)
                and open_at(x.opening_hours, now)]

    def labs(self, actor: Principal) -> list[LabRow]:
        authorize(actor, Action.READ_LABS)
        with self._d.uow(readonly=True) as uow:
            return uow.places.labs()


def _shared(region_code: str, grid_code: str) -> int:
    """How many leading digits a site's region shares with a grid's code."""
    n = 0
    while n < min(len(region_code), len(grid_code)) and region_code[n] == grid_code[n]:
        n += 1
    return n
