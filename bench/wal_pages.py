"""Which pages a single-scan group commit writes on SQLite: ``python -m bench.wal_pages
[--people N] [--group K] [--groups G]``.

On a fresh SQLite bench city (``bench.world``; set-up not measured), ``G`` group commits of
``K`` windows' single scans (``K`` events a transaction, what ``POST /scans`` writes when ``K``
windows send at once) with checkpoints held off, then reads the WAL: every frame is one page a
commit wrote, and SQLite's ``dbstat`` says which table or index each page belongs to. Prints
pages a transaction, by b-tree. Each page a transaction dirties is written to the WAL at
commit and copied back by the checkpoint, so this is what a scan costs the disk and most of
what COMMIT costs the CPU (BENCHMARKS.md, change 33).
"""

from __future__ import annotations

import argparse
import collections
import os
import sqlite3
import struct
import tempfile
from pathlib import Path

_FRAME_HEADER, _WAL_HEADER = 24, 32


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.wal_pages", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--group", type=int, default=16, help="windows (events) a transaction")
    ap.add_argument("--groups", type=int, default=200, help="transactions")
    args = ap.parse_args()
    # the writers' own checkpoint held off, and no checkpointer thread: the WAL keeps every
    # frame the measured transactions write
    os.environ["HESUAN_SQLITE_CHECKPOINT_PAGES"] = "1000000"
    from bench.runs import _to_event  # after the setting: the platform reads it at start
    from bench.world import World, fresh_database_url

    with tempfile.TemporaryDirectory(prefix="hesuan-wal-pages-") as tmp:
        work = Path(tmp)
        world = World.create("sqlite", fresh_database_url("sqlite", work, ""), work,
                             args.people, 4, log=lambda _: None)
        try:
            per_window = (args.groups + 1) // 11 * 11 + 22  # whole tubes of 1 + 10 events
            windows = []
            for w in range(args.group):
                site, actor = world.sites[w % len(world.sites)], world.sampler(w % 4)
                events = world.station_stream(site, world.take_people(per_window // 11 * 10),
                                              boxed=False)
                windows.append([(actor, _to_event(d)) for d in events])
            svc = world.platform.sampling
            svc._write_group([win[0] for win in windows])  # warm-up
            db = next(work.rglob("*.db"))
            with sqlite3.connect(db) as raw:
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                for i in range(1, args.groups + 1):
                    svc._write_group([win[i] for win in windows])
                pages = _wal_pages(Path(f"{db}-wal").read_bytes())
                owner = {r[1]: r[0] for r in raw.execute("SELECT name, pageno FROM dbstat")}
        finally:
            world.close()
    by_tree = collections.Counter(owner.get(p, "?") for p in pages)
    print(f"{len(pages) / args.groups:.1f} pages a transaction of {args.group} events "
          f"({len(pages) / args.groups / args.group:.2f} an event), by b-tree:")
    for name, n in by_tree.most_common():
        print(f"  {n / args.groups:6.2f}  {name}")


def _wal_pages(wal: bytes) -> list[int]:
    """The page number of every frame in a WAL file."""
    page_size = struct.unpack(">I", wal[8:12])[0]
    out, off = [], _WAL_HEADER
    while off + _FRAME_HEADER + page_size <= len(wal):
        out.append(struct.unpack(">I", wal[off:off + 4])[0])
        off += _FRAME_HEADER + page_size
    return out


if __name__ == "__main__":
    main()
