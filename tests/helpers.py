"""Test helpers: an API client logged in per role, an application client in the test's own
thread, station-event builders, and the real server (``hesuan serve``) started in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator, FormatChecker

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.config import Settings
from hesuan.sim.example import DEMO_PASSWORD, ExampleCity

__all__ = [
    "HESUAN",
    "Api",
    "AppClient",
    "Station",
    "barcodes",
    "boxes",
    "free_port",
    "postgres_database",
    "received_pools",
    "schema_problems",
    "start_server",
    "web_sign_in",
]

T = TypeVar("T")

HESUAN = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "hesuan"


class AppClient:
    """Requests to the application in the calling thread's own event loop, through httpx's ASGI
    transport: some 2.5 ms of CPU less a request than Starlette's ``TestClient``, whose every
    request crosses to its portal's thread and back. The application's lifespan is not run, and
    redirects are not followed unless asked (httpx's default). For tests that send thousands of
    requests.

    The thread may already have a loop running: Playwright's synchronous API (the browser tests'
    session-wide browser) keeps its own loop marked running in the main thread between calls.
    That mark is set aside while a request runs here and put back after."""

    def __init__(self, app: Any, base_url: str = "http://testserver") -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url=base_url)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._client.cookies

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._run(self._client.request(method, url, **kwargs))

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        other = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)
        try:
            return self._loop.run_until_complete(work)
        finally:
            asyncio.events._set_running_loop(other)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._run(self._client.aclose())
        self._loop.close()
#: The JSON Schemas of the reports (docs/REPORTS.md)
SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"


def schema_problems(name: str, data: Any) -> list[str]:
    """Where ``data`` departs from the report schema ``docs/schemas/<name>.schema.json`` (the
    first ten places; none when it holds to it)."""
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(data)][:10]


def barcodes(start: int = 1) -> Iterator[str]:
    from hesuan.domain.sampling import make_tube_barcode

    n = start
    while True:
        yield make_tube_barcode(n)
        n += 1


def received_pools(p: Platform, clock: FixedClock, lab_id: str, site: str, people: list[str],
                   tubes: list[str], pool: int, box: str) -> None:
    """Each of ``tubes`` filled at ``site`` with the next ``pool`` of ``people`` (a mode of
    ``pool``: sealed when full), all boxed in ``box``, sealed and received whole by ``lab_id``
    an hour later; the clock then two hours on, where a lab's results meet them."""
    from datetime import timedelta

    from hesuan.domain.access import Principal, Role
    from hesuan.services.sampling import EventKind, StationEvent

    def ev(kind: EventKind, **kw: Any) -> StationEvent:
        return StationEvent(event_id=str(uuid.uuid4()), kind=kind, site_id=site,
                            at=clock.now(), **kw)

    events: list[StationEvent] = []
    for i, bc in enumerate(tubes):
        events.append(ev(EventKind.OPEN_TUBE, barcode=bc, mode=pool))
        events += [ev(EventKind.SAMPLE, barcode=bc, code=p.deps.codes.sign(pid))
                   for pid in people[i * pool:(i + 1) * pool]]
    events += [ev(EventKind.BOX_TUBE, barcode=bc, box_code=box) for bc in tubes]
    events.append(ev(EventKind.SEAL_BOX, box_code=box))
    out = p.sampling.submit(Principal("u-s", "sampler", Role.SAMPLER, site), events)
    assert all(o.status == "accepted" for o in out), [o for o in out if o.status != "accepted"]
    clock.advance(timedelta(hours=1))
    receipt = p.delivery.receive(Principal("u-l", "lab", Role.LAB, lab_id), str(uuid.uuid4()),
                                 lab_id, box, clock.now(), tubes)
    assert receipt.received == len(tubes) and not receipt.discrepancy
    clock.advance(timedelta(hours=2))


def boxes(start: int = 1) -> Iterator[str]:
    from hesuan.domain.sampling import make_box_code

    n = start
    while True:
        yield make_box_code(n)
        n += 1


