"""The benchmark at toy size (SQLite, one run), so ``python -m bench`` cannot rot: it must set up
its city, start the real server, run every figure with every response checked, and write its
JSON and markdown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_at_toy_size(tmp_path: Path) -> None:
    # its own process: the bench runs its own event loop, which must not meet one left behind
    # by another test (Playwright's sync API) in this process
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--tier", "toy", "--backend", "sqlite", "--runs", "1",
         "--people", "2000", "--no-wrk", "--out", str(out), "--workdir", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((out / "toy.json").read_text())
    figures = result["backends"]["sqlite"]
    for name, key in [("raw_insert", "rows_per_s"), ("health", "rate_per_s"),
                      ("batch_scans", "scans_per_s"), ("single_scans", "rate_per_s"),
                      ("fanout", "people_per_s")]:
        assert figures[name]["median"][key] > 0, name
    for name in ("health", "batch_scans", "single_scans", "batch_scans_workers",
                 "single_scans_workers"):
        assert all(r["errors"] == 0 for r in figures[name]["runs"]), name
    assert figures["fanout"]["median"]["people"] == 2000
    assert figures["batch_scans"]["floors"] and figures["fanout"]["floors"]
    assert "| sqlite |" in (out / "toy.md").read_text()
