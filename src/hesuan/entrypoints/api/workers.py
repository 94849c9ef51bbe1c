"""Several server processes on one port (``hesuan serve --workers N``), each with its own
listening socket (``SO_REUSEPORT``), so that the kernel spreads connections over the workers.

Why not uvicorn's own ``workers=N``: there all workers accept from one shared socket, and the
first to wake takes every pending connection in one go. Stations hold their connections open
(keep-alive), so a burst of them stayed on one worker while the other sat idle (measured: 78 %
and 11 % CPU with 16 stations posting batches; BENCHMARKS.md). With a socket per worker the
kernel hashes each new connection to one of them.

The parent process only supervises: it starts the workers, restarts one that dies, and stops
them all on SIGINT or SIGTERM. A worker that cannot bind (the port is taken) stops the server.

Imports: standard library, uvicorn, ``hesuan.entrypoints.api.asgi`` (by import path).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

__all__ = ["serve_workers"]

log = logging.getLogger("hesuan.serve")

#: A worker that exits this soon after it started is failing to start, not crashing: give up.
_START_GRACE_S = 5.0
#: The exit code of a worker that could not bind its socket.
_BIND_FAILED = 3


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(app: str, host: str, port: int, options: dict[str, Any]) -> None:
    import uvicorn

    try:
        sock = _listen(host, port)
    except OSError as exc:
        log.error("worker cannot listen on %s:%s: %s", host, port, exc)
        raise SystemExit(_BIND_FAILED) from None
    config = uvicorn.Config(app, factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(app: str, n: int, host: str, port: int, **options: Any) -> int:
    """Run ``n`` worker processes serving the ASGI app factory at import path ``app`` on
    ``host:port`` until SIGINT or SIGTERM; returns the exit status (0, or 1 if the workers
    could not start)."""
    # spawn, not fork: the parent holds database connections and a scheduler thread
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> BaseProcess:
        p = ctx.Process(target=_worker, args=(app, host, port, options), name="hesuan-worker")
        p.start()
        started[p.pid or 0] = time.monotonic()
        return p

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    started: dict[int, float] = {}
    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs = [start() for _ in range(n)]
    status = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, p in enumerate(procs):
                if p.is_alive():
                    continue
                young = time.monotonic() - started.get(p.pid or 0, 0.0) < _START_GRACE_S
                if p.exitcode == _BIND_FAILED or (young and p.exitcode != 0):
                    log.error("worker %s exited with %s while starting: stopping", p.pid,
                              p.exitcode)
                    stopping, status = True, 1
                    break
                log.warning("worker %s exited with %s: starting another", p.pid, p.exitcode)
                procs[i] = start()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + 30
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()
        for s, h in old.items():
            signal.signal(s, h)
    return status