@dataclass
class Api:
    client: TestClient
    platform: Platform
    city: ExampleCity
    clock: FixedClock
    _tokens: dict[str, str] = field(default_factory=dict)

    def h(self, user: str) -> dict[str, str]:
        if user not in self._tokens:
            r = self.client.post("/auth/token", json={"username": user,
                                                      "password": DEMO_PASSWORD})
            assert r.status_code == 200, r.text
            self._tokens[user] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[user]}"}

    def people(self, where: str = "groups = ''", limit: int = 100) -> list[str]:
        with self.platform.deps.uow(readonly=True) as uow:
            rows = uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
                f"SELECT id FROM people WHERE {where} ORDER BY id LIMIT {limit}").all()
        return [r[0] for r in rows]

    def code(self, person_id: str) -> str:
        return self.platform.deps.codes.sign(person_id)

    def count(self, sql: str) -> Any:
        with self.platform.deps.uow(readonly=True) as uow:
            return uow.conn.exec_driver_sql(sql).scalar()  # type: ignore[attr-defined]


@dataclass
class Station:
    site_id: str
    clock: FixedClock

    def ev(self, kind: str, at: datetime | None = None, **kw: Any) -> dict[str, Any]:
        return {"event_id": str(uuid.uuid4()), "kind": kind, "site_id": self.site_id,
                "at": (at or self.clock.now()).isoformat(), **kw}

    def fill(self, barcode: str, codes: list[str], mode: int = 10) -> list[dict[str, Any]]:
        return [self.ev("open_tube", barcode=barcode, mode=mode)] + [
            self.ev("sample", barcode=barcode, code=c) for c in codes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(env: dict[str, str], port: int, cwd: Path, *args: str,
                 timeout_s: float = 30) -> subprocess.Popen[bytes]:
    """``hesuan serve`` on 127.0.0.1:``port`` (extra ``args`` such as ``--workers 2``), with
    ``env`` over this process's environment; returns once ``/health`` answers."""
    log = (cwd / f"server-{time.monotonic_ns()}.log").open("wb")
    proc = subprocess.Popen([str(HESUAN), "serve", "--host", "127.0.0.1", "--port", str(port),
                             *args], env={**os.environ, **env}, cwd=cwd, stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {log.name}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server did not start within {timeout_s:g} s")


def web_sign_in(client: TestClient, user: str) -> str:
    """Sign in on the web with the login form's CSRF token; the signed-in page's token for
    forms."""
    client.cookies.clear()
    page = client.get("/web/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post("/web/login", data={"username": user, "password": DEMO_PASSWORD,
                                        "csrf": token.group(1)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    csrf = re.search(r'name="csrf-token" content="([^"]+)"',
                     client.get(r.headers["location"]).text)
    assert csrf is not None
    return csrf.group(1)


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A PostgreSQL database of its own (``name``, made afresh and dropped after), for a test
    whose server processes need one; skips the test when PostgreSQL is not reachable."""
    import pytest
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tests.conftest import PG_URL, _pg_available

    if not _pg_available():
        pytest.skip("PostgreSQL is not reachable")
    admin = create_engine(make_url(PG_URL).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def cli_env(settings: Settings | None = None, **extra: str) -> dict[str, str]:
    """A clean environment for a CLI subprocess: test settings, no colour, wide lines, and
    the stores of ``settings`` when given; ``extra`` over all of it."""
    env = {"PATH": "/usr/bin:/bin", "HESUAN_ENVIRONMENT": "test",
           "HESUAN_SECRET_KEY": "test-secret", "COLUMNS": "200", "NO_COLOR": "1"}
    if settings is not None:
        env |= {"HESUAN_DATABASE_URL": settings.database_url,
                "HESUAN_KEY_FILE": str(settings.key_file),
                "HESUAN_PASS_KEY_DIR": str(settings.pass_key_dir),
                "HESUAN_AUDIT_CHECKPOINT_DIR": str(settings.audit_checkpoint_dir)}
    return env | extra


@contextmanager
def slowed(owner: type, name: str, seconds: float = 0.3) -> Iterator[None]:
    """``owner.name`` (a repository's read) sleeps ``seconds`` after it reads while the block
    runs: it widens the window between a read and the write that follows it, so that two
    requests at once interleave as two real ones may."""
    read = getattr(owner, name)

    def slow(self: Any, *args: Any, **kwargs: Any) -> Any:
        got = read(self, *args, **kwargs)
        time.sleep(seconds)
        return got

    setattr(owner, name, slow)
    try:
        yield
    finally:
        setattr(owner, name, read)


def at_once(*calls: Any, stagger: float = 0.05) -> None:
    """Run ``calls`` each in its own thread, started ``stagger`` seconds apart (in order), and
    wait for all of them."""
    import threading

    threads = [threading.Thread(target=call) for call in calls]
    for i, t in enumerate(threads):
        if i:
            time.sleep(stagger)
        t.start()
    for t in threads:
        t.join()
