"""``python -m bench.status_bench [--people N] [--backend sqlite|postgres|both] [--runs R]
[--existing URL]``

Issue-4 figures on a generated city (set-up, not measured), or with ``--existing`` on the
city a simulated round left in a bench database (its clock one hour after the round's last
status change):

* sweep over N people with 10 % due (5 % inside their reminder lead → one reminder each into
  the outbox; 5 % past due + grace → the overdue status), median of R runs, each run on a fresh
  due state made by one UPDATE;
* the same sweep run again at once (idempotent: nothing to do) — shows the sweep reads only
  the people due;
* status recompute of everyone (every status marked stale, then decided: the set-based fast
  path plus the engine for people with special facts) — the upper bound of the recompute after
  a 1 M-person results batch;
* a policy change for the whole city (re-assignment and due-time recompute in bulk).

Baseline in the same run: the raw bulk-insert rate (``bench.baseline``). Results go to
``bench/results/status-<people>.json`` and the table is printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.baseline import raw_insert_rate
from bench.machine import describe
from bench.world import fresh_database_url
from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.domain.cadence import ScopeKind
from hesuan.services.auth import SYSTEM
from hesuan.services.status import PolicyInput
from hesuan.sim.city import generate_city

T0 = datetime(2022, 8, 29, tzinfo=UTC)
HOUR = 3_600_000


def _due_state(platform: Any, now_ms: int) -> None:
    """10 % of people due: 5 % within 6 h of their due time (reminder lead is 12 h), 5 % due
    30 h ago (grace is 24 h). Everyone else due in 48 h."""
    with platform.engine.begin() as c:
        c.execute(text(
            "UPDATE person_status SET reminded_due_at = NULL, next_due_at = CASE "
            "WHEN substr(person_id, 31, 2) < '0d' THEN :soon "
            "WHEN substr(person_id, 31, 2) < '1a' THEN :late ELSE :later END, "
            "status_valid_until = CASE WHEN substr(person_id, 31, 2) < '0d' THEN :later "
            "WHEN substr(person_id, 31, 2) < '1a' THEN :now ELSE :later2 END, "
            "colour = 'green', reasons = 'up_to_date'"),
            {"soon": now_ms + 6 * HOUR, "late": now_ms - 30 * HOUR, "later": now_ms + 48 * HOUR,
             "later2": now_ms + 72 * HOUR, "now": now_ms})
        c.execute(text("DELETE FROM outbox"))


def run_backend(backend: str, people: int, runs: int, workdir: Path,
                pg_url: str, existing: str | None = None) -> dict[str, Any]:
    url = existing or fresh_database_url(backend, workdir, pg_url)
    clock = FixedClock(T0)
    settings = Settings(database_url=url, environment="test", secret_key="bench-secret",
                        sms_file=workdir / "sms.jsonl", key_file=workdir / "k",
                        pass_key_dir=workdir / "keys")
    platform = bootstrap(settings, clock=clock)
    t = time.perf_counter()
    if existing:
        # a city that lived through a round: its clock is where the round left it
        with platform.engine.connect() as c:
            people = int(c.execute(text("SELECT count(*) FROM person_status")).scalar_one())
            last = c.execute(text("SELECT max(updated_at) FROM person_status")).scalar_one()
        clock.set(datetime.fromtimestamp(int(last) / 1000, UTC) + timedelta(hours=1))
    else:
        generate_city(platform, people, seed=1)
        clock.set(T0 + timedelta(hours=40))
    setup_s = time.perf_counter() - t
    now_ms = int(clock.now().timestamp() * 1000)
    out: dict[str, Any] = {"backend": backend, "people": people, "setup_s": round(setup_s, 1),
                           "city": "after a simulated round" if existing else "freshly generated",
                           "raw_insert_rows_per_s": [], "sweep_s": [], "sweep_again_s": [],
                           "reminders": [], "overdue_decided": [], "recompute_all_s": [],
                           "policy_change_s": []}
    for _ in range(runs):
        out["raw_insert_rows_per_s"].append(raw_insert_rate(url, 200_000)["rows_per_s"])
        _due_state(platform, now_ms)
        t = time.perf_counter()
        rep = platform.status.sweep(SYSTEM, limit=people)
        out["sweep_s"].append(time.perf_counter() - t)
        out["reminders"].append(rep.reminders)
        out["overdue_decided"].append(rep.recomputed)
        t = time.perf_counter()
        again = platform.status.sweep(SYSTEM, limit=people)
        out["sweep_again_s"].append(time.perf_counter() - t)
        assert again.reminders == 0 and again.recomputed == 0, again
        t = time.perf_counter()
        platform.status.recompute_all(SYSTEM)
        out["recompute_all_s"].append(time.perf_counter() - t)
        t = time.perf_counter()
        platform.status.set_policy(SYSTEM, PolicyInput(
            ScopeKind.REGION, "1401", timedelta(hours=48), name="bench: city 48 h"))
        out["policy_change_s"].append(time.perf_counter() - t)
    platform.close()
    med = {k: statistics.median(v) for k, v in out.items() if isinstance(v, list) and v}
    out["median"] = med
    out["ratios"] = {
        "sweep_people_per_s_vs_raw_insert": round(people / med["sweep_s"]
                                                  / med["raw_insert_rows_per_s"], 2),
        "recompute_people_per_s_vs_raw_insert": round(people / med["recompute_all_s"]
                                                      / med["raw_insert_rows_per_s"], 2),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/"
                                        "hesuan_bench_status")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--existing", metavar="URL", default=None,
                    help="measure on the city already in this bench database (e.g. the one "
                         "city_bench's round left) instead of generating one; its size "
                         "replaces --people")
    args = ap.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if args.existing:
        if args.backend == "both" or "bench" not in args.existing:
            ap.error("--existing needs one --backend and a database whose name has 'bench'")
        backends = [args.backend]
    results: dict[str, Any] = {"machine": describe(args.pg_url if "postgres" in backends else None),
                               "runs": args.runs, "backends": []}
    with tempfile.TemporaryDirectory(prefix="hesuan-status-bench-") as tmp:
        for b in backends:
            r = run_backend(b, args.people, args.runs, Path(tmp), args.pg_url, args.existing)
            results["backends"].append(r)
            args.people = r["people"]
            m = r["median"]
            print(f"{b:9} people={args.people:,} sweep={m['sweep_s']:.2f}s "
                  f"(reminders {m['reminders']:,.0f}, overdue {m['overdue_decided']:,.0f}) "
                  f"again={m['sweep_again_s']:.3f}s recompute_all={m['recompute_all_s']:.2f}s "
                  f"policy_change={m['policy_change_s']:.2f}s "
                  f"raw_insert={m['raw_insert_rows_per_s']:,.0f} rows/s ratios={r['ratios']}",
                  flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    tag = "" if args.backend == "both" else f"-{args.backend}"
    path = args.out / f"status-{args.people}{tag}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
