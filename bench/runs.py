"""The measured runs. Each function does its own untimed set-up, then times one thing.

* ``health``       GET /health through uvicorn (our client; and ``wrk`` when installed)
* ``batch_scans``  POST /scans/batch, 1,000-event batches, one client per sampling site
* ``single_scans`` POST /scans, one event a request, C keep-alive connections (windows)
* ``fanout``       a 10-in-1 results file through ``LabService.import_rows`` (in process)
* ``verify``       POST /verify, real passes (issued in process, same key directory), C connections
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.loadgen import build_request, run_load
from bench.server import Server
from bench.world import TUBE_SIZE, World
from hesuan.adapters.db.schema import person_status, to_ms
from hesuan.domain.access import Principal, Role
from hesuan.services.sampling import EventKind, StationEvent

__all__ = ["batch_scans", "fanout", "health_client", "health_wrk", "single_scans", "verify",
           "verify_wrk"]


def _timed_load(server: Server, per_conn: Sequence[Sequence[bytes]], check: Any,
                time_limit_s: float) -> dict[str, Any]:
    cpu_srv, cpu_db, cpu_me = server.cpu(), server.database_cpu(), time.process_time()
    res = run_load(server.port, per_conn, check=check, time_limit_s=time_limit_s)
    out = res.summary()
    cpu = server.cpu() - cpu_srv
    out["server_cpu_pct"] = round(100 * cpu / res.elapsed_s, 1)
    # CPU the server spent per request: steadier than wall rates on a shared machine
    out["server_cpu_ms_per_req"] = round(1000 * cpu / res.requests, 3) if res.requests else None
    if cpu_db is not None:  # PostgreSQL: the cluster's share of the work, beside the app's
        db = (server.database_cpu() or 0.0) - cpu_db
        out["database_cpu_pct"] = round(100 * db / res.elapsed_s, 1)
        out["database_cpu_ms_per_req"] = (round(1000 * db / res.requests, 3) if res.requests
                                          else None)
    out["client_cpu_pct"] = round(100 * (time.process_time() - cpu_me) / res.elapsed_s, 1)
    return out


# -- /health ------------------------------------------------------------------------------

def health_client(server: Server, requests: int, connections: int,
                  time_limit_s: float) -> dict[str, Any]:
    per = max(1, requests // connections)
    raw = build_request("GET", "/health", port=server.port)
    return _timed_load(server, [[raw] * per for _ in range(connections)],
                       lambda b: None if b.startswith(b'{"status":"ok"') else repr(b[:80]),
                       time_limit_s)


_WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_PCT = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def health_wrk(server: Server, seconds: int, connections: int) -> dict[str, Any] | None:
    """``wrk`` against /health for a fixed time (None when wrk is not installed)."""
    return _wrk(server, seconds, connections, "/health")


def _wrk(server: Server, seconds: int, connections: int, path: str,
         script: Path | None = None) -> dict[str, Any] | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    cpu_srv = server.cpu()
    cmd = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
           *(["-s", str(script)] if script else []), f"http://127.0.0.1:{server.port}{path}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True)
    elapsed = time.perf_counter() - t0
    m = _WRK_RATE.search(proc.stdout)
    if m is None:
        raise RuntimeError(f"unexpected wrk output:\n{proc.stdout}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    pct = {p: float(v) * scale[u] for p, v, u in _WRK_PCT.findall(proc.stdout)}
    errors = "Non-2xx" in proc.stdout or "Socket errors" in proc.stdout
    return {"rate_per_s": float(m.group(1)), "p50_ms": round(pct.get("50", math.nan), 2),
            "p90_ms": round(pct.get("90", math.nan), 2),
            "p99_ms": round(pct.get("99", math.nan), 2), "errors": int(errors),
            "server_cpu_pct": round(100 * (server.cpu() - cpu_srv) / elapsed, 1),
            "tool": "wrk -t2", "connections": connections}


# -- station scans over HTTP --------------------------------------------------------------

def _check_batch(body: bytes) -> str | None:
    out = json.loads(body)
    if out["rejected"] or out["duplicate"]:
        bad = next(r for r in out["results"] if r["status"] != "accepted")
        return f"{out['rejected']} rejected, {out['duplicate']} duplicate; first: {bad}"
    return None


def _check_single(body: bytes) -> str | None:
    return None if b'"status":"accepted"' in body else body[:300].decode(errors="replace")


def _enough_people(world: World, n: int) -> None:
    """Concurrent stations must not scan the same person into two open tubes."""
    if n > len(world.poolable):
        raise SystemExit(f"this run scans {n:,} people at once but the city has only "
                         f"{len(world.poolable):,} who may be pooled: raise --people")


def _people_for_events(events: int) -> int:
    """People whose boxed station stream has at least ``events`` events (12-13 a tube)."""
    return (events // (TUBE_SIZE + 2) + 1) * TUBE_SIZE


def batch_scans(world: World, server: Server, tokens: list[str], *, clients: int,
                batches: int, time_limit_s: float) -> dict[str, Any]:
    """``clients`` stations (own site, own sampler) each post ``batches`` batches of 1,000
    events at once; scans/s = accepted events / wall time. The tail of each station's stream
    (finishing its last tube and box) is posted after the clock stops."""
    per_conn: list[list[bytes]] = []
    tails: list[list[bytes]] = []
    _enough_people(world, clients * _people_for_events(batches * 1000))
    for k in range(clients):
        site = world.sites[k % len(world.sites)]
        token = tokens[k % len(tokens)]
        events = list(world.station_stream(site, world.take_people(
            _people_for_events(batches * 1000)), boxed=True))
        chunks = [events[i:i + 1000] for i in range(0, len(events), 1000)]
        per_conn.append([build_request("POST", "/scans/batch", body={"events": c},
                                       token=token, port=server.port)
                         for c in chunks[:batches]])
        tails.append([build_request("POST", "/scans/batch", body={"events": c}, token=token,
                                    port=server.port) for c in chunks[batches:]])
    out = _timed_load(server, per_conn, _check_batch, time_limit_s)
    out["scans"] = out["requests"] * 1000
    out["scans_per_s"] = round(out["scans"] / out["elapsed_s"], 1)
    if out["server_cpu_ms_per_req"] is not None:
        out["server_cpu_us_per_scan"] = round(out["server_cpu_ms_per_req"], 1)
    out["clients"] = clients
    tail = run_load(server.port, tails, check=_check_batch, time_limit_s=120)
    if tail.errors:
        raise RuntimeError(f"tail batches failed: {tail.first_error}")
    return out


def single_scans(world: World, server: Server, tokens: list[str], *, connections: int,
                 tubes_per_connection: int, time_limit_s: float) -> dict[str, Any]:
    """``connections`` windows each scan ``tubes_per_connection`` tubes one event a request:
    ``open_tube`` then ten ``sample`` scans (the tube seals itself when full)."""
    per_conn: list[list[bytes]] = []
    _enough_people(world, connections * tubes_per_connection * TUBE_SIZE)
    for c in range(connections):
        site = world.sites[c % len(world.sites)]
        token = tokens[c % len(tokens)]
        events = world.station_stream(site, world.take_people(tubes_per_connection * TUBE_SIZE),
                                      boxed=False)
        per_conn.append([build_request("POST", "/scans", body=e, token=token, port=server.port)
                         for e in events])
    out = _timed_load(server, per_conn, _check_single, time_limit_s)
    out["connections"] = connections
    return out


# -- result fan-out (in process) ----------------------------------------------------------

def _to_event(d: dict[str, Any]) -> StationEvent:
    """A station event as the API hands it to the service (for in-process checks)."""
    return StationEvent(event_id=d["event_id"], kind=EventKind(d["kind"]), site_id=d["site_id"],
                        at=datetime.fromisoformat(d["at"]), barcode=d.get("barcode"),
                        mode=d.get("mode"), code=d.get("code"), box_code=d.get("box_code"),
                        window=d.get("window"))


def fanout(world: World, log: Any = print) -> dict[str, Any]:
    """One run: a results file (all negative) for every tube of a fresh round, imported by
    the lab with ``LabService.import_rows``; people/s = people whose status was updated / s."""
    t0 = time.perf_counter()
    barcodes, expected = world.received_round()
    setup_s = time.perf_counter() - t0
    text = "barcode,result\n" + "".join(f"{b},negative\n" for b in barcodes)
    lab = world.users["bench-lab"]
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    problems, rows = world.platform.lab.import_rows(lab, world.lab_id,
                                                    csv.DictReader(io.StringIO(text)))
    elapsed = time.perf_counter() - t0
    if problems:
        raise RuntimeError(f"fan-out: {len(problems)} rows not accepted; first: {problems[0]}")
    with world.platform.engine.connect() as c:
        people = c.execute(select(func.count()).select_from(person_status).where(
            person_status.c.last_result == "negative",
            person_status.c.last_result_at >= to_ms(started))).scalar_one()
    if people != expected:
        raise RuntimeError(f"fan-out reached {people} people, expected {expected}")
    world.vacuum()  # PostgreSQL: clear the round's dead rows before the next figure (untimed)
    return {"tubes": rows, "people": people, "elapsed_s": round(elapsed, 3),
            "people_per_s": round(people / elapsed), "setup_s": round(setup_s, 1)}


# -- online pass check ---------------------------------------------------------------------

def _check_verify(body: bytes) -> str | None:
    return None if body.startswith(b'{"valid":true') else repr(body[:120])


def _passes(world: World, n: int) -> list[str]:
    officer = Principal("bench-officer", "bench-officer", Role.HEALTH_OFFICER, "1401")
    return [world.platform.passes.issue_details(officer, world.people[i]).text
            for i in range(n)]


def verify(world: World, server: Server, tokens: list[str], *, requests: int,
           connections: int, time_limit_s: float, passes: int = 200) -> dict[str, Any]:
    """``connections`` venue devices each check passes one a request; the passes are real
    ones for people of the bench city, issued in process with the server's key directory."""
    texts = _passes(world, passes)
    per = max(1, requests // connections)
    per_conn = [[build_request("POST", "/verify", body={"pass": texts[(c * per + k) % passes]},
                               token=tokens[c % len(tokens)], port=server.port)
                 for k in range(per)] for c in range(connections)]
    out = _timed_load(server, per_conn, _check_verify, time_limit_s)
    out["connections"] = connections
    return out


def verify_wrk(world: World, server: Server, token: str, *, seconds: int,
               connections: int) -> dict[str, Any] | None:
    """``wrk`` posting one real pass to /verify for a fixed time (None without wrk): the
    lightest client there is, so that on a 2-core machine the server gets the most of the
    CPU. The answer is checked once before (wrk itself only counts non-2xx answers, and
    /verify always answers 200)."""
    [text] = _passes(world, 1)
    body = json.dumps({"pass": text})
    check = run_load(server.port, [[build_request("POST", "/verify", body={"pass": text},
                                                  token=token, port=server.port)]],
                     check=_check_verify, time_limit_s=10)
    if check.requests != 1:
        raise RuntimeError(f"/verify refused the bench pass: {check.first_error}")
    script = server.workdir / "verify.lua"
    script.write_text('wrk.method = "POST"\n'
                      f"wrk.body = {json.dumps(body)}\n"
                      'wrk.headers["Content-Type"] = "application/json"\n'
                      f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    return _wrk(server, seconds, connections, "/verify", script)
