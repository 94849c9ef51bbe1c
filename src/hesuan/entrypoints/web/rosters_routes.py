"""The roster on the web (``/web/roster``): who is outstanding (or sampled, exempt, due) in my
grid — or, for an officer, in an area they choose — with masked names, address, household,
masked phone (revealed on demand, audited), colour, zone and the last outcome; one tap records
"reached / refused / away / needs door-to-door"; the Excel workbook to print
(``RosterService``).

Imports: FastAPI/Starlette, ``hesuan.domain``, ``hesuan.services``, the web package.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hesuan.domain.access import Action, Principal, Role, area_for
from hesuan.domain.digits import is_digits
from hesuan.domain.errors import InvalidInput
from hesuan.domain.regions import Level
from hesuan.domain.rosters import PAGE_SIZE, Outcome
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.web.forms import SignedForm, WebMe, text
from hesuan.entrypoints.web.render import FORM_ERRORS, WebRoute, error_text, redirect, render
from hesuan.entrypoints.web.session import platform_of
from hesuan.entrypoints.web.snapshots import snapshots
from hesuan.services.rosters import RosterPage

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_WHICH = ("outstanding", "exempt", "sampled", "due")


def _region(me: Principal, asked: str | None) -> str | None:
    """The area of a roster: the grid worker's grid; for an officer the area they ask for
    (a region code) narrowed to their own region as every read of an area is
    (``access.area_for``), else their own region; refused (403) for whom has no roster."""
    if me.role is Role.GRID_WORKER:
        return me.scope
    if not (asked and is_digits(asked) and len(asked) <= 15):
        asked = None
    return area_for(me, Action.READ_ROSTER, asked) or None


def _roster_page(request: Request, me: Principal, region: str | None, which: str,
                 page: int = 1, q: str = "", **extra: Any) -> Response:
    platform = platform_of(request)
    people: RosterPage | None = None
    error = extra.pop("error", None)
    more = False
    try:
        if q:  # a person found by ID number, phone or name in the area
            people = platform.rosters.find(me, q, region=region)
        elif region and len(region) >= 9:  # a community or a grid: a list one can walk
            people = platform.rosters.people(me, region=region, which=which,
                                             limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
            more = len(people.people) > PAGE_SIZE
            people = replace(people, people=people.people[:PAGE_SIZE],
                             count=min(people.count, PAGE_SIZE))
    except FORM_ERRORS as exc:
        error = error_text(request, exc)
    coverage = snapshots(request).get(
        me, f"roster-coverage:{region}",
        lambda: platform.rosters.coverage(me, region=region, level=Level.GRID))
    return render(request, "roster.html", me, region=region, which=which, whiches=_WHICH,
                  people=people, coverage=coverage, error=error, page=page, more=more, q=q,
                  **extra)


@router.get("/web/roster", openapi_extra=acts(Action.READ_ROSTER))
def roster_page(request: Request, me: WebMe, region: str | None = None,
                which: str = "outstanding", page: int = 1, q: str = "") -> Response:
    return _roster_page(request, me, _region(me, region),
                        which if which in _WHICH else "outstanding", max(1, min(page, 10_000)),
                        q.strip()[:60])


@router.post("/web/roster/{person_id}/outcome", openapi_extra=acts(Action.RECORD_ROSTER_OUTCOME))
def roster_outcome(request: Request, me: WebMe, form: SignedForm, person_id: str) -> Response:
    region = _region(me, text(form, "region", max_len=15))
    try:
        outcome = Outcome(text(form, "outcome", max_len=20))
    except ValueError:
        raise InvalidInput("outcome: choose one", code="bad_reason", field="outcome") from None
    platform_of(request).rosters.record_outcome(me, person_id, outcome,
                                                text(form, "note", max_len=200) or None)
    return redirect(f"/web/roster?region={region or ''}&which="
                    f"{text(form, 'which', max_len=12) or 'outstanding'}#p-{person_id}")


@router.post("/web/roster/{person_id}/phone", openapi_extra=acts(Action.REVEAL_PHONE))
def roster_phone(request: Request, me: WebMe, form: SignedForm, person_id: str) -> Response:
    region = _region(me, text(form, "region", max_len=15))
    phone = platform_of(request).rosters.reveal_phone(me, person_id)
    which = text(form, "which", max_len=12) or "outstanding"
    return _roster_page(request, me, region, which if which in _WHICH else "outstanding",
                        revealed={"person_id": person_id, "phone": phone})


@router.get("/web/roster.xlsx", openapi_extra=acts(Action.READ_ROSTER))
def roster_xlsx(request: Request, me: WebMe, region: str | None = None) -> Response:
    area = _region(me, region)
    data = platform_of(request).rosters.export_xlsx(me, region=area)
    name = f"roster-{area or 'city'}.xlsx"
    return Response(data, media_type="application/vnd.openxmlformats-officedocument."
                    "spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})
