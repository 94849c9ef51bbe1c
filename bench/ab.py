"""Before/after: the HTTP figures of two checkouts' servers on the same database, run
alternately (before, after, before, after, ...) so both see the same machine load.

    git worktree add --detach /tmp/before <commit>   # or a copy with a change undone
    .venv/bin/python -m bench.ab --before /tmp/before/src [--backend sqlite] [--runs 3]

The set-up (city, sites, users) is made once with this checkout; only the server differs.
Prints a markdown table (medians; after/before ratios) and writes ``<out>/ab-<tier>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import runs as R
from bench.__main__ import DEFAULT_PG, ROOT, TIERS, log
from bench.machine import describe
from bench.server import Server
from bench.world import PASSWORD, SECRET, World, fresh_database_url

_FIGURES = {"health": ("rate_per_s", "req/s"), "batch_scans": ("scans_per_s", "scans/s"),
            "single_scans": ("rate_per_s", "scans/s"), "verify": ("rate_per_s", "req/s")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="the other checkout's src/")
    ap.add_argument("--after", type=Path, default=ROOT / "src")
    ap.add_argument("--tier", choices=sorted(TIERS), default="small")
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--people", type=int, default=None)
    ap.add_argument("--only", default="health,batch,single",
                    help="figures to measure: health, batch, single, verify")
    ap.add_argument("--pg-url", default=DEFAULT_PG)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    ap.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    ap.add_argument("--batch-clients", type=int, default=None,
                    help="stations posting batches at once (default: the tier's)")
    ap.add_argument("--batch-batches", type=int, default=None,
                    help="batches each station posts (default: the tier's)")
    ap.add_argument("--event-ids", choices=("v7", "v4"), default="v7",
                    help="the stations' event ids: time-ordered UUIDv7 or random UUIDv4")
    ap.add_argument("--single-tubes", type=int, default=None,
                    help="tubes each window fills by single scans (default: the tier's)")
    args = ap.parse_args(argv)
    overrides = {k: v for k in ("people", "batch_clients", "batch_batches", "single_tubes")
                 if (v := getattr(args, k))}
    tier = replace(TIERS[args.tier], runs=args.runs, **overrides)
    only = {x.strip() for x in args.only.split(",")}
    workdir = args.workdir / f"ab-{args.backend}"
    workdir.mkdir(parents=True, exist_ok=True)
    url = fresh_database_url(args.backend, workdir, args.pg_url)
    world = World.create(args.backend, url, workdir, tier.people, tier.sites, log=log)
    world.event_ids = args.event_ids
    variants = {"before": args.before.resolve(), "after": args.after.resolve()}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        v: {f: [] for f in _FIGURES} for v in variants}
    try:
        for r in range(tier.runs):
            for name, src in variants.items():
                with Server(url, SECRET, workdir, src=src, workers=args.workers) as srv:
                    tokens = [srv.login(world.sampler(k).username, PASSWORD)
                              for k in range(tier.sites)]
                    R.health_client(srv, 200, 2, 10)  # warm-up
                    R.single_scans(world, srv, tokens, connections=2, tubes_per_connection=2,
                                   time_limit_s=30)
                    if "health" in only:
                        runs[name]["health"].append(R.health_client(
                            srv, tier.health_requests, tier.health_connections,
                            tier.time_limit_s))
                    if "batch" in only:
                        runs[name]["batch_scans"].append(R.batch_scans(
                            world, srv, tokens, clients=tier.batch_clients,
                            batches=tier.batch_batches, time_limit_s=tier.time_limit_s))
                    if "single" in only:
                        runs[name]["single_scans"].append(R.single_scans(
                            world, srv, tokens, connections=tier.single_connections,
                            tubes_per_connection=tier.single_tubes,
                            time_limit_s=tier.time_limit_s))
                    if "verify" in only:
                        runs[name]["verify"].append(R.verify(
                            world, srv, tokens, requests=tier.health_requests,
                            connections=tier.health_connections,
                            time_limit_s=tier.time_limit_s))
                log(f"run {r + 1} {name}: " + "; ".join(
                    f"{f} {rs[-1][_FIGURES[f][0]]:,.0f}" for f, rs in runs[name].items() if rs))
    finally:
        world.close()
    db = "database_cpu_ms_per_req"  # PostgreSQL on this machine only
    keys = ("p50_ms", "p99_ms", "server_cpu_ms_per_req", db)
    table: dict[str, Any] = {}
    for fig, (key, _unit) in _FIGURES.items():
        if not runs["after"][fig]:
            continue
        table[fig] = {v: {k: statistics.median(x[k] for x in runs[v][fig])
                          for k in (key, *keys)
                          if all(x.get(k) is not None for x in runs[v][fig])}
                      for v in variants}
    result = {"tier": args.tier, "backend": args.backend, "runs": tier.runs,
              "workers": args.workers, "event_ids": args.event_ids,
              "batch_clients": tier.batch_clients,
              "batch_batches": tier.batch_batches,
              "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "before": str(variants["before"]), "after": str(variants["after"]),
              "machine": describe(args.pg_url if args.backend == "postgres" else None),
              "medians": table, "all_runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"ab-{args.tier}-{args.backend}" + (f"-w{args.workers}" if args.workers > 1 else "")
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=2))
    lines = [f"Before/after, {args.backend}, tier {args.tier}, {args.workers} server "
             f"process(es), medians of {tier.runs} "
             f"alternating runs (load average at start {result['machine']['load_avg_at_start']})",
             "", "| figure | before | after | after/before | p99 ms before → after | "
             "server CPU ms/request before → after | the database's CPU ms/request before "
             "→ after |", "|---|---:|---:|---:|---|---|---|"]
    for fig, m in table.items():
        key, unit = _FIGURES[fig]
        b, a = m["before"], m["after"]
        lines.append(f"| {fig} | {b[key]:,.0f} {unit} | {a[key]:,.0f} {unit} | "
                     f"{a[key] / b[key]:.2f}× | {b['p99_ms']:,.1f} → {a['p99_ms']:,.1f} | "
                     f"{b['server_cpu_ms_per_req']:,.2f} → {a['server_cpu_ms_per_req']:,.2f} | "
                     + (f"{b[db]:,.2f} → {a[db]:,.2f} |" if db in a and db in b else "— |"))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
