"""The benchmark at toy size (SQLite, one run), so ``python -m bench`` cannot rot: it must set up
its city, start the real server, run every figure (the MLLP one too) with every response
checked, and write its JSON and markdown."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hesuan.bootstrap import Platform

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_at_toy_size(tmp_path: Path) -> None:
    # its own process: the bench runs its own event loop, which must not meet one left behind
    # by another test (Playwright's sync API) in this process
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--tier", "toy", "--backend", "sqlite", "--runs", "1",
         "--people", "2000", "--no-wrk",
         "--only", "raw,fanout,lab,health,batch,single,verify,mllp", "--out", str(out),
         "--workdir", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((out / "toy.json").read_text())
    figures = result["backends"]["sqlite"]
    for name, key in [("raw_insert", "rows_per_s"), ("health", "rate_per_s"),
                      ("batch_scans", "scans_per_s"), ("single_scans", "rate_per_s"),
                      ("fanout", "people_per_s"), ("lab_release", "people_per_s")]:
        assert figures[name]["median"][key] > 0, name
    for name in ("health", "batch_scans", "single_scans", "batch_scans_workers",
                 "single_scans_workers"):
        assert all(r["errors"] == 0 for r in figures[name]["runs"]), name
    assert figures["fanout"]["median"]["people"] == 2000
    # the same round's results through plates of 96: import, review, release, against the
    # direct fan-out of the same invocation
    lab = figures["lab_release"]
    assert lab["median"]["people"] == 2000 and lab["median"]["plates"] >= 2
    assert lab["ratios"]["vs_fanout"] > 0
    # the same round's results as the lab's system sends them, a message a tube over MLLP
    # (every ACK checked AA by the bench), on one connection and on four
    for name, connections in (("mllp", 1), ("mllp_connections", 4)):
        mllp = figures[name]["median"]
        assert mllp["people"] == 2000 and mllp["messages"] == mllp["tubes"] > 0, name
        assert mllp["connections"] == connections and mllp["messages_per_s"] > 0, name
        assert figures[name]["ratios"]["vs_fanout"] > 0, name
    assert figures["batch_scans"]["floors"] and figures["fanout"]["floors"]
    assert "| sqlite |" in (out / "toy.md").read_text()


def test_wal_pages_counts_what_a_group_commit_writes(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.wal_pages", "--people", "3000", "--group", "4",
         "--groups", "20"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    head, *trees = proc.stdout.strip().splitlines()
    assert head.endswith("by b-tree:") and float(head.split()[0]) > 1
    named = {line.split()[1]: float(line.split()[0]) for line in trees}
    # every transaction writes its station events and the sampled people's status rows
    assert named["station_events"] > 0 and named["person_status"] > 0


@pytest.mark.postgres
def test_roundtrip_prices_one_round_trip_on_each_path(pg_url: str | None) -> None:
    if pg_url is None:
        pytest.skip("PostgreSQL is not reachable")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.roundtrip", "--pg-url", pg_url, "--n", "300"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert [line.split()[0].rstrip(",") for line in lines] == [
        "libpq", "psycopg", "psycopg", "SQLite"]
    for line in lines:
        found = re.search(r"([\d.]+) µs wall\s+([\d.]+) µs CPU a round trip$", line)
        assert found and float(found[1]) > 0 and float(found[2]) > 0, line


#: Where the 500 station events below land: their ids are not time-ordered, so the station
#: events' default partition on PostgreSQL (autovacuum, and the stand-in, work on partitions)
_EVENTS = "station_events_default"


def _stand_in_after_500_events(platform: Platform) -> Any:
    """The autovacuum stand-in on the test database, once 500 station events are in (and the
    statistics of that insert flushed, so that the stand-in sees them)."""
    sys.path.insert(0, str(ROOT))
    from bench.autovacuum import AutovacuumStandIn

    with platform.engine.begin() as c:
        c.execute(text("INSERT INTO station_events (event_id, kind, site_id, actor, client_at, "
                       "received_at) SELECT 'e' || i, 'sample', 'S1', 'u1', i, i "
                       "FROM generate_series(1, 500) i"))
        c.execute(text("SELECT pg_stat_force_next_flush()"))
    return AutovacuumStandIn(str(platform.engine.url.render_as_string(hide_password=False)),
                             log=lambda _: None)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_autovacuum_stand_in_analyses_what_a_round_wrote(platform: Platform) -> None:
    """``bench/autovacuum.py`` does what the server's autovacuum (off on this machine) would:
    a table changed by more than 50 rows + 10 % since its last analysis gets ``ANALYZE``d,
    and then it is not due again."""
    standin = _stand_in_after_500_events(platform)
    with platform.engine.connect() as other:  # a session with a temporary table of its own
        other.execute(text("CREATE TEMPORARY TABLE a_scratch AS "
                           "SELECT i FROM generate_series(1, 500) i"))
        other.execute(text("SELECT pg_stat_force_next_flush()"))
        other.commit()
        first = standin.run_once()
    assert any("station_events" in str(d) for d in first["done"]), first
    # another session's temporary table is not ours to analyse (autovacuum skips them too)
    assert not any("a_scratch" in str(d) for d in first["done"]), first
    again = standin.run_once()
    assert not any("station_events" in str(d) for d in again["done"]), again
    with platform.engine.connect() as c:
        assert c.execute(text("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                              "WHERE relname = :t"), {"t": _EVENTS}).scalar()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_autovacuum_stand_in_follows_a_tables_own_thresholds(platform: Platform) -> None:
    """A table's ``autovacuum_*`` storage parameters (``person_status`` has them: migration
    0005) decide when it is vacuumed, as they would for the server's autovacuum."""
    with platform.engine.connect() as c:
        options = c.execute(text("SELECT reloptions FROM pg_class "
                                 "WHERE relname = 'person_status'")).scalar()
    assert options is not None and "autovacuum_vacuum_scale_factor=0.01" in options, options
    standin = _stand_in_after_500_events(platform)
    assert any("station_events" in str(d) for d in standin.run_once()["done"])  # 500 counted
    with platform.engine.begin() as c:
        c.execute(text("DELETE FROM station_events WHERE client_at <= 100"))
        c.execute(text("SELECT pg_stat_force_next_flush()"))
    # 100 dead rows: under the default 50 + 20 % of 500, over this table's own 10 + 0 %
    assert not any("VACUUM" in str(d) and "station_events" in str(d)
                   for d in standin.run_once()["done"])
    with platform.engine.begin() as c:
        c.execute(text(f"ALTER TABLE {_EVENTS} SET (autovacuum_vacuum_threshold = 10, "
                       "autovacuum_vacuum_scale_factor = 0)"))
    try:
        assert any("VACUUM" in str(d) and "station_events" in str(d)
                   for d in standin.run_once()["done"])
    finally:
        with platform.engine.begin() as c:
            c.execute(text(f"ALTER TABLE {_EVENTS} RESET (autovacuum_vacuum_threshold, "
                           "autovacuum_vacuum_scale_factor)"))
