"""HTTP routes of people: registering a person, reading one (masked unless asked and
allowed), their history, and their sampling code as text, SVG or PNG.

Imports: FastAPI, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from hesuan.domain.access import Action
from hesuan.domain.people import IdKind
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.services.people import PersonHistory, PersonInput, PersonView

__all__ = ["router"]

router = APIRouter(tags=["people"])


@router.post("/people", status_code=201, openapi_extra=acts(Action.REGISTER_PERSON))
def register(me: Me, platform: PlatformDep, body: s.PersonIn) -> s.Created:
    return s.Created(id=platform.people.register(me, PersonInput(
        id_number=body.id_number, name=body.name, grid_code=body.grid_code,
        id_kind=IdKind(body.id_kind), phone=body.phone, groups=tuple(body.groups),
        language=body.language, household_id=body.household_id, address=body.address)))


@router.get("/people/{person_id}", openapi_extra=acts(Action.READ_PERSON))
def get_person(me: Me, platform: PlatformDep, person_id: str,
               unmask: bool = False) -> PersonView:
    return platform.people.get(me, person_id, unmask)


@router.get("/people/{person_id}/history", openapi_extra=acts(Action.READ_PERSON))
def person_history(me: Me, platform: PlatformDep, person_id: str) -> PersonHistory:
    return platform.people.history(me, person_id)


@router.get("/people/{person_id}/sampling-code", openapi_extra=acts(Action.READ_SAMPLING_CODE))
def sampling_code(me: Me, platform: PlatformDep, person_id: str) -> s.SamplingCodeOut:
    return s.SamplingCodeOut(code=platform.people.sampling_code(me, person_id))


@router.get("/people/{person_id}/sampling-code.svg",
            response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}},
            openapi_extra=acts(Action.READ_SAMPLING_CODE))
def sampling_code_svg(me: Me, platform: PlatformDep, person_id: str) -> Response:
    return Response(platform.people.sampling_code_image(me, person_id, "svg"),
                    media_type="image/svg+xml", headers={"Cache-Control": "private"})


@router.get("/people/{person_id}/sampling-code.png",
            response_class=Response, responses={200: {"content": {"image/png": {}}}},
            openapi_extra=acts(Action.READ_SAMPLING_CODE))
def sampling_code_png(me: Me, platform: PlatformDep, person_id: str) -> Response:
    return Response(platform.people.sampling_code_image(me, person_id, "png"),
                    media_type="image/png", headers={"Cache-Control": "private"})
