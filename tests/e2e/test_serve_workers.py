"""``hesuan serve --workers 2``: the real server with two worker processes on one SQLite file;
over fresh connections (which the kernel spreads over the workers' own sockets) a token is
honoured, an issued pass is checked valid, both workers do work, a revoked pass is refused once
the workers' revocation lists reload (5 s), and single scans are stored once each, a re-sent one
answered as a duplicate; a killed worker is replaced; a taken port stops the server; a crash
loop of one worker never stops the server nor the other worker."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.domain.sampling import make_tube_barcode
from hesuan.entrypoints.api.workers import serve_workers
from hesuan.sim.example import DEMO_PASSWORD, seed_example_city
from tests.helpers import free_port, start_server

pytestmark = pytest.mark.slow

SECRET = "workers-test-secret"


def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat[1] == str(pid):
                out.add(int(entry.name))
    return out


def _workers(pid: int) -> set[int]:
    """The worker processes of server ``pid`` (not multiprocessing's resource tracker)."""
    out = set()
    for child in _children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.add(child)
        except OSError:
            continue
    return out


def _cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[11]) + int(stat[12])  # utime + stime


def test_two_workers_share_one_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    env = {"HESUAN_DATABASE_URL": url, "HESUAN_SECRET_KEY": SECRET,
           "HESUAN_ENVIRONMENT": "test", "HESUAN_KEY_FILE": str(tmp_path / "secret.key"),
           "HESUAN_SMS_FILE": str(tmp_path / "sms.jsonl"),
           "HESUAN_PASS_KEY_DIR": str(tmp_path / "keys"), "HESUAN_SWEEP_EVERY": "P1D"}
    settings = Settings(database_url=url, secret_key=SECRET, environment="test",
                        key_file=tmp_path / "secret.key", sms_file=tmp_path / "sms.jsonl",
                        pass_key_dir=tmp_path / "keys")
    platform = bootstrap(settings)
    city = seed_example_city(platform, people=40)
    with platform.deps.uow(readonly=True) as uow:  # people with no key group: pooled tubes
        people = [r[0] for r in uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = '' ORDER BY id LIMIT 12")]
    codes = [platform.deps.codes.sign(p) for p in people]
    platform.close()

    port = free_port()
    proc = start_server(env, port, tmp_path, "--workers", "2", timeout_s=60)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while len(_workers(proc.pid)) < 2:  # both workers up
            assert time.monotonic() < deadline, "two worker processes did not start"
            time.sleep(0.2)

        def token(user: str) -> dict[str, str]:
            r = httpx.post(f"{base}/auth/token", json={"username": user,
                                                       "password": DEMO_PASSWORD})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        officer, sampler = token("officer"), token("sampler")
        issued = httpx.post(f"{base}/people/{people[0]}/pass", headers=officer)
        assert issued.status_code == 200, issued.text
        text = issued.json()["pass"]
        # a fresh connection each time: the kernel spreads them over both workers
        workers = _workers(proc.pid)
        before = {w: _cpu_ticks(w) for w in workers}
        for _ in range(60):
            r = httpx.post(f"{base}/verify", json={"pass": text}, headers=officer)
            assert r.status_code == 200 and r.json()["valid"] is True, r.text
        busy = {w for w in workers if _cpu_ticks(w) > before[w]}
        assert len(busy) >= 2, f"only {busy} of {workers} served the 60 connections"

        site = city.sites["140105"]
        now = datetime.now(UTC).isoformat()
        tube = make_tube_barcode(777)
        r = httpx.post(f"{base}/scans", headers=sampler, json={
            "event_id": str(uuid.uuid4()), "kind": "open_tube", "site_id": site, "at": now,
            "barcode": tube, "mode": 20})
        assert r.json()["status"] == "accepted", r.text
        events = [{"event_id": str(uuid.uuid4()), "kind": "sample", "site_id": site,
                   "at": now, "barcode": tube, "code": c} for c in codes]
        first = [httpx.post(f"{base}/scans", headers=sampler, json=e).json()["status"]
                 for e in events]  # a fresh connection each: both workers take some
        assert first == ["accepted"] * len(events)
        statuses = [httpx.post(f"{base}/scans", headers=sampler, json=e).json()["status"]
                    for e in events]
        assert statuses == ["duplicate"] * len(events)

        revoke = httpx.post(f"{base}/people/{people[0]}/pass/revoke", headers=officer,
                            json={"reason": "test"})
        assert revoke.status_code == 200 and revoke.json()["revoked"] == 1, revoke.text
        time.sleep(5.5)  # each worker reloads its revocation list within 5 s
        for _ in range(10):
            r = httpx.post(f"{base}/verify", json={"pass": text}, headers=officer)
            assert r.json()["valid"] is False and r.json()["reason_code"] == "revoked", r.text

        # a worker that dies is replaced, and the port keeps answering meanwhile
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(_workers(proc.pid) - workers) < 1 or victim in _workers(proc.pid):
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.2)
        for _ in range(10):
            assert httpx.get(f"{base}/health").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    platform = bootstrap(settings, migrate=False)
    with platform.deps.uow(readonly=True) as uow:
        conn = uow.conn  # type: ignore[attr-defined]
        n = conn.exec_driver_sql("SELECT count(*) FROM samples").scalar_one()
        d = conn.exec_driver_sql("SELECT count(DISTINCT person_id) FROM samples").scalar_one()
    platform.close()
    assert (n, d) == (len(people), len(people))


