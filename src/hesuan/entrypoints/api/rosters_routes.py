"""HTTP routes of rosters: coverage (应检尽检) by district, street, community and grid, the grid
worker's list of people, the coverage snapshot, a roster outcome and the on-demand phone
number. Thin: parse → service → render.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from hesuan.domain.access import Action
from hesuan.domain.regions import Level
from hesuan.domain.rosters import Outcome
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.deps import Me, PlatformDep, StaleRead
from hesuan.entrypoints.api.schemas import Note, RegionFilter, Strict
from hesuan.services.analytics import Coverage
from hesuan.services.rosters import CoverageSnapshot, RosterPage

__all__ = ["router"]

router = APIRouter(tags=["rosters"])

@router.get("/rosters/coverage", openapi_extra=acts(Action.READ_COVERAGE),
            dependencies=[StaleRead])
def coverage(me: Me, platform: PlatformDep, region: RegionFilter = None,
             level: Literal["district", "street", "community", "grid"] = "grid",
             live: bool = False) -> Coverage:
    """应检尽检: due, sampled, exempt, outstanding and coverage (people, not tubes) by district,
    street, community and grid — the current round from the snapshot, or counted live."""
    return platform.rosters.coverage(me, region=region, level=Level(level), live=live)


@router.get("/rosters/coverage.xlsx", response_class=Response,
            responses={200: {"content": {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}},
            openapi_extra=acts(Action.READ_COVERAGE))
def coverage_xlsx(me: Me, platform: PlatformDep, region: RegionFilter = None,
                  live: bool = False) -> Response:
    data = platform.rosters.export_xlsx(me, region=region, live=live)
    return Response(data, media_type="application/vnd.openxmlformats-officedocument."
                                     "spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="coverage.xlsx"'})


@router.get("/rosters/people", openapi_extra=acts(Action.READ_ROSTER))
def roster_people(me: Me, platform: PlatformDep, region: RegionFilter = None,
                  which: Literal["outstanding", "sampled", "exempt", "due"] = "outstanding",
                  hours: Annotated[float, Query(gt=0, le=720)] = 96,
                  limit: Annotated[int, Query(ge=1, le=5000)] = 500,
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> RosterPage:
    """The grid worker's list: masked names, address, household, masked phone, last outcome."""
    return platform.rosters.people(me, region=region, which=which,
                                   window=timedelta(hours=hours), limit=limit, offset=offset)


@router.post("/rosters/snapshot", openapi_extra=acts(Action.REFRESH_COVERAGE))
def refresh_snapshot(me: Me, platform: PlatformDep) -> CoverageSnapshot:
    return platform.rosters.refresh_snapshot(me)


class OutcomeIn(Strict):
    outcome: Outcome
    note: Note = None


@router.post("/people/{person_id}/roster-outcome", status_code=201,
             openapi_extra=acts(Action.RECORD_ROSTER_OUTCOME))
def roster_outcome(me: Me, platform: PlatformDep, person_id: str,
                   body: OutcomeIn) -> dict[str, str]:
    """One tap: reached / refused / away / needs_door_to_door."""
    return {"id": platform.rosters.record_outcome(me, person_id, body.outcome, body.note)}


@router.post("/people/{person_id}/reveal-phone",
             openapi_extra=acts(Action.REVEAL_PHONE))
def reveal_phone(me: Me, platform: PlatformDep, person_id: str) -> dict[str, str | None]:
    """The full phone number, on demand (the read is audited)."""
    return {"phone": platform.rosters.reveal_phone(me, person_id)}
