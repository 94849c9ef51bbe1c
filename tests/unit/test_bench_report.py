"""The benchmark's report holds PostgreSQL against SQLite where both ran in one invocation
(issue 21: fan-out, batch and single scans at least SQLite's figures in the same run), so that
the floor is checked by the benchmark, not read off two tables by eye."""

from __future__ import annotations

from typing import Any

from bench.report import beside, markdown, summarise


def _runs(**figures: float) -> dict[str, list[dict[str, Any]]]:
    keys = {"raw_insert": "rows_per_s", "batch_scans": "scans_per_s",
            "single_scans": "rate_per_s", "fanout": "people_per_s", "health": "rate_per_s"}
    return {fig: [{keys[fig]: v, "p50_ms": 1.0, "p99_ms": 2.0} if "scans" in fig
                  else {keys[fig]: v}] for fig, v in figures.items()}


def _result(**backends: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"tier": "small", "runs": 1, "event_ids": "v7", "started_at": "2026-12-06T00:00:00Z",
            "machine": {"nproc": 2, "cpu_model": "x", "ram_gib": 1, "os": "linux",
                        "python": "3.11", "sqlite": "3.40", "postgresql": "15",
                        "load_avg_at_start": [0, 0, 0]},
            "backends": {b: summarise(b, r) for b, r in backends.items()}, "setup": {}}


def test_postgresql_is_held_against_sqlite_of_the_same_run() -> None:
    result = _result(
        sqlite=_runs(raw_insert=200_000, batch_scans=20_000, single_scans=3_000,
                     fanout=110_000, health=9_000),
        postgres=_runs(raw_insert=100_000, batch_scans=21_000, single_scans=1_500,
                       fanout=100_000, health=9_000))
    rows = {r["figure"]: r for r in beside(result)}
    assert set(rows) == {"raw_insert", "batch_scans", "single_scans", "fanout", "health"}
    assert rows["batch_scans"]["ratio"] == 1.05 and rows["batch_scans"]["met"] is True
    assert rows["single_scans"]["ratio"] == 0.5 and rows["single_scans"]["met"] is False
    # the fan-out's floor is its own 100,000 people/s; a baseline has none
    assert rows["fanout"]["ratio"] == 0.909 and rows["fanout"]["met"] is None
    assert rows["raw_insert"]["met"] is None
    md = markdown(result)
    assert "PostgreSQL beside SQLite" in md
    assert "| (d) single scans, POST /scans | 3,000 scans/s | 1,500 scans/s | 0.5× | **MISSED** |" \
        in md


def test_one_backend_has_nothing_beside_it() -> None:
    result = _result(sqlite=_runs(raw_insert=200_000, single_scans=3_000, health=9_000))
    assert beside(result) == []
    assert "PostgreSQL beside SQLite" not in markdown(result)


def test_the_whole_cpu_of_a_request_is_held_beside_sqlites() -> None:
    # SQLite's work is inside the server's process; PostgreSQL's is the app's and the cluster's
    lite = _runs(single_scans=3_000, health=9_000)
    lite["single_scans"][0] |= {"server_cpu_ms_per_req": 0.3}
    pg = _runs(single_scans=1_500, health=9_000)
    pg["single_scans"][0] |= {"server_cpu_ms_per_req": 0.4, "database_cpu_ms_per_req": 0.25}
    result = _result(sqlite=lite, postgres=pg)
    rows = {r["figure"]: r for r in beside(result)}
    assert rows["single_scans"]["cpu_ms"] == {"sqlite": 0.3, "postgres": 0.65,
                                              "postgres_database": 0.25}
    assert "cpu_ms" not in rows["health"]  # measured on neither
    assert ("| (d) single scans, POST /scans | 3,000 scans/s | 1,500 scans/s | 0.5× | "
            "**MISSED** | 0.3 / 0.65 (0.25 of it the database's) |") in markdown(result)
