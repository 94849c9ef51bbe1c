"""``hesuan serve``: migrate the database and serve the API and web pages.

Imports: Typer, ``hesuan.entrypoints.cli.common``; at call time uvicorn, ``hesuan.bootstrap``,
``hesuan.config``, ``hesuan.entrypoints.api``, ``hesuan.entrypoints.heap``,
``hesuan.entrypoints.mllp``, ``hesuan.entrypoints.scheduler``.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated, Any

import typer

from hesuan.entrypoints.cli.common import environment_settings, failed

__all__ = ["register"]


def serve(host: Annotated[str | None, typer.Option()] = None,
          port: Annotated[int | None, typer.Option(
              min=1, max=65535, help="TCP port (default HESUAN_PORT, 8000)")] = None,
          workers: Annotated[int | None, typer.Option(
              min=1, max=64, help="server processes (default HESUAN_WORKERS, 1)")] = None,
          ) -> None:
    """Serve the API and the web pages.

    Uvicorn with httptools and uvloop. With several workers, this process migrates the
    database and runs the scheduler (and the MLLP listener when HESUAN_MLLP_PORT is set), and
    each worker process serves."""
    import uvicorn

    from hesuan.bootstrap import bootstrap
    from hesuan.domain.errors import HesuanError, InvalidInput
    from hesuan.entrypoints.api import create_app
    from hesuan.entrypoints.api.workers import port_free
    from hesuan.entrypoints.heap import settle
    from hesuan.entrypoints.scheduler import Scheduler

    settings = environment_settings()
    address = (host or settings.host, settings.port if port is None else port)
    if not port_free(*address):  # before the scheduler's first run, for a server never serving
        raise failed(InvalidInput(f"port: {address[0]}:{address[1]} is taken (another server "
                                  "is running?)", code="port_taken", field="port"))
    try:
        platform = bootstrap(settings, migrate=True)
    except HesuanError as exc:
        raise failed(exc) from None
    # this process checkpoints the WAL for every worker (they share the file)
    platform.start_checkpoints()
    n = workers or settings.workers
    scheduler = Scheduler(platform, settings.sweep_every.total_seconds())
    scheduler.start()
    listener = None
    if settings.mllp_port is not None and settings.mllp_lab:
        from hesuan.entrypoints.mllp import MllpListener

        listener = MllpListener(platform, settings.mllp_lab, settings.mllp_host,
                                settings.mllp_port)
    common: dict[str, Any] = {"host": host or settings.host,
                              "port": settings.port if port is None else port,
                              "http": "httptools", "loop": "uvloop", "log_level": "warning",
                              "access_log": False}
    try:
        if listener is not None:
            try:
                listener.start()
            except HesuanError as exc:  # the lab unknown, the port taken
                raise failed(exc) from None
        if n == 1:
            api = create_app(platform)
            settle()  # the workers settle in make_app
            # uvicorn shuts down gracefully on SIGTERM and then raises the signal again to
            # the handler it found: the default one would end the process before the
            # ``finally`` below (the last audit checkpoint); this one leaves through it
            signal.signal(signal.SIGTERM, _stopped)
            uvicorn.run(api, **common)
        else:
            from hesuan.entrypoints.api.workers import serve_workers

            host_, port_ = common.pop("host"), common.pop("port")
            status = serve_workers("hesuan.entrypoints.api.asgi:make_app", n, host_, port_,
                                   **common)
            if status:  # a worker's own exit status, passed on
                raise typer.Exit(status)
    finally:
        if listener is not None:
            listener.stop()
        scheduler.stop()
        platform.close()


def _stopped(_sig: int, _frame: FrameType | None) -> None:
    """SIGTERM outside uvicorn's own handling (before it serves, or raised again once it has
    shut down): leave through the ``finally`` blocks, exit status 0."""
    raise SystemExit(0)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
