"""PostgreSQL compiles none of the platform's statements (JIT).

The server compiles a statement to machine code when the planner's estimate of its cost passes
``jit_above_cost``. The estimates of the platform's reports count every correlated subquery
for every row (the coverage's history of a round that ended, which runs for few people or
none), so a city of 2,000 people already passed it: compiling the coverage query took 93 of its
96 ms, and at a million people 0.9 s of 1.7 (docs/BENCHMARKS.md). The test lowers the
threshold to nothing and asks the plan whether the server compiled the query.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db import roster_sql
from hesuan.adapters.db.engine import make_engine
from hesuan.adapters.db.schema import to_ms
from hesuan.bootstrap import Platform
from hesuan.config import Settings
from hesuan.sim.example import seed_example_city
from tests.conftest import PG_URL


def _server_compiles() -> bool:
    """Whether a session of the server's own settings may compile (its JIT provider loads and
    ``jit`` is on there)."""
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as c:
            return bool(c.exec_driver_sql("SELECT pg_jit_available()").scalar())
    finally:
        engine.dispose()


def _plan(platform: Platform, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    if not _server_compiles():
        pytest.skip("this PostgreSQL server does not compile statements (no JIT)")
    with platform.engine.begin() as c:
        c.exec_driver_sql("SET LOCAL jit_above_cost = 0")  # every statement's cost passes it
        plan = c.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"), params).scalar_one()
    return dict(plan[0])


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_the_coverage_query_runs_without_compiling(platform: Platform,
                                                   clock: FixedClock) -> None:
    seed_example_city(platform, people=50)
    now = clock.now()
    sql = (f"SELECT p.grid_code, {roster_sql.coverage_counts('ps.')} FROM people p "
           "JOIN person_status ps ON ps.person_id = p.id GROUP BY p.grid_code")
    plan = _plan(platform, sql, {"since": to_ms(now - timedelta(days=4)), "as_of": to_ms(now)})
    assert "JIT" not in plan, plan["JIT"]
    assert plan["Plan"]["Actual Rows"] > 0


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_options_given_in_the_database_url_are_kept_beside_it(settings: Settings) -> None:
    """An operator's own startup options in ``HESUAN_DATABASE_URL`` (libpq's ``options``) still
    reach the server, with the platform's ``jit = off`` beside them."""
    url = make_url(settings.database_url).update_query_dict(
        {"options": "-c statement_timeout=12345"})
    engine = make_engine(settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False)}))
    try:
        with engine.connect() as c:
            got = [c.exec_driver_sql(f"SHOW {name}").scalar()
                   for name in ("statement_timeout", "jit")]
    finally:
        engine.dispose()
    assert got == ["12345ms", "off"]
