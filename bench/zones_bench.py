"""``python -m bench.zones_bench [--people N] [--zone-people Z] [--backend sqlite|postgres|both]
[--runs R]``

Issue-5 figures on a generated city (set-up, not measured: ``generate_city``, then one UPDATE
giving 95 % of people a negative test spread over the last 72 h and 0.5 % an exemption):

* **coverage roll-up** for the whole city, grid → community → street → district → city, from
  the snapshot (what the API and dashboards serve), and counted live; the snapshot refresh;
  the grid worker's outstanding list of one grid;
* **zone of ~Z people**: designate a sealed zone over whole communities (their statuses turn
  red in the same call: membership UPDATE, the set-based zone status path, the engine for the
  rest, pass revocation), then lift it (everyone restored) — each checked by counting;
* **fence-rule evaluation**: scans through ``FenceService.scan`` in batches of 1,000 (sampling
  codes of random people, a tenth of them in a sealed zone, scanned at a venue outside it),
  scans/s end to end (resolve, evaluate, write scans and de-duplicated alerts), and the pure
  rule function alone.

Baseline in the same run: the raw bulk-insert rate (``bench.baseline``). Median of R runs.
Results go to ``bench/results/zones-<people>[-<backend>].json`` and the table is printed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.baseline import raw_insert_rate
from bench.machine import describe
from bench.world import fresh_database_url
from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.fence import PlaceKind, ScanPerson, ScanPlace, evaluate
from hesuan.domain.regions import Level
from hesuan.domain.zones import Area, ZoneKind
from hesuan.services.auth import SYSTEM
from hesuan.services.fence import ScanInput
from hesuan.services.zones import ZoneInput
from hesuan.sim.city import generate_city

T0 = datetime(2022, 8, 29, tzinfo=UTC)
HOUR = 3_600_000


def _sampled_state(platform: Platform, now_ms: int) -> None:
    """95 % sampled negative within the last 72 h (spread by id), 0.5 % exempt, due times and
    statuses consistent (green, valid until due + grace)."""
    with platform.engine.begin() as c:
        # two hex digits of the id → 0..255: < 243 sampled (95 %), 243 exempt-ish
        c.execute(text(
            "UPDATE person_status SET test_state = CASE WHEN substr(person_id, 31, 2) < 'f3' "
            "THEN 'negative' ELSE 'none' END, "
            "last_sampled_at = CASE WHEN substr(person_id, 31, 2) < 'f3' THEN :now - "
            "  (CASE WHEN substr(person_id, 29, 1) < '8' THEN 1 ELSE 2 END) * 20 * :h - "
            "  (CASE WHEN substr(person_id, 30, 1) < '8' THEN 0 ELSE 1 END) * 10 * :h "
            "  ELSE NULL END, "
            "exempt_until = CASE WHEN substr(person_id, 31, 2) = 'f3' THEN :now + 240 * :h "
            "  ELSE NULL END, exempt_reason = CASE WHEN substr(person_id, 31, 2) = 'f3' "
            "  THEN 'bedridden' ELSE NULL END, "
            "zone_id = NULL, zone_kind = NULL, zone_colour = NULL"),
            {"now": now_ms, "h": HOUR})
        c.execute(text(
            "UPDATE person_status SET next_due_at = CASE WHEN interval_ms IS NULL THEN NULL "
            "WHEN last_sampled_at IS NULL THEN :now + 24 * :h ELSE last_sampled_at + "
            "interval_ms END, colour = 'green', reasons = CASE WHEN exempt_until IS NOT NULL "
            "THEN 'exempt' WHEN last_sampled_at IS NULL THEN 'not_yet_tested' "
            "ELSE 'up_to_date' END, rule_id = 'R-DEFAULT', rule_version = 1, evidence = NULL, "
            "status_at = :now, status_valid_until = :now + 24 * :h"),
            {"now": now_ms, "h": HOUR})
    platform.status.sweep(SYSTEM)  # settle: everyone decided as of now


def _zone_areas(platform: Platform, want: int) -> tuple[list[Area], int]:
    with platform.engine.connect() as c:
        rows = c.execute(text("SELECT substr(grid_code, 1, 12), count(*) FROM people "
                              "GROUP BY substr(grid_code, 1, 12) ORDER BY 1")).all()
    picked, n = [], 0
    for code, k in rows:
        if n >= want:
            break
        picked.append(Area(code))
        n += int(k)
    return picked, n


def _count(platform: Platform, sql: str, **params: Any) -> int:
    with platform.engine.connect() as c:
        return int(c.execute(text(sql), params).scalar_one())


def run_backend(backend: str, people: int, zone_people: int, runs: int, scans: int,
                workdir: Path, pg_url: str, db_file: Path | None = None) -> dict[str, Any]:
    reuse = backend == "sqlite" and db_file is not None and db_file.exists()
    if backend == "sqlite" and db_file is not None:
        url = f"sqlite:///{db_file}"
    else:
        url = fresh_database_url(backend, workdir, pg_url)
    clock = FixedClock(T0)
    settings = Settings(database_url=url, environment="test", secret_key="bench-secret",
                        sms_file=workdir / "sms.jsonl", key_file=workdir / "k",
                        pass_key_dir=workdir / "keys")
    platform = bootstrap(settings, clock=clock)
    t = time.perf_counter()
    if reuse:  # a city made by an earlier run (its zones lifted, its scans deleted)
        assert _count(platform, "SELECT count(*) FROM people") == people
        clock.set(T0 + timedelta(hours=80))
    else:
        generate_city(platform, people, seed=1)
        clock.set(T0 + timedelta(hours=80))
        _sampled_state(platform, int(clock.now().timestamp() * 1000))
    areas, expect = _zone_areas(platform, zone_people)
    with platform.engine.connect() as c:
        grid = c.execute(text("SELECT grid_code FROM people ORDER BY grid_code LIMIT 1")
                         ).scalar_one()
        venue_region = c.execute(text("SELECT max(code) FROM regions WHERE level = 'grid'")
                                 ).scalar_one()
    setup_s = time.perf_counter() - t
    worker = Principal("bench-grid", "bench-grid", Role.GRID_WORKER, grid)
    out: dict[str, Any] = {
        "backend": backend, "people": people, "zone_people": expect, "zone_areas": len(areas),
        "scans": scans, "setup_s": round(setup_s, 1),
        "raw_insert_rows_per_s": [], "snapshot_refresh_s": [], "rollup_snapshot_s": [],
        "rollup_live_s": [], "grid_list_s": [], "designate_s": [], "lift_s": [],
        "fence_scans_per_s": [], "fence_alerts": [], "rule_evals_per_s": []}
    venue = (platform.venues.register(SYSTEM, f"BENCH-{uuid.uuid4().hex[:8].upper()}",
                                      "bench mall", venue_region))
    device = Principal("bench-venue", "bench-venue", Role.VENUE, venue)
    with platform.engine.connect() as c:
        ids = [r[0] for r in c.execute(text("SELECT id FROM people ORDER BY id"))]
    rng = random.Random(7)
    for run in range(runs):
        out["raw_insert_rows_per_s"].append(raw_insert_rate(url, 200_000)["rows_per_s"])
        # -- coverage
        t = time.perf_counter()
        snap = platform.rosters.refresh_snapshot(SYSTEM)
        out["snapshot_refresh_s"].append(time.perf_counter() - t)
        t = time.perf_counter()
        cov = platform.rosters.coverage(SYSTEM, level=Level.GRID)
        out["rollup_snapshot_s"].append(time.perf_counter() - t)
        assert cov.source == "snapshot" and cov.total.due == people, cov.total
        assert snap.people == people
        t = time.perf_counter()
        live = platform.rosters.coverage(SYSTEM, level=Level.GRID, live=True,
                                         as_of=clock.now())
        out["rollup_live_s"].append(time.perf_counter() - t)
        assert live.total == cov.total, (live.total, cov.total)
        t = time.perf_counter()
        lst = platform.rosters.people(worker, which="outstanding")
        out["grid_list_s"].append(time.perf_counter() - t)
        out["grid_outstanding"] = lst.count
        out["coverage_total"] = asdict(cov.total)
        # -- a zone of ~zone_people, designated and lifted
        t = time.perf_counter()
        z = platform.zones.designate(SYSTEM, ZoneInput(f"bench sealed {run}", ZoneKind.SEALED,
                                                       areas))
        out["designate_s"].append(time.perf_counter() - t)
        red = _count(platform, "SELECT count(*) FROM person_status WHERE zone_id = :z AND "
                               "colour = 'red'", z=z.id)
        assert z.people == expect and red == expect, (z.people, red, expect)
        # -- fence evaluation while the zone stands: a tenth of the scans are its people
        with platform.engine.connect() as c:
            inside = [r[0] for r in c.execute(text(
                "SELECT person_id FROM person_status WHERE zone_id = :z"), {"z": z.id})]
        batch_t = 0.0
        alerts = 0
        at = clock.now()
        codes: list[str] = []
        for i in range(scans):
            pid = rng.choice(inside) if i % 10 == 0 else rng.choice(ids)
            codes.append(platform.deps.codes.sign(pid))
        for i in range(0, scans, 1000):
            batch = [ScanInput(str(uuid.uuid4()), PlaceKind.VENUE, venue, at, code=c)
                     for c in codes[i:i + 1000]]
            t = time.perf_counter()
            res = platform.fence.scan(device, batch)
            batch_t += time.perf_counter() - t
            alerts += sum(len(o.alerts) for o in res)
        out["fence_scans_per_s"].append(scans / batch_t)
        out["fence_alerts"].append(alerts)
        person = ScanPerson(zone_id="z", zone_kind="sealed", colour="red", rule_id="R-ZONE")
        place = ScanPlace(PlaceKind.VENUE, "v", frozenset({"other"}))
        t = time.perf_counter()
        for _ in range(100_000):
            evaluate(person, place, at)
        out["rule_evals_per_s"].append(100_000 / (time.perf_counter() - t))
        t = time.perf_counter()
        platform.zones.lift(SYSTEM, z.id, "bench")
        out["lift_s"].append(time.perf_counter() - t)
        assert _count(platform, "SELECT count(*) FROM person_status WHERE zone_id IS NOT "
                                "NULL") == 0
        assert _count(platform, "SELECT count(*) FROM person_status WHERE colour = 'red'") == 0
        with platform.engine.begin() as c:  # next run: a fresh day of scans and alerts
            c.execute(text("DELETE FROM fence_alerts"))
            c.execute(text("DELETE FROM fence_scans"))
        clock.advance(timedelta(minutes=10))
    platform.close()
    med = {k: statistics.median(v) for k, v in out.items() if isinstance(v, list) and v}
    out["median"] = med
    raw = med["raw_insert_rows_per_s"]
    out["ratios"] = {
        "rollup_live_people_per_s_vs_raw_insert": round(people / med["rollup_live_s"] / raw, 2),
        "designate_people_per_s_vs_raw_insert": round(expect / med["designate_s"] / raw, 2),
        "lift_people_per_s_vs_raw_insert": round(expect / med["lift_s"] / raw, 2),
        "fence_scans_per_s_vs_raw_insert": round(med["fence_scans_per_s"] / raw, 3),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--zone-people", type=int, default=100_000)
    ap.add_argument("--scans", type=int, default=20_000)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/"
                                        "hesuan_bench_zones")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where the SQLite file goes (default: a temporary directory)")
    ap.add_argument("--db-file", type=Path, default=None,
                    help="SQLite: keep the city in this file and reuse it when it exists")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results: dict[str, Any] = {"machine": describe(args.pg_url if "postgres" in backends else None),
                               "runs": args.runs, "backends": []}
    with tempfile.TemporaryDirectory(prefix="hesuan-zones-bench-", dir=args.workdir) as tmp:
        for b in backends:
            r = run_backend(b, args.people, args.zone_people, args.runs, args.scans, Path(tmp),
                            args.pg_url, args.db_file)
            results["backends"].append(r)
            m = r["median"]
            print(f"{b:9} people={args.people:,} rollup: snapshot={m['rollup_snapshot_s']:.3f}s "
                  f"live={m['rollup_live_s']:.2f}s refresh={m['snapshot_refresh_s']:.2f}s "
                  f"grid list={m['grid_list_s']:.3f}s | zone of {r['zone_people']:,}: "
                  f"designate={m['designate_s']:.2f}s lift={m['lift_s']:.2f}s | fence "
                  f"{m['fence_scans_per_s']:,.0f} scans/s (rules alone "
                  f"{m['rule_evals_per_s']:,.0f}/s) | raw insert "
                  f"{m['raw_insert_rows_per_s']:,.0f} rows/s | ratios {r['ratios']}",
                  flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if len(backends) > 1 else f"-{backends[0]}"
    path = args.out / f"zones-{args.people}{suffix}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
