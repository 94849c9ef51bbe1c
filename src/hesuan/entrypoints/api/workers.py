"""Several server processes on one port (``hesuan serve --workers N``), each with its own
listening socket (``SO_REUSEPORT``), so that the kernel spreads connections over the workers.

Why not uvicorn's own ``workers=N``, nor gunicorn with uvicorn workers: there all workers accept
from one shared socket, and the first to wake takes every pending connection in one go.
Stations hold their connections open (keep-alive), so a burst of them stays on one worker
while the others sit idle. With a socket per worker the kernel hashes each new connection to
one of them.
Gunicorn also forks its workers from the arbiter, which here holds database connections, the
scheduler's thread and the WAL checkpointer's; these workers are spawned.

The parent process only supervises: it starts the workers, replaces one that dies, and stops
them all on SIGINT or SIGTERM. A death never stops the server: the other workers go on
serving, and a worker that dies again soon after its start (a crash loop) is replaced after a
delay that doubles each time (0.5 s up to 10 s) and returns to nothing once a worker has lived
10 s. Only a worker that cannot bind its socket or load the app before any worker has ever
served (the port is taken, the configuration is broken) stops the server, with status 1; so
does a port another server listens on, found before any worker starts (its workers' sockets
would otherwise let these join them, and the two servers would split the connections).

A worker loads the app before it opens its socket: the kernel hands a socket new connections
as soon as it listens, so a socket opened early would hold them while the app loads (or lose
them if the worker dies meanwhile) though another worker could answer them at once.

Imports: standard library, uvicorn, ``hesuan.entrypoints.api.asgi`` (by import path).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from types import FrameType
from typing import Any

__all__ = ["port_free", "restart_delay", "serve_workers"]

log = logging.getLogger("hesuan.serve")

#: A worker that lived this long was serving, not crash-looping: its replacement starts at once.
_STABLE_S = 10.0
#: The delay before replacing a worker after its first quick death; doubled for each further one.
_BACKOFF_S = 0.5
#: The longest delay before a replacement.
_BACKOFF_CAP_S = 10.0
#: The exit code of a worker that could not bind its socket.
_BIND_FAILED = 3
#: The exit code of a worker that could not load the app.
_BOOT_FAILED = 4


def restart_delay(quick_deaths: int) -> float:
    """Seconds to wait before replacing a worker after ``quick_deaths`` deaths in a row, each
    within ``_STABLE_S`` of its start (0: it had been serving)."""
    if quick_deaths <= 0:
        return 0.0
    return min(_BACKOFF_CAP_S, _BACKOFF_S * 2.0 ** (quick_deaths - 1))


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def port_free(host: str, port: int) -> bool:
    """Whether no one listens on ``host:port``: a socket bound without SO_REUSEPORT cannot
    share the port with another server's workers (whose sockets the kernel would otherwise
    let this server's join, splitting the connections between two servers)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _worker(app: str, host: str, port: int, options: dict[str, Any], served: Event) -> None:
    import uvicorn

    config = uvicorn.Config(app, factory=True, **options)
    try:
        config.load()  # uvicorn exits (SystemExit) when the app cannot be imported or built
    except BaseException:
        log.exception("worker cannot load %s", app)
        raise SystemExit(_BOOT_FAILED) from None
    try:
        sock = _listen(host, port)
    except OSError as exc:
        log.error("worker cannot listen on %s:%s: %s", host, port, exc)
        raise SystemExit(_BIND_FAILED) from None
    served.set()
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class _Slot:
    """One worker's place: its process (None while a replacement waits for its delay), when
    it started, its quick deaths in a row, and when its replacement is due."""

    proc: BaseProcess | None = None
    started: float = 0.0
    quick_deaths: int = 0
    due: float = 0.0


def serve_workers(app: str, n: int, host: str, port: int, **options: Any) -> int:
    """Run ``n`` worker processes serving the ASGI app factory at import path ``app`` on
    ``host:port`` until SIGINT or SIGTERM; returns the exit status (0, or 1 if the workers
    could not start)."""
    if not port_free(host, port):
        log.error("%s:%s is taken (another server?): not starting", host, port)
        return 1
    # spawn, not fork: the parent holds database connections and a scheduler thread
    ctx = multiprocessing.get_context("spawn")
    served = ctx.Event()  # set by the first worker that loaded the app and opened its socket
    stopping = False

    def start(slot: _Slot) -> None:
        slot.proc = ctx.Process(target=_worker, args=(app, host, port, options, served),
                                name="hesuan-worker")
        slot.proc.start()
        slot.started = time.monotonic()

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    slots = [_Slot() for _ in range(n)]
    for slot in slots:
        start(slot)
    status = 0
    try:
        while not stopping:
            time.sleep(0.1)
            for slot in slots:
                now = time.monotonic()
                if slot.proc is None:
                    if now >= slot.due:
                        start(slot)
                    continue
                if slot.proc.is_alive():
                    continue
                code = slot.proc.exitcode
                if code in (_BIND_FAILED, _BOOT_FAILED) and not served.is_set():
                    log.error("worker %s exited with %s while starting: stopping",
                              slot.proc.pid, code)
                    stopping, status = True, 1
                    break
                lived = now - slot.started
                slot.quick_deaths = slot.quick_deaths + 1 if lived < _STABLE_S else 0
                delay = restart_delay(slot.quick_deaths)
                log.warning("worker %s exited with %s after %.1f s: another in %.1f s",
                            slot.proc.pid, code, lived, delay)
                slot.proc, slot.due = None, now + delay
    finally:
        procs = [slot.proc for slot in slots if slot.proc is not None]
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
