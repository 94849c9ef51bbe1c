"""The benchmark counts the database's CPU beside the server's: on PostgreSQL a request's work
is shared between the app's process and the cluster's, and only both together compare with
SQLite, whose work runs inside the app's process (issue 21's single-scan floor on two cores)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from bench.server import cpu_seconds, database_pid
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.postgres


def test_sqlite_has_no_database_process(tmp_path: Path) -> None:
    assert database_pid(f"sqlite:///{tmp_path / 'x.db'}") is None


def test_the_clusters_cpu_counts_its_backends_after_they_exit(pg_url: str | None) -> None:
    if pg_url is None:
        pytest.skip("PostgreSQL is not reachable")
    cluster = database_pid(pg_url)
    assert cluster is not None
    # found each time, not only when its connection's backend outlives the question
    assert {database_pid(pg_url) for _ in range(20)} == {cluster}
    assert Path(f"/proc/{cluster}/comm").read_text().strip().startswith("postgres")
    engine = create_engine(pg_url)
    try:
        with engine.connect() as c:
            backend = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
            before = cpu_seconds(cluster)
            c.execute(text("SELECT count(*) FROM generate_series(1, 4000000)")).scalar_one()
            during = cpu_seconds(cluster)
            assert during - before >= 0.1  # the backend's work is the cluster's
    finally:
        engine.dispose()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{backend}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    # the backend is gone: its time stays counted (the postmaster's reaped children's time)
    assert cpu_seconds(cluster) >= during - 0.02