def test_a_taken_port_stops_the_workers() -> None:
    with socket.socket() as taken:  # no SO_REUSEPORT: the workers cannot join it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        t0 = time.monotonic()
        status = serve_workers("hesuan.entrypoints.api.asgi:make_app", 2, "127.0.0.1", port,
                               log_level="warning")
    assert status == 1
    assert time.monotonic() - t0 < 20


def test_a_port_another_servers_workers_hold_stops_the_workers(tmp_path: Path) -> None:
    """Two ``serve --workers 2`` on one port both started and split the connections (each
    worker's socket takes SO_REUSEPORT, so another server's joined it silently): a stale
    server, or one on another database, answered a share of the requests."""
    import sys

    url = f"sqlite:///{tmp_path / 'w.db'}"
    env = {"HESUAN_DATABASE_URL": url, "HESUAN_SECRET_KEY": SECRET,
           "HESUAN_ENVIRONMENT": "test", "HESUAN_KEY_FILE": str(tmp_path / "secret.key"),
           "HESUAN_SMS_FILE": str(tmp_path / "sms.jsonl"), "PATH": os.environ["PATH"],
           "HESUAN_PASS_KEY_DIR": str(tmp_path / "keys"), "HESUAN_SWEEP_EVERY": "P1D",
           "HESUAN_AUDIT_CHECKPOINT_DIR": str(tmp_path / "audit")}
    bootstrap(Settings(database_url=url, secret_key=SECRET, environment="test",
                       key_file=tmp_path / "secret.key", sms_file=tmp_path / "sms.jsonl",
                       pass_key_dir=tmp_path / "keys")).close()
    held: list[socket.socket] = []
    for _ in range(2):  # another server's two workers
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", held[0].getsockname()[1] if held else 0))
        s.listen()
        held.append(s)
    port = held[0].getsockname()[1]
    code = ("import sys; from hesuan.entrypoints.api.workers import serve_workers; "
            f"sys.exit(serve_workers('hesuan.entrypoints.api.asgi:make_app', 2, '127.0.0.1', "
            f"{port}, log_level='warning'))")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path)
    try:
        assert proc.wait(timeout=15) == 1
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # its workers stop with it
        proc.wait(timeout=60)
        pytest.fail("the workers started beside another server's on the same port")
    finally:
        for s in held:
            s.close()


def test_a_crash_loop_never_stops_the_server(tmp_path: Path) -> None:
    """A worker is killed, then each of its replacements while younger than 5 s, four times:
    the server does not exit, the other worker answers /health throughout (no gap of a second
    between answers to a client polling on fresh connections), and once the killing stops a
    replacement serves again."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    env = {"HESUAN_DATABASE_URL": url, "HESUAN_SECRET_KEY": SECRET,
           "HESUAN_ENVIRONMENT": "test", "HESUAN_KEY_FILE": str(tmp_path / "secret.key"),
           "HESUAN_SMS_FILE": str(tmp_path / "sms.jsonl"),
           "HESUAN_PASS_KEY_DIR": str(tmp_path / "keys"), "HESUAN_SWEEP_EVERY": "P1D"}
    port = free_port()
    proc = start_server(env, port, tmp_path, "--workers", "2", timeout_s=60)
    health = f"http://127.0.0.1:{port}/health"
    answered: list[float] = []
    polling = threading.Event()
    polling.set()

    def poll() -> None:  # a fresh connection each time: the kernel picks a worker's socket
        while polling.is_set():
            try:
                if httpx.get(health, timeout=0.5).status_code == 200:
                    answered.append(time.monotonic())
            except httpx.TransportError:
                pass
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    try:
        deadline = time.monotonic() + 30
        while len(_workers(proc.pid)) < 2:
            assert time.monotonic() < deadline, "two worker processes did not start"
            time.sleep(0.1)
        poller.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        victim = min(_workers(proc.pid))
        for killed in range(1, 6):  # the original worker, then four replacements under 5 s old
            survivors = _workers(proc.pid) - {victim}
            os.kill(victim, signal.SIGKILL)
            if killed == 5:
                break
            deadline = time.monotonic() + 20
            while not (new := _workers(proc.pid) - survivors - {victim}):
                assert proc.poll() is None, f"the server exited with {proc.returncode}"
                assert time.monotonic() < deadline, "the killed worker was not replaced"
                time.sleep(0.05)
            victim = min(new)
            time.sleep(0.3)  # a young replacement, killed while it starts
        # the killing stops: the server is still there and a replacement joins the survivor
        deadline = time.monotonic() + 40
        while len(_workers(proc.pid)) < 2:
            assert proc.poll() is None, f"the server exited with {proc.returncode}"
            assert time.monotonic() < deadline, "no replacement after the crash loop"
            time.sleep(0.1)
        time.sleep(3)
        assert proc.poll() is None, f"the server exited with {proc.returncode}"
        polling.clear()
        poller.join(5)
        during = [t for t in answered if t >= t0]
        gaps = [b - a for a, b in itertools.pairwise(during)]
        print(f"/health: {len(during)} answers, longest gap {max(gaps):.3f} s")
        assert len(during) > 20, f"only {len(during)} answers to /health"
        assert max(gaps) < 1.0, f"/health went unanswered for {max(gaps):.2f} s"
        # both workers serve again: fresh connections reach the replacement as well
        workers = _workers(proc.pid)
        before = {w: _cpu_ticks(w) for w in workers}
        for _ in range(60):
            assert httpx.get(health, timeout=2).status_code == 200
        assert all(_cpu_ticks(w) > before[w] for w in workers), "a worker served nothing"
    finally:
        polling.clear()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
