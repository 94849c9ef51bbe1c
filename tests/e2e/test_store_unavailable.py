"""The real server when its store cannot write: a full disk (SQLite) and database connections
terminated mid-request (PostgreSQL).

A station batch and a sign-in are answered 503 with the JSON error body (``store_unavailable``,
saying that nothing was written) and ``Retry-After``, on a connection the server keeps: the
same connection serves the next request. ``/ready`` says not ready while the store cannot write
(``/health`` still answers: the process is alive). Nothing of the refused requests is stored,
and once the store can write again the same batch is accepted (not ``duplicate``) and the
sign-in succeeds.

SQLite: the database lives on a small tmpfs mounted here (root only; the test skips where
mounting is not allowed), filled up by a file and freed again. PostgreSQL: the test holds the
audit chain's advisory lock so that both requests wait inside their transactions, then ends
the server's connections with ``pg_terminate_backend`` (found by their ``application_name``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.domain.sampling import make_tube_barcode
from hesuan.sim.example import DEMO_PASSWORD, seed_example_city
from tests.helpers import free_port, postgres_database, start_server

pytestmark = pytest.mark.slow

SECRET = "store-unavailable-secret"
AUDIT_LOCK = 7_411_0001  # the audit chain's advisory lock (adapters/db/store.py)


@dataclass
class Seeded:
    env: dict[str, str]
    site_id: str
    token: str
    codes: list[str]


def _seed(database_url: str, tmp_path: Path) -> Seeded:
    env = {"HESUAN_DATABASE_URL": database_url, "HESUAN_SECRET_KEY": SECRET,
           "HESUAN_ENVIRONMENT": "test", "HESUAN_KEY_FILE": str(tmp_path / "secret.key"),
           "HESUAN_SMS_FILE": str(tmp_path / "sms.jsonl"),
           "HESUAN_PASS_KEY_DIR": str(tmp_path / "keys"), "HESUAN_SWEEP_EVERY": "P1D",
           "HESUAN_AUDIT_CHECKPOINT_DIR": str(tmp_path / "audit")}
    settings = Settings(database_url=database_url, secret_key=SECRET, environment="test",
                        key_file=tmp_path / "secret.key", sms_file=tmp_path / "sms.jsonl",
                        pass_key_dir=tmp_path / "keys", audit_checkpoint_dir=tmp_path / "audit")
    platform = bootstrap(settings)
    try:
        city = seed_example_city(platform, people=30)
        with platform.engine.connect() as c:
            people = [r[0] for r in c.execute(text(
                "SELECT id FROM people WHERE groups = '' ORDER BY id LIMIT 10"))]
        return Seeded(env=env, site_id=city.sites["140105"],
                      token=platform.auth.login("sampler", DEMO_PASSWORD),
                      codes=[platform.deps.codes.sign(p) for p in people])
    finally:
        platform.close()


def _batch(seeded: Seeded) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat()
    tube = make_tube_barcode(4242)
    return [{"event_id": str(uuid.uuid4()), "kind": "open_tube", "site_id": seeded.site_id,
             "at": now, "barcode": tube, "mode": 10},
            *({"event_id": str(uuid.uuid4()), "kind": "sample", "site_id": seeded.site_id,
               "at": now, "barcode": tube, "code": c} for c in seeded.codes)]


def _peer(r: httpx.Response) -> Any:
    """The client side of the connection ``r`` came on."""
    return r.extensions["network_stream"].get_extra_info("client_addr")


def _assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/json", r.headers
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers.get("connection", "").lower() != "close"
    error = r.json()["error"]
    assert error["code"] == "store_unavailable", error
    assert "nothing was written" in error["message"], error


def _login(client: httpx.Client) -> httpx.Response:
    return client.post("/auth/token", json={"username": "officer", "password": DEMO_PASSWORD})


@contextlib.contextmanager
def _server(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = start_server(env, port, tmp_path, timeout_s=60)
    try:
        yield f"http://127.0.0.1:{port}"
        assert proc.poll() is None, "the server exited"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _count(database_url: str, sql: str, **params: Any) -> int:
    eng = create_engine(database_url)
    try:
        with eng.connect() as c:
            return int(c.execute(text(sql), params).scalar_one())
    finally:
        eng.dispose()


# -- SQLite on a full disk ----------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte with one file."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while f.write(b"\0" * size):
                    pass
    return filler


def test_sqlite_full_disk_answers_503_and_recovers(small_disk: Path, tmp_path: Path) -> None:
    db = small_disk / "full.db"
    url = f"sqlite:///{db}"
    seeded = _seed(url, tmp_path)
    batch = _batch(seeded)
    sampler = {"Authorization": f"Bearer {seeded.token}"}
    with _server(seeded.env, tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.get("/ready").status_code == 200
        tokens = _count(url, "SELECT count(*) FROM tokens")
        audit = _count(url, "SELECT count(*) FROM audit_log")
        # an empty WAL, so that any write has to grow it; then no byte left on the disk
        with sqlite3.connect(db, timeout=30) as c:
            assert c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        filler = _fill(small_disk)

        r = _login(client)
        _assert_unavailable(r)
        peer = _peer(r)
        r = client.post("/scans/batch", json={"events": batch}, headers=sampler)
        _assert_unavailable(r)
        assert _peer(r) == peer, "the server closed the connection after a 503"
        time.sleep(2.5)  # past the readiness probe's cache
        r = client.get("/ready")
        assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable", r.text
        assert _peer(r) == peer
        assert client.get("/health").status_code == 200  # alive, not ready

        filler.unlink()  # the disk has room again
        assert _count(url, "SELECT count(*) FROM tokens") == tokens
        assert _count(url, "SELECT count(*) FROM audit_log") == audit
        assert _count(url, "SELECT count(*) FROM station_events") == 0
        time.sleep(2.5)
        assert client.get("/ready").status_code == 200
        r = client.post("/scans/batch", json={"events": batch}, headers=sampler)
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == len(batch), r.text
        assert _login(client).status_code == 200
        assert _peer(r) == peer
    assert _count(url, "SELECT count(*) FROM samples") == len(seeded.codes)


# -- PostgreSQL connections terminated ------------------------------------------------------


@pytest.fixture
def pg_database() -> Iterator[str]:
    with postgres_database(f"hesuan_503_{os.getpid()}") as url:
        yield url


@pytest.mark.postgres
def test_postgres_terminated_connections_answer_503_and_recover(pg_database: str,
                                                                tmp_path: Path) -> None:
    app_name = f"hesuan503_{os.getpid()}"
    seeded = _seed(pg_database, tmp_path)
    env = {**seeded.env, "HESUAN_DATABASE_URL": f"{pg_database}?application_name={app_name}"}
    batch = _batch(seeded)
    sampler = {"Authorization": f"Bearer {seeded.token}"}
    admin = create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with _server(env, tmp_path) as base, admin.connect() as c:
        assert httpx.get(f"{base}/ready").status_code == 200
        tokens = _count(pg_database, "SELECT count(*) FROM tokens")
        audit = _count(pg_database, "SELECT count(*) FROM audit_log")
        answers: dict[str, httpx.Response] = {}
        clients = {"batch": httpx.Client(base_url=base, timeout=30),
                   "login": httpx.Client(base_url=base, timeout=30)}
        peers = {k: _peer(cl.get("/health")) for k, cl in clients.items()}
        c.execute(text("SELECT pg_advisory_lock(:k)"), {"k": AUDIT_LOCK})
        calls = {"batch": lambda: clients["batch"].post("/scans/batch", json={"events": batch},
                                                        headers=sampler),
                 "login": lambda: _login(clients["login"])}
        threads = [threading.Thread(target=lambda k=k: answers.__setitem__(k, calls[k]()))
                   for k in calls]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 20  # both wait on the audit lock, in a transaction
            while c.execute(text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                    "WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = "
                    ":app"), {"app": app_name}).scalar_one() < 2:
                assert time.monotonic() < deadline, "the requests did not reach the lock"
                time.sleep(0.05)
            ended = c.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :app AND datname = current_database()"),
                {"app": app_name}).scalar_one()
            assert ended >= 2
        finally:
            c.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": AUDIT_LOCK})
            for t in threads:
                t.join(30)
        for k, r in answers.items():
            _assert_unavailable(r)
            assert _peer(r) == peers[k], f"{k}: the server closed the connection"
        assert set(answers) == {"batch", "login"}
        assert _count(pg_database, "SELECT count(*) FROM tokens") == tokens
        assert _count(pg_database, "SELECT count(*) FROM audit_log") == audit
        assert _count(pg_database, "SELECT count(*) FROM station_events") == 0
        # the pool has recovered: the same connections, the same requests, now stored
        time.sleep(2.5)
        assert clients["batch"].get("/ready").status_code == 200
        r = calls["batch"]()
        assert r.status_code == 200 and r.json()["accepted"] == len(batch), r.text
        assert _peer(r) == peers["batch"]
        assert calls["login"]().status_code == 200
        for cl in clients.values():
            cl.close()
    admin.dispose()
    assert _count(pg_database, "SELECT count(*) FROM samples") == len(seeded.codes)
