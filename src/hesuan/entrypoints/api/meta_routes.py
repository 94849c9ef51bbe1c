"""HTTP routes about the service itself: ``/health`` (it answers) and ``/ready`` (its store
can write now). Both are public.

Imports: FastAPI, ``hesuan.entrypoints.api.deps``, ``hesuan.domain``.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from hesuan import __version__
from hesuan.domain.access import Action
from hesuan.domain.errors import StoreUnavailable
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.deps import PlatformDep

__all__ = ["router"]

router = APIRouter(tags=["meta"])


@router.get("/health", openapi_extra=acts(Action.PUBLIC))
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/ready", openapi_extra=acts(Action.PUBLIC))
async def ready(platform: PlatformDep) -> dict[str, str]:
    """Whether the store can write now: 200, or 503 ``store_unavailable`` with
    ``Retry-After`` (a full disk, a lost database connection). The answer is at most 2 s
    old (``adapters/db/readiness.py``)."""
    problem = await run_in_threadpool(platform.readiness.check)
    if problem is not None:  # a fresh error: the kept one is shared by every caller
        raise StoreUnavailable(problem.message, retry_after=problem.retry_after)
    return {"status": "ready", "version": __version__}
