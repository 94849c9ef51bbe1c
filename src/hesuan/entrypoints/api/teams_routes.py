"""HTTP routes of teams and their moves, staff, and shifts (start, end, the board; the team's
list). Thin: parse → service → render.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field

from hesuan.domain.access import Action
from hesuan.domain.shifts import StaffRole, TeamKind
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.entrypoints.api.schemas import Id, Instant, Note, Strict
from hesuan.services.teams import ShiftBoard, TeamMoved, TeamStaff
from hesuan.services.teams_ports import TeamRow

__all__ = ["router"]

router = APIRouter()

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
