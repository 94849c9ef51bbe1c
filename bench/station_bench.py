"""The station service in process, without HTTP: ``python -m bench.station_bench
[--people N] [--rounds R] [--batches B] [--group K] [--pg-url URL]``.

On a fresh SQLite bench city (``bench.world``; set-up not measured), ``R`` rounds each submit
``B`` batches of 1,000 station events (open a tube, ten samples, box it; seal a box every 80
tubes: what a station sends) through ``SamplingService.submit``, the call ``POST
/scans/batch`` makes. Prints the process CPU time per event of each round and their median:
the part of a batch scan's cost that is the service and the database, not the HTTP layer.

With ``--group K``: single scans instead. ``K`` windows (spread over the city's sites) each
scan one event, and the ``K`` events are written as one group commit, the transaction ``POST
/scans`` makes when ``K`` windows send at once; ``B`` × 100 groups a round. Prints CPU per
event and per transaction: the fixed cost of a transaction against the cost of an event.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.runs import _to_event
from bench.world import World, fresh_database_url
from hesuan.services.sampling import StationEvent


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.station_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--group", type=int, default=0, help="single scans, K windows a group")
    ap.add_argument("--pg-url", default="",
                    help="a PostgreSQL database ('bench' in its name) instead of SQLite")
    args = ap.parse_args()
    if args.group:
        _groups(args.people, args.rounds, args.batches * 100, args.group, args.pg_url)
        return
    backend = "postgres" if args.pg_url else "sqlite"
    with tempfile.TemporaryDirectory(prefix="hesuan-station-bench-") as tmp:
        work = Path(tmp)
        world = World.create(backend, fresh_database_url(backend, work, args.pg_url), work,
                             args.people, 4, log=lambda _: None)
        world.platform.start_checkpoints()  # as ``hesuan serve`` does
        try:
            svc, actor = world.platform.sampling, world.sampler(0)

            def batches(n: int) -> list[list[StationEvent]]:
                events = [_to_event(d) for d in world.station_stream(
                    world.sites[0], world.take_people(n * 910), boxed=True)]
                return [events[i:i + 1000] for i in range(0, len(events), 1000)][:n]

            svc.submit(actor, batches(1)[0])  # warm-up: statements compiled, caches filled
            per_event: list[float] = []
            wall: list[float] = []
            for _ in range(args.rounds):
                todo = batches(args.batches)
                t0, w0 = time.process_time(), time.perf_counter()
                for b in todo:
                    outcomes = svc.submit(actor, b)
                    if any(o.status != "accepted" for o in outcomes):
                        raise RuntimeError("a bench event was not accepted")
                per_event.append((time.process_time() - t0) / (len(todo) * 1000) * 1e6)
                wall.append((time.perf_counter() - w0) / (len(todo) * 1000) * 1e6)
        finally:
            world.close()
    print(f"{backend} people={args.people:,} CPU per event, µs: "
          f"{', '.join(f'{x:.1f}' for x in per_event)}; median {statistics.median(per_event):.1f}"
          f"; wall per event median {statistics.median(wall):.1f} µs")


def _groups(n_people: int, rounds: int, groups: int, k: int, pg_url: str) -> None:
    backend = "postgres" if pg_url else "sqlite"
    with tempfile.TemporaryDirectory(prefix="hesuan-station-bench-") as tmp:
        work = Path(tmp)
        world = World.create(backend, fresh_database_url(backend, work, pg_url), work,
                             n_people, 4, log=lambda _: None)
        world.platform.start_checkpoints()  # as ``hesuan serve`` does
        try:
            svc = world.platform.sampling
            per_window = (rounds * groups + 1) // 11 * 11 + 22  # whole tubes of 1 + 10 events
            windows = []
            for w in range(k):
                site = world.sites[w % len(world.sites)]
                actor = world.sampler(w % len(world.sites))
                events = world.station_stream(site, world.take_people(per_window // 11 * 10),
                                              boxed=False)
                windows.append([(actor, _to_event(d)) for d in events])
            step = iter(range(per_window))

            def group() -> list[Any]:
                i = next(step)
                return [win[i] for win in windows]

            svc._write_group(group())  # warm-up
            per_event: list[float] = []
            wall: list[float] = []
            for _ in range(rounds):
                t0, w0 = time.process_time(), time.perf_counter()
                for _ in range(groups):
                    if any(o.status != "accepted" for o in svc._write_group(group())):
                        raise RuntimeError("a bench event was not accepted")
                per_event.append((time.process_time() - t0) / (groups * k) * 1e6)
                wall.append((time.perf_counter() - w0) / (groups * k) * 1e6)
        finally:
            world.close()
    med = statistics.median(per_event)
    print(f"{backend} people={n_people:,} group of {k}: CPU per event, µs: "
          f"{', '.join(f'{x:.1f}' for x in per_event)}; median {med:.1f} "
          f"({med * k / 1000:.2f} ms a transaction); wall per event median "
          f"{statistics.median(wall):.1f} µs")


if __name__ == "__main__":
    main()
