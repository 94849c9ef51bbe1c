"""The web pages (issue 6): server-rendered Jinja2 pages for every role, calling the same
services as the API, progressively enhanced with a little JavaScript (no build step).

``router`` holds every page route; ``create_app`` includes it next to the API routes.
See docs/WEB.md.

Imports: FastAPI, the page modules of this package.
"""

from __future__ import annotations

from fastapi import APIRouter

from hesuan.entrypoints.web import (
    routes_auth,
    routes_centre,
    routes_chain,
    routes_ground,
    routes_people,
    routes_station,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for _module in (routes_auth, routes_station, routes_chain, routes_people, routes_ground,
                routes_centre):
    router.include_router(_module.router)
