"""The ASGI application factory for ``hesuan serve --workers N`` (N > 1): uvicorn starts each
worker process from this import path, and each wires its own platform from the same settings
(the ``HESUAN_*`` environment). The parent process has already migrated the database and runs
the scheduler; workers only serve.

Imports: FastAPI, ``hesuan.bootstrap``, ``hesuan.config``, ``hesuan.entrypoints.api``,
``hesuan.entrypoints.heap``.
"""

from __future__ import annotations

from fastapi import FastAPI

from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.entrypoints.api.app import create_app
from hesuan.entrypoints.heap import settle

__all__ = ["make_app"]


def make_app() -> FastAPI:
    app = create_app(bootstrap(Settings(), migrate=False))
    settle()  # what the worker built to serve is kept out of every later collection
    return app
