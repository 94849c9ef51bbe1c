"""FastAPI dependencies shared by the routers (``Annotated`` style): the platform and the
authenticated principal.

Imports: FastAPI, ``hesuan.bootstrap`` (types), ``hesuan.domain``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal
from hesuan.domain.errors import NotAuthenticated

__all__ = ["Me", "PlatformDep", "current_principal", "get_platform"]

_bearer = HTTPBearer(auto_error=False)


# Both dependencies are ``async`` so as not to cost each request a trip through the thread
# pool; only a principal missing from the cache is read from the store, in the pool.
async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def current_principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    platform: Platform = request.app.state.platform  # not PlatformDep: one resolution less
    if creds is None:
        raise NotAuthenticated("an Authorization: Bearer token is required",
                               code="missing_token")
    hit = platform.auth.cached(creds.credentials)
    if hit is not None:
        return hit
    return await run_in_threadpool(platform.auth.authenticate, creds.credentials)


Me = Annotated[Principal, Depends(current_principal)]
