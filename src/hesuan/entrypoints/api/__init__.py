"""The HTTP API. ``create_app(platform)`` builds the FastAPI application; no global state.

``create_app`` is imported when first asked for, so that the web pages (which the app includes)
may use the API's modules, such as its station batch reader, without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hesuan.entrypoints.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from hesuan.entrypoints.api.app import create_app

        return create_app
    raise AttributeError(name)
