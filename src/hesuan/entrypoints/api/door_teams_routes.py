"""HTTP routes of door-to-door teams (上门采样): a team's assignments, its route, and one tube
per household. Thin: parse → service → render.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from hesuan.domain.access import Action
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.entrypoints.api.schemas import Id, Instant, Note, Strict
from hesuan.services.door_teams import HouseholdVisit, TeamAssignment, TeamRoute

__all__ = ["router"]

router = APIRouter()


class AssignIn(Strict):
    zone_id: str | None = Field(default=None, max_length=40)
    person_ids: list[Id] = Field(default_factory=list, max_length=100_000)
    household_pool: bool = True
    note: Note = None


@router.post("/door-teams/{site_id}/assignments", tags=["door-to-door"], status_code=201,
             openapi_extra=acts(Action.ASSIGN_TEAM))
def assign_team(me: Me, platform: PlatformDep, site_id: str, body: AssignIn) -> TeamAssignment:
    return platform.door_teams.assign(me, site_id, zone_id=body.zone_id,
                                      person_ids=body.person_ids,
                                      household_pool=body.household_pool, note=body.note)


@router.post("/door-teams/{site_id}/assignments/{assignment_id}/close",
             tags=["door-to-door"], openapi_extra=acts(Action.CLOSE_ASSIGNMENT))
def close_assignment(me: Me, platform: PlatformDep, site_id: str,
                     assignment_id: str) -> dict[str, str]:
    """The team's work on the assignment is done: it leaves the route."""
    platform.door_teams.close_assignment(me, assignment_id, site_id=site_id)
    return {"status": "done"}


@router.get("/door-teams/{site_id}/route", tags=["door-to-door"],
            openapi_extra=acts(Action.READ_TEAM_ROUTE))
def team_route(me: Me, platform: PlatformDep, site_id: str) -> TeamRoute:
    return platform.door_teams.route(me, site_id)


class VisitIn(Strict):
    event_id: str = Field(min_length=1, max_length=36)
    barcode: str = Field(min_length=1, max_length=40)
    at: Instant
    scanned: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=20,
        description="the sampling code (HS1:...) or resident ID number scanned for each "
                    "member sampled")
    single_barcodes: dict[Id, Annotated[str, Field(max_length=40)]] = Field(
        default_factory=dict, max_length=20)


@router.post("/door-teams/{site_id}/households/{household_id}/visit", tags=["door-to-door"],
             openapi_extra=acts(Action.VISIT_HOUSEHOLD))
def visit_household(me: Me, platform: PlatformDep, site_id: str, household_id: str,
                    body: VisitIn) -> HouseholdVisit:
    """One tube per household (一户一管): open, fill with the household, seal."""
    return platform.door_teams.visit_household(me, site_id, body.event_id, household_id,
                                               body.barcode, body.at, scanned=body.scanned,
                                               single_barcodes=body.single_barcodes)
