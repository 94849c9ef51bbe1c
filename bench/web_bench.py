"""Server time of every web page at the demo size: ``python -m bench.web_bench [--people N]``.

Set-up (not measured): a fresh SQLite database holding the synthetic city
(``hesuan.sim.city.generate_city``, 50,000 people by default, as the demo), then a morning of
activity through the same services the pages call: ``--tubes`` 10-in-1 tubes sampled over the
last 8 hours at the city's fixed sites, packed 50 a box per site, collected, half received by
the demo lab and half of those resulted with a few positive pools (so that the lab queue,
recalls, the resident's history, site loads and the command centre have something to show).

Measured: each page requested in process through the ASGI app (``TestClient``: routing, the
session lookup, the service calls, the SQL and the template rendering — no network), signed in
as the role that uses it; ``--runs`` requests per page after one warm-up; median and p90 in
milliseconds against the 100 ms budget. The command centre is measured with its 10-second
cache emptied before every request (the cost of a fresh computation) and warm.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.people import SINGLE_TUBE_GROUPS
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.entrypoints.api import create_app
from hesuan.services.lab import ResultInput
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.sim.city import generate_city
from hesuan.sim.example import DEMO_PASSWORD, OPERATOR

BUDGET_MS = 100.0
_KEY = tuple(g.value for g in SINGLE_TUBE_GROUPS)


def _principal(platform: Platform, username: str) -> Principal:
    with platform.engine.connect() as c:
        uid, role, scope = c.exec_driver_sql(
            "SELECT id, role, scope FROM users WHERE username = ?", (username,)).one()
    return Principal(uid, username, Role(role), scope)


def activity(platform: Platform, tubes: int, positives: int) -> dict[str, Any]:
    """A morning through the services (set-up, not measured): ``tubes`` 10-in-1 tubes spread
    over the city's fixed sites and the last 8 hours (the demo sampler's site among them),
    each site's tubes packed 50 a box; the boxes collected, half of them received by the demo
    lab, half of those resulted with ``positives`` positive pools."""
    lab = _principal(platform, "lab")
    courier = _principal(platform, "courier")
    sampler = _principal(platform, "sampler")
    assert lab.scope is not None and sampler.scope is not None
    with platform.engine.connect() as c:
        people = [r[0] for r in c.exec_driver_sql(
            "SELECT id FROM people WHERE " + " AND ".join(
                f"groups NOT LIKE '%{g}%'" for g in _KEY) + " ORDER BY id LIMIT ?",
            (tubes * 10,))]
        site_ids = [r[0] for r in c.exec_driver_sql(
            "SELECT id FROM sites WHERE kind = 'fixed' ORDER BY id")]
    sites = [sampler.scope, *[x for x in site_ids if x != sampler.scope]]
    codes = [platform.deps.codes.sign(p) for p in people]
    now = platform.deps.clock.now()
    barcodes = [make_tube_barcode(700_000 + i) for i in range(len(codes) // 10)]
    by_site: dict[str, list[str]] = {}
    events: list[StationEvent] = []
    for i, bc in enumerate(barcodes):
        site = sites[i % len(sites)]
        by_site.setdefault(site, []).append(bc)
        t0 = now - timedelta(hours=8) * (1 - i / len(barcodes))
        events.append(StationEvent(str(uuid.uuid4()), EventKind.OPEN_TUBE, site, t0,
                                   barcode=bc, mode=10))
        events += [StationEvent(str(uuid.uuid4()), EventKind.SAMPLE, site,
                                t0 + timedelta(seconds=40 * k), barcode=bc, code=code)
                   for k, code in enumerate(codes[i * 10:(i + 1) * 10])]
    boxes: list[str] = []
    for site, bcs in by_site.items():
        for j in range(0, len(bcs), 50):
            box = make_box_code(700_000 + len(boxes))
            boxes.append(box)
            events += [StationEvent(str(uuid.uuid4()), EventKind.BOX_TUBE, site, now,
                                    barcode=bc, box_code=box) for bc in bcs[j:j + 50]]
            events.append(StationEvent(str(uuid.uuid4()), EventKind.SEAL_BOX, site, now,
                                       box_code=box))
    for k in range(0, len(events), 1000):
        platform.sampling.submit(OPERATOR, events[k:k + 1000])
    for box in boxes[:-1]:
        platform.delivery.hand_over(courier, str(uuid.uuid4()), box, now)
    received = boxes[: max(1, len(boxes) // 2)]
    for box in received:
        platform.delivery.receive(lab, str(uuid.uuid4()), lab.scope, box, now, counted=1)
    with platform.engine.connect() as c:
        resulted = [r[0] for r in c.exec_driver_sql(
            "SELECT barcode FROM tubes WHERE status = 'received' ORDER BY barcode")]
    resulted = resulted[: len(resulted) // 2]
    results = [ResultInput(bc, "positive" if i < positives else "negative")
               for i, bc in enumerate(resulted)]
    for k in range(0, len(results), 5000):
        platform.lab.record(lab, lab.scope, results[k:k + 5000])
    return {"samples": len(codes), "tubes": len(barcodes), "sites": len(by_site),
            "boxes": len(boxes), "received_boxes": len(received),
            "resulted_tubes": len(resulted), "positive_pools": positives,
            "first_person": people[0]}


def _login(client: TestClient, username: str) -> None:
    client.cookies.clear()
    page = client.get("/web/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post("/web/login", data={"username": username, "password": DEMO_PASSWORD,
                                        "csrf": token.group(1), "next": ""},
                    follow_redirects=False)
    assert r.status_code == 303, (username, r.status_code, r.text[:300])


def _time(fn: Callable[[], Any], runs: int) -> list[float]:
    fn()  # warm-up (template compilation, caches)
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=50_000)
    ap.add_argument("--tubes", type=int, default=1000, help="10-in-1 tubes sampled")
    ap.add_argument("--positives", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--only", default="",
                    help="measure only pages whose label contains one of these (comma-separated)")
    args = ap.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="hesuan-web-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "web_bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    settings = Settings(database_url=f"sqlite:///{db}", environment="test",
                        secret_key="hesuan-web-bench", key_file=work / "k",
                        pass_key_dir=work / "keys", sms_file=work / "sms.jsonl")
    platform = bootstrap(settings)
    t0 = time.perf_counter()
    city = generate_city(platform, args.people, seed=20220829)
    made = activity(platform, args.tubes, args.positives)
    venue_id = platform.venues.register(OPERATOR, "BENCH-0001", "bench venue", "140105")
    platform.auth.create_user(OPERATOR, "venue_bench", DEMO_PASSWORD, Role.VENUE, venue_id)
    setup_s = time.perf_counter() - t0
    print(f"set-up {setup_s:.1f} s: {city.people} people, {city.sites} sites; {made}",
          file=sys.stderr)

    app = create_app(platform)
    client = TestClient(app, base_url="https://testserver")
    pages: list[tuple[str, str, str, str]] = [  # (label, user, method, path)
        ("login form", "", "GET", "/web/login"),
        ("sampling station", "sampler", "GET", "/web/station"),
        ("site lead", "sitelead", "GET", "/web/site"),
        ("courier", "courier", "GET", "/web/courier"),
        ("lab", "lab", "GET", "/web/lab"),
        ("resident", "resident", "GET", "/web/me"),
        ("resident pass (issues a pass)", "resident", "GET", "/web/me/pass"),
        ("venue", "venue_bench", "GET", "/web/venue"),
        ("grid worker roster", "grid", "GET", "/web/roster"),
        ("grid worker area", "grid", "GET", "/web/area"),
        ("fence alerts", "grid", "GET", "/web/alerts"),
        ("officer area (cold)", "officer", "GET", "/web/area"),
        ("officer area (city)", "officer", "GET", "/web/area"),
        ("officer person page", "officer", "GET", f"/web/people/{made['first_person']}"),
        ("zones", "officer", "GET", "/web/zones"),
        ("command centre (cold)", "officer", "GET", "/web/dashboard"),
        ("command centre", "officer", "GET", "/web/dashboard"),
        ("dashboard.json", "officer", "GET", "/web/dashboard.json"),
        ("admin", "admin", "GET", "/web/admin"),
    ]
    rows = []
    current = None
    for label, user, method, path in pages:
        if args.only and not any(o in label for o in args.only.split(",")):
            continue
        if user and user != current:
            _login(client, user)
            current = user
        cold = "(cold)" in label

        def call(path: str = path, method: str = method, cold: bool = cold) -> None:
            if cold:
                app.state.web_snapshots = None  # compute afresh, as on the first request
            r = client.request(method, path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])

        ms = _time(call, args.runs)
        ms.sort()
        rows.append((label, statistics.median(ms), ms[int(0.9 * (len(ms) - 1))]))
    # the station's sync call (a 10-scan tube, as a station sends it after coming back online)
    if args.only and not any(o in "station sync" for o in args.only.split(",")):
        _report(city.people, made["samples"], args.runs, rows)
        platform.close()
        return 0
    _login(client, "sampler")
    station = client.get("/web/station").text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', station)
    assert csrf is not None
    sampler = _principal(platform, "sampler")
    with platform.engine.connect() as c:
        fresh = [r[0] for r in c.exec_driver_sql(
            "SELECT id FROM people WHERE id NOT IN (SELECT person_id FROM samples) AND "
            + " AND ".join(f"groups NOT LIKE '%{g}%'" for g in _KEY)
            + " ORDER BY id LIMIT ?", ((args.runs + 1) * 10,))]
    serial = iter(range(800_000, 900_000))

    def sync() -> None:
        bc = make_tube_barcode(next(serial))
        at = datetime.now(UTC).isoformat()
        evs = [{"event_id": str(uuid.uuid4()), "kind": "open_tube", "site_id": sampler.scope,
                "at": at, "barcode": bc, "mode": 10}]
        evs += [{"event_id": str(uuid.uuid4()), "kind": "sample", "site_id": sampler.scope,
                 "at": at, "barcode": bc, "code": platform.deps.codes.sign(fresh.pop())}
                for _ in range(10)]
        r = client.post("/web/station/events.json", json={"events": evs},
                        headers={"X-CSRF-Token": csrf.group(1)})
        assert r.status_code == 200 and all(x["status"] == "accepted"
                                            for x in r.json()["results"]), r.text[:300]

    ms = sorted(_time(sync, args.runs))
    rows.append(("station sync (11 events)", statistics.median(ms), ms[int(0.9 * (len(ms) - 1))]))

    _report(city.people, made["samples"], args.runs, rows)
    platform.close()
    return 0


def _report(people: int, samples: int, runs: int, rows: list[tuple[str, float, float]]) -> None:
    print(f"\nWeb pages, server time in process ({people:,} people, {samples:,} samples; "
          f"{runs} requests each; budget {BUDGET_MS:.0f} ms)\n")
    print("| page | median ms | p90 ms | within budget |")
    print("|---|---:|---:|---|")
    for label, med, p90 in rows:
        print(f"| {label} | {med:.1f} | {p90:.1f} | {'yes' if p90 <= BUDGET_MS else 'NO'} |")


if __name__ == "__main__":
    raise SystemExit(main())
