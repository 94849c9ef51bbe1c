"""The benchmark's record of the machine names the PostgreSQL server it ran against, also on
a fresh cluster where the bench has not yet made its own database."""

from __future__ import annotations

import pytest
from bench.machine import postgres_version
from sqlalchemy import make_url

pytestmark = pytest.mark.postgres


def test_the_servers_version_before_the_bench_database_exists(pg_url: str | None) -> None:
    if pg_url is None:
        pytest.skip("PostgreSQL is not reachable")
    not_yet = make_url(pg_url).set(database="hesuan_bench_not_made_yet")
    version = postgres_version(not_yet.render_as_string(hide_password=False))
    assert version is not None and version.split(".")[0].isdigit()
