"""The web pages: server-rendered Jinja2 pages for every role, calling the same
services as the API, progressively enhanced with a little JavaScript (no build step).

``router`` holds every page route; ``create_app`` includes it next to the API routes.
See docs/WEB.md.

Imports: FastAPI, the page modules of this package.
"""

from __future__ import annotations

from fastapi import APIRouter

from hesuan.entrypoints.web import (
    auth_routes,
    centre_routes,
    chain_routes,
    corrections_routes,
    fence_routes,
    lab_messages_routes,
    people_routes,
    plates_routes,
    rosters_routes,
    station_routes,
    zones_routes,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for _module in (auth_routes, station_routes, chain_routes, plates_routes, corrections_routes,
                lab_messages_routes, people_routes, rosters_routes, fence_routes, zones_routes,
                centre_routes):
    router.include_router(_module.router)
