"""HTTP routes of teams: door-to-door teams (assignments, route, one tube per household), teams
and their moves, staff, and shifts (start, end, the board). Thin: parse → service → render.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import Field

from hesuan.domain.access import Action
from hesuan.domain.shifts import StaffRole, TeamKind
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.entrypoints.api.schemas import Id, Instant, Note, Strict
from hesuan.services.teams import (
    HouseholdVisit,
    ShiftBoard,
    TeamAssignment,
    TeamMoved,
    TeamRoute,
    TeamStaff,
)
from hesuan.services.teams_ports import TeamRow

__all__ = ["router"]

router = APIRouter()

# -- door-to-door teams --------------------------------------------------------------------------

class AssignIn(Strict):
    zone_id: str | None = Field(default=None, max_length=40)
    person_ids: list[Id] = Field(default_factory=list, max_length=100_000)
    household_pool: bool = True
    note: Note = None


@router.post("/door-teams/{site_id}/assignments", tags=["door-to-door"], status_code=201,
             openapi_extra=acts(Action.ASSIGN_TEAM))
def assign_team(me: Me, platform: PlatformDep, site_id: str, body: AssignIn) -> TeamAssignment:
    return platform.teams.assign(me, site_id, zone_id=body.zone_id, person_ids=body.person_ids,
                                 household_pool=body.household_pool, note=body.note)


@router.get("/door-teams/{site_id}/route", tags=["door-to-door"],
            openapi_extra=acts(Action.READ_TEAM_ROUTE))
def team_route(me: Me, platform: PlatformDep, site_id: str) -> TeamRoute:
    return platform.teams.route(me, site_id)


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
    return platform.teams.visit_household(me, site_id, body.event_id, household_id,
                                          body.barcode, body.at, scanned=body.scanned,
                                          single_barcodes=body.single_barcodes)


# -- teams, staff, shifts ------------------------------------------------------------------------

PlaceKindLit = Literal["site", "checkpoint", "region"]


class TeamIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    kind: TeamKind
    place_kind: PlaceKindLit
    place_id: Id


class MoveIn(Strict):
    to_kind: PlaceKindLit
    to_id: Id
    note: Note = None


class StaffIn(Strict):
    name: str = Field(min_length=1, max_length=60)
    role: StaffRole
    team_id: str | None = Field(default=None, max_length=40)


class ShiftStartIn(Strict):
    staff_id: Id
    place_kind: PlaceKindLit = "site"
    place_id: Id
    window: int | None = Field(default=None, ge=1, le=50)
    at: Instant | None = None


class ShiftEndIn(Strict):
    staff_id: Id
    at: Instant | None = None


@router.post("/teams", tags=["staff"], status_code=201, openapi_extra=acts(Action.MANAGE_TEAMS))
def add_team(me: Me, platform: PlatformDep, body: TeamIn) -> dict[str, str]:
    return {"id": platform.teams.add_team(me, body.name, body.kind, body.place_kind,
                                          body.place_id)}


@router.get("/teams", tags=["staff"], openapi_extra=acts(Action.READ_TEAMS))
def list_teams(me: Me, platform: PlatformDep) -> list[TeamRow]:
    return platform.teams.teams(me)


@router.get("/teams/{team_id}/staff", tags=["staff"], openapi_extra=acts(Action.READ_TEAM_STAFF))
def team_staff(me: Me, platform: PlatformDep, team_id: str) -> TeamStaff:
    """A team's people: who is on where, hours today, and when each may next start."""
    return platform.teams.team_staff(me, team_id)


@router.post("/teams/{team_id}/move", tags=["staff"], openapi_extra=acts(Action.MANAGE_TEAMS))
def move_team(me: Me, platform: PlatformDep, team_id: str, body: MoveIn) -> TeamMoved:
    """Move a team to a site, a checkpoint (支援交通卡口) or a district."""
    return platform.teams.move_team(me, team_id, body.to_kind, body.to_id, body.note)


@router.post("/staff", tags=["staff"], status_code=201, openapi_extra=acts(Action.REGISTER_STAFF))
def add_staff(me: Me, platform: PlatformDep, body: StaffIn) -> dict[str, str]:
    return {"id": platform.teams.add_staff(me, body.name, body.role, body.team_id)}


@router.post("/shifts/start", tags=["staff"], status_code=201,
             openapi_extra=acts(Action.MANAGE_SHIFTS))
def start_shift(me: Me, platform: PlatformDep, body: ShiftStartIn) -> dict[str, str]:
    return {"id": platform.teams.start_shift(me, body.staff_id, body.place_kind, body.place_id,
                                             body.window, body.at)}


@router.post("/shifts/end", tags=["staff"], openapi_extra=acts(Action.MANAGE_SHIFTS))
def end_shift(me: Me, platform: PlatformDep, body: ShiftEndIn) -> dict[str, str]:
    platform.teams.end_shift(me, body.staff_id, body.at)
    return {"status": "ended"}


@router.get("/shifts/board/{place_id}", tags=["staff"], openapi_extra=acts(Action.READ_SITE_BOARD))
def shift_board(me: Me, platform: PlatformDep, place_id: str) -> ShiftBoard:
    """Who is on, since when, when each must rotate and why; staffed windows."""
    return platform.teams.board(me, place_id)
