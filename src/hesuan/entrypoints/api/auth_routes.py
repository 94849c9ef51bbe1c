"""HTTP routes of sign-in and accounts: a bearer token for a user name and password, ending
one, creating a user, and verifying the audit log.

Imports: FastAPI, ``hesuan.entrypoints.api``, ``hesuan.domain``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hesuan.domain.access import Action
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.deps import Me, PlatformDep

__all__ = ["router"]

router = APIRouter(tags=["auth"])


@router.post("/auth/token", openapi_extra=acts(Action.PUBLIC))
def token(body: s.TokenRequest, request: Request, platform: PlatformDep) -> s.TokenResponse:
    client = request.client.host if request.client else None
    return s.TokenResponse(access_token=platform.auth.login(body.username, body.password,
                                                            client))


@router.post("/auth/logout", status_code=204, openapi_extra=acts(Action.SIGNED_IN))
def logout(me: Me, platform: PlatformDep, request: Request) -> Response:
    """End this bearer token at once (other server processes refuse it within 10 s)."""
    platform.auth.logout(request.headers["authorization"].partition(" ")[2].strip())
    return Response(status_code=204)


@router.post("/users", status_code=201, openapi_extra=acts(Action.CREATE_USER))
def create_user(me: Me, platform: PlatformDep, body: s.UserCreate) -> s.Created:
    return s.Created(id=platform.auth.create_user(me, body.username, body.password,
                                                  body.role, body.scope))


@router.get("/audit/verify", openapi_extra=acts(Action.VERIFY_AUDIT))
def audit_verify(me: Me, platform: PlatformDep) -> s.AuditVerifyOut:
    return s.AuditVerifyOut.model_validate(platform.audit.verify(me).as_dict())
