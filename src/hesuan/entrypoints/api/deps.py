"""FastAPI dependencies shared by the routers (``Annotated`` style): the platform and the
authenticated principal.

Imports: FastAPI, ``hesuan.bootstrap`` (types), ``hesuan.domain``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer

from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal
from hesuan.domain.errors import NotAuthenticated

__all__ = ["Me", "PlatformDep", "StaleRead", "current_principal", "get_platform",
           "platform_of"]

# The dependencies are ``async`` so as not to cost each request a trip through the thread
# pool; only a principal missing from the cache is read from the store, in the pool.
def platform_of(request: Request) -> Platform:
    """The platform the app was built with (for routes that skip the dependency machinery)."""
    platform: Platform = request.app.state.platform
    return platform


async def get_platform(request: Request) -> Platform:
    return platform_of(request)


PlatformDep = Annotated[Platform, Depends(get_platform)]


class _BearerPrincipal(HTTPBearer):
    """The bearer-token security scheme (it shows in the OpenAPI schema) that resolves the
    token to its principal itself: one dependency per request, not a chain of three."""

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        creds = await super().__call__(request)
        if creds is None:
            raise NotAuthenticated("an Authorization: Bearer token is required",
                                   code="missing_token")
        platform = platform_of(request)
        hit = platform.auth.cached(creds.credentials)
        if hit is not None:
            return hit
        return await run_in_threadpool(platform.auth.authenticate, creds.credentials)


current_principal = _BearerPrincipal(auto_error=False, scheme_name="HTTPBearer")

Me = Annotated[Principal, Depends(current_principal)]


def _stale_read(response: Response, request: Request,
                _me: Annotated[Principal, Depends(current_principal)]) -> None:
    """On a route whose reads may lag (reports, dashboards): which database serves them
    (``Hesuan-Read-From``: ``primary`` or ``replica``) and how many seconds behind the primary
    its data is (``Hesuan-Read-Age``; docs/DEPLOY.md). After the caller is authenticated;
    sync: the replica is asked in the thread pool."""
    reads = platform_of(request).reads
    response.headers["Hesuan-Read-From"] = reads.source
    response.headers["Hesuan-Read-Age"] = f"{reads.age_s():.3g}"


#: ``dependencies=[StaleRead]`` on a route that reads where ``Platform.reads`` says.
StaleRead = Depends(_stale_read)
