"""The ASGI application factory for ``hesuan serve --workers N`` (N > 1): uvicorn starts each
worker process from this import path, and each wires its own platform from the same settings
(the ``HESUAN_*`` environment). The parent process has already migrated the database and runs
the scheduler; workers only serve.

An invalid setting ends the worker with one line per setting on stderr (exit 2), as the CLI
says it, so a worker started by uvicorn itself (docs/DEPLOY.md) is as clear.

Imports: FastAPI, ``hesuan.bootstrap``, ``hesuan.config``, ``hesuan.domain``,
``hesuan.entrypoints.api``, ``hesuan.entrypoints.heap``.
"""

from __future__ import annotations

import sys

from fastapi import FastAPI

from hesuan.bootstrap import bootstrap
from hesuan.config import settings_from_environment
from hesuan.domain.errors import InvalidFields
from hesuan.entrypoints.api.app import create_app
from hesuan.entrypoints.heap import settle

__all__ = ["make_app"]


def make_app() -> FastAPI:
    try:
        settings = settings_from_environment()
    except InvalidFields as exc:  # one line per setting, as the CLI says it; no traceback
        for e in exc.errors:
            print(f"error [{e.code}] {e.message}", file=sys.stderr)
        raise SystemExit(2) from None
    app = create_app(bootstrap(settings, migrate=False))
    settle()  # what the worker built to serve is kept out of every later collection
    return app
