"""The benchmark at toy size (SQLite, one run), so ``python -m bench`` cannot rot: it must set up
its city, start the real server, run every figure with every response checked, and write its
JSON and markdown."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import main


def test_bench_runs_at_toy_size(tmp_path: Path) -> None:
    out = tmp_path / "results"
    rc = main(["--tier", "toy", "--backend", "sqlite", "--runs", "1", "--people", "2000",
               "--no-wrk", "--out", str(out), "--workdir", str(tmp_path / "work")])
    assert rc == 0
    result = json.loads((out / "toy.json").read_text())
    figures = result["backends"]["sqlite"]
    for name, key in [("raw_insert", "rows_per_s"), ("health", "rate_per_s"),
                      ("batch_scans", "scans_per_s"), ("single_scans", "rate_per_s"),
                      ("fanout", "people_per_s")]:
        assert figures[name]["median"][key] > 0, name
    for name in ("health", "batch_scans", "single_scans"):
        assert all(r["errors"] == 0 for r in figures[name]["runs"]), name
    assert figures["fanout"]["median"]["people"] == 2000
    assert figures["batch_scans"]["floors"] and figures["fanout"]["floors"]
    assert "| sqlite |" in (out / "toy.md").read_text()
