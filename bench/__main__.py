"""``python -m bench [--tier toy|small|1m] [--backend sqlite|postgres|both] [--runs N]``

Per backend: a fresh database, the bench city (set-up, not measured), then ``runs`` rounds of
every figure, interleaved so that noise from the shared machine spreads over all of them:
(a) raw bulk insert, (e) result fan-out (in process), (g) the same round's results through the
lab's plates — import, review, release (in process), (h) the same round's results as ORU^R01
messages over MLLP to the listener (a thread in process; only with ``--only …,mllp``), then
against one real server process (``hesuan serve`` on 127.0.0.1): (b) /health, (c) batch scans,
(d) single scans, (f) /verify; then (f) /verify again against ``serve --workers N``
(``--verify-workers``, default 2).
Writes ``<out>/<tier>.json`` and ``<out>/<tier>.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import runs as R
from bench.baseline import raw_insert_rate
from bench.lab_release import lab_release
from bench.machine import describe
from bench.mllp_bench import mllp_results
from bench.report import beside, markdown, summarise
from bench.server import Server
from bench.world import PASSWORD, SECRET, World, fresh_database_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/hesuan_bench"


@dataclass(frozen=True)
class Tier:
    people: int  # population; the fan-out file covers all of them (10 a tube)
    sites: int  # sampling sites = batch clients' stations, one sampler each
    raw_rows: int
    health_requests: int
    health_connections: int
    wrk_seconds: int
    batch_clients: int
    batch_batches: int  # 1,000-event batches per client per run
    single_connections: int
    single_tubes: int  # tubes per connection per run (11 requests each)
    time_limit_s: float  # per HTTP run; the load generator stops by itself at this limit
    runs: int
    # stations posting batches at once against `serve --workers N`: enough connections for
    # the kernel's hash to spread them evenly over the workers' sockets (same events in all)
    worker_batch_clients: int = 16


TIERS = {
    "toy": Tier(people=2_000, sites=2, raw_rows=20_000, health_requests=1_000,
                health_connections=4, wrk_seconds=1, batch_clients=2, batch_batches=1,
                single_connections=4, single_tubes=2, time_limit_s=15, runs=1,
                worker_batch_clients=2),
    "small": Tier(people=100_000, sites=4, raw_rows=200_000, health_requests=20_000,
                  health_connections=16, wrk_seconds=5, batch_clients=4, batch_batches=10,
                  single_connections=16, single_tubes=25, time_limit_s=60, runs=3),
    "1m": Tier(people=1_000_000, sites=4, raw_rows=1_000_000, health_requests=20_000,
               health_connections=16, wrk_seconds=10, batch_clients=4, batch_batches=25,
               single_connections=16, single_tubes=20, time_limit_s=120, runs=3),
}


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def bench_backend(backend: str, tier: Tier, pg_url: str, workdir: Path, use_wrk: bool,
                  only: set[str], verify_workers: int = 2, scan_workers: int = 1,
                  event_ids: str = "v7",
                  ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    workdir = workdir.resolve()  # the server runs elsewhere: a relative SQLite path would miss
    workdir.mkdir(parents=True, exist_ok=True)
    url = fresh_database_url(backend, workdir, pg_url)
    log(f"{backend}: set-up, {tier.people:,} people, {tier.sites} sites")
    world = World.create(backend, url, workdir, tier.people, tier.sites, log=log)
    world.event_ids = event_ids
    log(f"{backend}: set-up done {world.setup_s}")
    res: dict[str, list[dict[str, Any]]] = {k: [] for k in (
        "raw_insert", "health_wrk", "health", "batch_scans", "single_scans", "fanout",
        "lab_release", "verify", "verify_workers", "verify_workers_wrk", "batch_scans_workers",
        "single_scans_workers", "mllp", "mllp_connections")}
    try:
        with Server(url, SECRET, workdir) as srv:
            tokens = [srv.login(world.sampler(k).username, PASSWORD) for k in range(tier.sites)]
            # warm-up, not recorded: first requests compile statements and fill caches
            R.health_client(srv, 200, 2, 10)
            if "batch" in only:
                R.batch_scans(world, srv, tokens, clients=1, batches=1, time_limit_s=30)
            if "single" in only:
                R.single_scans(world, srv, tokens, connections=2, tubes_per_connection=2,
                               time_limit_s=30)
            for r in range(tier.runs):
                tag = f"{backend} run {r + 1}/{tier.runs}"
                if "raw" in only:
                    res["raw_insert"].append(raw_insert_rate(url, tier.raw_rows))
                    log(f"{tag}: raw insert {res['raw_insert'][-1]}")
                if "fanout" in only:
                    res["fanout"].append(R.fanout(world, log))
                    log(f"{tag}: fan-out {res['fanout'][-1]}")
                if "lab" in only:
                    res["lab_release"].append(lab_release(world, log))
                    log(f"{tag}: lab, import → review → release {res['lab_release'][-1]}")
                if "mllp" in only:
                    res["mllp"].append(mllp_results(world, log))
                    log(f"{tag}: ORU^R01 over MLLP, 1 connection {res['mllp'][-1]}")
                    res["mllp_connections"].append(mllp_results(world, log, connections=4))
                    log(f"{tag}: ORU^R01 over MLLP, 4 connections "
                        f"{res['mllp_connections'][-1]}")
                if "health" in only:
                    if use_wrk:
                        w = R.health_wrk(srv, tier.wrk_seconds, tier.health_connections)
                        if w is not None:
                            res["health_wrk"].append(w)
                            log(f"{tag}: /health wrk {w}")
                    res["health"].append(R.health_client(
                        srv, tier.health_requests, tier.health_connections, tier.time_limit_s))
                    log(f"{tag}: /health {res['health'][-1]}")
                if "batch" in only:
                    res["batch_scans"].append(R.batch_scans(
                        world, srv, tokens, clients=tier.batch_clients,
                        batches=tier.batch_batches, time_limit_s=tier.time_limit_s))
                    log(f"{tag}: batch scans {res['batch_scans'][-1]}")
                if "single" in only:
                    res["single_scans"].append(R.single_scans(
                        world, srv, tokens, connections=tier.single_connections,
                        tubes_per_connection=tier.single_tubes,
                        time_limit_s=tier.time_limit_s))
                    log(f"{tag}: single scans {res['single_scans'][-1]}")
                if "verify" in only:
                    res["verify"].append(R.verify(
                        world, srv, tokens, requests=tier.health_requests,
                        connections=tier.health_connections, time_limit_s=tier.time_limit_s))
                    log(f"{tag}: /verify {res['verify'][-1]}")
        if scan_workers > 1 and only & {"batch", "single"}:
            # the same station traffic against `serve --workers N`: the processes parse and
            # decide in parallel and take turns at SQLite's one write lock
            with Server(url, SECRET, workdir, workers=scan_workers) as srv:
                tokens = [srv.login(world.sampler(k).username, PASSWORD)
                          for k in range(tier.sites)]
                R.health_client(srv, 400, 4, 10)  # warm-up: every worker starts
                if "batch" in only:
                    R.batch_scans(world, srv, tokens, clients=2, batches=1, time_limit_s=30)
                if "single" in only:
                    R.single_scans(world, srv, tokens, connections=4, tubes_per_connection=2,
                                   time_limit_s=30)
                bc = tier.worker_batch_clients
                for r in range(tier.runs):
                    tag = f"{backend} run {r + 1}/{tier.runs}, {scan_workers} workers"
                    if "batch" in only:
                        res["batch_scans_workers"].append(R.batch_scans(
                            world, srv, tokens, clients=bc,
                            batches=max(1, tier.batch_batches * tier.batch_clients // bc),
                            time_limit_s=tier.time_limit_s)
                            | {"workers": scan_workers})
                        log(f"{tag}: batch scans {res['batch_scans_workers'][-1]}")
                    if "single" in only:
                        res["single_scans_workers"].append(R.single_scans(
                            world, srv, tokens, connections=tier.single_connections,
                            tubes_per_connection=tier.single_tubes,
                            time_limit_s=tier.time_limit_s) | {"workers": scan_workers})
                        log(f"{tag}: single scans {res['single_scans_workers'][-1]}")
        if "verify" in only and verify_workers > 1:
            # pass checks are read-only: the deployment for venues runs several processes
            with Server(url, SECRET, workdir, workers=verify_workers) as srv:
                tokens = [srv.login(world.sampler(0).username, PASSWORD)]
                R.health_client(srv, 400, 4, 10)  # warm-up: every worker starts
                for r in range(tier.runs):
                    res["verify_workers"].append(R.verify(
                        world, srv, tokens, requests=tier.health_requests,
                        connections=tier.health_connections, time_limit_s=tier.time_limit_s)
                        | {"workers": verify_workers})
                    log(f"{backend} run {r + 1}/{tier.runs}: /verify, {verify_workers} "
                        f"workers {res['verify_workers'][-1]}")
                    if use_wrk:
                        w = R.verify_wrk(world, srv, tokens[0], seconds=tier.wrk_seconds,
                                         connections=tier.health_connections)
                        if w is not None:
                            res["verify_workers_wrk"].append(w | {"workers": verify_workers})
                            log(f"{backend} run {r + 1}/{tier.runs}: /verify, "
                                f"{verify_workers} workers, wrk {w}")
    finally:
        world.close()
    return res, world.setup_s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tier", choices=sorted(TIERS), default="small")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--runs", type=int, default=None, help="runs per figure (default: tier's)")
    ap.add_argument("--people", type=int, default=None, help="override the tier's population")
    ap.add_argument("--only", default="raw,fanout,lab,health,batch,single,verify",
                    help="comma-separated subset of raw,fanout,lab,health,batch,single,verify,"
                         "mllp (not in the default: a message a tube, its runs take "
                         "some 100 times as long as the fan-out's)")
    ap.add_argument("--pg-url", default=DEFAULT_PG,
                    help="PostgreSQL database to (re)create; its name must contain 'bench'")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    ap.add_argument("--no-wrk", action="store_true", help="skip the wrk /health figure")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a floor is missed")
    ap.add_argument("--verify-workers", type=int, default=2,
                    help="server processes for the second /verify figure (1: skip it)")
    ap.add_argument("--scan-workers", type=int, default=2,
                    help="server processes for the second batch and single-scan figures "
                         "(1: skip them)")
    ap.add_argument("--single-connections", type=int, default=None,
                    help="windows scanning one event a request at once (default: tier's)")
    ap.add_argument("--event-ids", choices=("v7", "v4"), default="v7",
                    help="the stations' event ids: time-ordered UUIDv7, as ours make them "
                         "(default), or random UUIDv4")
    args = ap.parse_args(argv)
    tier = TIERS[args.tier]
    if args.single_connections:
        tier = replace(tier, single_connections=args.single_connections)
    if args.runs:
        tier = replace(tier, runs=args.runs)
    if args.people:
        tier = replace(tier, people=args.people)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    result: dict[str, Any] = {
        "tier": args.tier, "runs": tier.runs, "config": asdict(tier),
        "event_ids": args.event_ids,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe(args.pg_url if "postgres" in backends else None),
        "backends": {}, "setup": {},
    }
    t0 = time.perf_counter()
    for backend in backends:
        runs, setup = bench_backend(backend, tier, args.pg_url, args.workdir / backend,
                                    not args.no_wrk, only, args.verify_workers,
                                    args.scan_workers, args.event_ids)
        result["backends"][backend] = summarise(backend, runs)
        result["setup"][backend] = setup
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    result["same_run"] = beside(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.tier}.json").write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    (args.out / f"{args.tier}.md").write_text(md)
    print(md)
    missed = [f for figs in result["backends"].values() for e in figs.values()
              for f in e["floors"] if not f["met"]]
    missed += [r for r in result["same_run"] if r["met"] is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
