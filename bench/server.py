"""The real server, as a child process: ``hesuan serve`` (uvicorn, httptools, uvloop) on
127.0.0.1 and a free port, with its settings in ``HESUAN_*`` variables, as an operator runs it.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

__all__ = ["Server", "cpu_seconds", "database_pid", "free_port", "process_tree"]

_SERVE = "from hesuan.entrypoints.cli import main; main()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (index 1: the parent's pid,
    11 and 12: user and system CPU ticks, 13 and 14: those of its exited children it has
    waited for); None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_tree(root: int) -> list[int]:
    """``root`` and every live process under it (Linux ``/proc``)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    tree, grew = [root], True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.append(pid)
                grew = True
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and the processes under it (the worker processes
    of ``serve --workers N``, a database's backends), those that have exited included (each
    process's reaped children's time), from Linux ``/proc``; 0.0 where unavailable."""
    ticks = 0
    for p in process_tree(pid):
        fields = _stat(p)
        if fields is not None:
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def database_pid(database_url: str) -> int | None:
    """The server process (postmaster) of a PostgreSQL database that runs on this machine,
    whose process tree does the database's work for every connection; None for SQLite, or a
    server elsewhere or out of sight of ``/proc``."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql") or url.host not in _LOCAL_HOSTS:
        return None
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as c:  # read while the backend serves this connection
            backend = int(c.execute(text("SELECT pg_backend_pid()")).scalar_one())
            fields = _stat(backend) if _is_postgres(backend) else None
    finally:
        engine.dispose()
    postmaster = None if fields is None else int(fields[1])
    return postmaster if postmaster is not None and _is_postgres(postmaster) else None


_LOCAL_HOSTS = (None, "", "127.0.0.1", "localhost", "::1")


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip().startswith("postgres")
    except OSError:
        return False


class Server:
    def __init__(self, database_url: str, secret_key: str, workdir: Path,
                 extra_env: dict[str, str] | None = None, src: Path | None = None,
                 workers: int = 1) -> None:
        """``src``: run the server from another checkout's ``src`` (before/after runs);
        ``workers``: server processes (``serve --workers``)."""
        self.port = free_port()
        self.workers = workers
        self.workdir = workdir
        if src is not None:
            extra_env = {"PYTHONPATH": str(src)} | (extra_env or {})
        self._env = os.environ.copy() | {
            "HESUAN_DATABASE_URL": database_url,
            "HESUAN_SECRET_KEY": secret_key,
            "HESUAN_ENVIRONMENT": "development",
            "HESUAN_SMS_SENDER": "file",
            "HESUAN_SMS_FILE": str(workdir / "sms.jsonl"),
            "HESUAN_KEY_FILE": str(workdir / "secret.key"),
            "HESUAN_PASS_KEY_DIR": str(workdir / "keys"),  # the bench issues passes in process
            "HESUAN_HOST": "127.0.0.1",
            "HESUAN_PORT": str(self.port),
            # the scheduler's sweep (every 3 min by default) is kept out of the measured runs
            "HESUAN_SWEEP_EVERY": "P1D",
        } | (extra_env or {})
        self._log = workdir / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        #: the database's server process on this machine (PostgreSQL), whose CPU is counted
        #: beside the app's: SQLite's work is inside the app's process
        self.database = database_pid(database_url)

    def __enter__(self) -> Self:
        log = self._log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, "serve", "--host", "127.0.0.1",
             "--port", str(self.port), *(["--workers", str(self.workers)]
                                         if self.workers > 1 else [])],
            env=self._env, stdout=log, stderr=subprocess.STDOUT, cwd=self._log.parent)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: "
                                   f"{self._log.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not answer /health within 60 s")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def database_cpu(self) -> float | None:
        """The CPU time of the database's whole cluster (None: none on this machine)."""
        return None if self.database is None else cpu_seconds(self.database)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def login(self, username: str, password: str) -> str:
        import json

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("POST", "/auth/token",
                     body=json.dumps({"username": username, "password": password}),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"login {username}: HTTP {resp.status} {body}")
        return str(body["access_token"])
