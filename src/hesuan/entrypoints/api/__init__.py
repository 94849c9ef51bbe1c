"""The HTTP API. ``create_app(platform)`` builds the FastAPI application; no global state."""

from hesuan.entrypoints.api.app import create_app

__all__ = ["create_app"]
