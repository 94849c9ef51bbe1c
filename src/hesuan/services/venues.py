"""Venues (场所码) and venue checks: the "four elements" (四要素) at a door — temperature
(测温), status code (验码), certificate (查证), mask (戴口罩) — and the decision.

A check verifies the person's signed pass (``PassService.verify``) and records only what the
venue needs: when, the colour shown, the four booleans and the decision. No name, ID number or
pass id is kept, and checks expire after the venue retention period (``services/retention.py``).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from hesuan.domain.access import Action, Principal, Target, allows, authorize
from hesuan.domain.errors import Conflict, InvalidInput, NotFound
from hesuan.domain.fence import PlaceKind
from hesuan.domain.passes import PassColour
from hesuan.services.context import Deps
from hesuan.services.fence import FenceService, ScanInput
from hesuan.services.passes import PassService
from hesuan.services.status_ports import VenueCheckRow, VenueRow

__all__ = ["FEVER_C", "VenueCheck", "VenueService"]

#: Body temperature at or above which entry is refused (体温≥37.3℃).
FEVER_C = 37.3
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,19}$")


@dataclass(frozen=True, slots=True)
class VenueCheck:
    admitted: bool
    pass_valid: bool
    colour: str | None
    masked_name: str | None
    why: str
    temperature_ok: bool
    code_ok: bool
    certificate_ok: bool
    mask_ok: bool
    at: datetime


class VenueService:
    def __init__(self, deps: Deps, passes: PassService, fence: FenceService | None = None) -> None:
        self._d = deps
        self._passes = passes
        self._fence = fence

    def register(self, actor: Principal, code: str, name: str, region_code: str,
                 lat: float | None = None, lng: float | None = None) -> str:
        authorize(actor, Action.REGISTER_VENUE, Target(region=region_code), field="region_code")
        code = code.strip().upper()
        if not _CODE.match(code):
            raise InvalidInput("code must be 4-20 letters, digits or dashes (场所码)",
                               code="bad_venue_code", field="code")
        if not name.strip():
            raise InvalidInput("name is required", code="missing_field", field="name")
        now = self._d.clock.now()
        vid = self._d.new_id()
        with self._d.uow() as uow:
            if uow.places.region(region_code) is None:
                raise NotFound("region_code: no such region", code="unknown_region",
                               field="region_code")
            if uow.venues.venue_by_code(code) is not None:
                raise Conflict("code: a venue with this code exists", code="venue_code_used",
                               field="code")
            uow.venues.add_venue(VenueRow(id=vid, code=code, name=name.strip(),
                                          region_code=region_code, lat=lat, lng=lng,
                                          created_at=now))
            uow.audit_log.append(now, actor.username, "venue.register", f"venue:{vid}",
                                 {"code": code})
            uow.commit()
        return vid

    def venues(self, actor: Principal) -> list[VenueRow]:
        authorize(actor, Action.READ_VENUES)
        with self._d.uow(readonly=True) as uow:
            rows = uow.venues.all()
        return [r for r in rows if allows(actor, Action.READ_VENUES, _venue(r))]

    def check(self, actor: Principal, venue_id: str, pass_text: str, temperature_c: float,
              mask_ok: bool, certificate_ok: bool) -> VenueCheck:
        """Verify the pass and record the four checks at a venue's door."""
        if not 30.0 <= temperature_c <= 45.0:
            raise InvalidInput("temperature_c must be a body temperature in °C (30-45)",
                               code="bad_temperature", field="temperature_c")
        with self._d.uow(readonly=True) as uow:
            venue = uow.venues.venue(venue_id)
        if venue is None:
            raise NotFound("venue_id: no such venue", code="unknown_venue", field="venue_id")
        authorize(actor, Action.CHECK_IN, _venue(venue), field="venue_id")
        verdict = self._passes.verify(actor, pass_text)
        now = self._d.clock.now()
        temperature_ok = temperature_c < FEVER_C
        code_ok = verdict.valid and verdict.colour is PassColour.GREEN
        admitted = temperature_ok and code_ok and certificate_ok and mask_ok
        colour = verdict.colour.value if verdict.colour else None
        with self._d.uow() as uow:
            uow.venues.add_venue_check(VenueCheckRow(
                id=self._d.new_id(), venue_id=venue_id, at=now, colour=colour,
                pass_valid=verdict.valid, temperature_ok=temperature_ok, code_ok=code_ok,
                certificate_ok=certificate_ok, mask_ok=mask_ok, admitted=admitted,
                checked_by=actor.user_id))
            uow.audit_log.append(now, actor.username, "venue.check", f"venue:{venue_id}",
                      {"admitted": admitted})
            uow.commit()
        if self._fence is not None and verdict.pass_hash is not None:
            # the check is also a scan for the fence rules (电子围栏): alerts go to the
            # person's grid worker; nothing about the person is kept with the venue check
            self._fence.scan(actor, [ScanInput(str(uuid.uuid4()), PlaceKind.VENUE, venue_id,
                                               now, pass_text=pass_text)],
                             checked={pass_text: verdict})  # checked once, audited once
        why = verdict.reason if not verdict.valid else (
            "admitted" if admitted else "; ".join(
                w for ok, w in ((temperature_ok, f"temperature ≥ {FEVER_C} °C"),
                                (code_ok, f"status {colour}"),
                                (certificate_ok, "certificate not shown"),
                                (mask_ok, "no mask")) if not ok))
        return VenueCheck(admitted, verdict.valid, colour, verdict.masked_name, why,
                          temperature_ok, code_ok, certificate_ok, mask_ok, now)

    def recent_checks(self, actor: Principal, venue_id: str,
                      limit: int = 100) -> list[VenueCheckRow]:
        with self._d.uow(readonly=True) as uow:
            venue = uow.venues.venue(venue_id)
            if venue is None:
                raise NotFound("venue_id: no such venue", code="unknown_venue",
                               field="venue_id")
            authorize(actor, Action.READ_VENUE_CHECKS, _venue(venue), field="venue_id")
            return uow.venues.venue_checks(venue_id, limit)


def _venue(row: VenueRow) -> Target:
    return Target(region=row.region_code, venue=row.id)
