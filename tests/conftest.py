"""Shared fixtures: a platform on SQLite and on the real local PostgreSQL, with a fixed clock.

PostgreSQL tests use the server at 127.0.0.1:5432 (database ``test``; ``.ci/run`` starts it when
it is down). Set HESUAN_TEST_PG_URL to point elsewhere, or HESUAN_TEST_NO_PG=1 to skip them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.migrate import upgrade
from hesuan.adapters.db.schema import metadata
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings

PG_URL = os.environ.get("HESUAN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START = datetime(2022, 8, 29, 0, 0, tzinfo=UTC)  # the source article's date, 08:00 in Taiyuan


def _pg_available() -> bool:
    if os.environ.get("HESUAN_TEST_NO_PG"):
        return False
    try:
        with create_engine(PG_URL).connect() as c:
            c.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_ready() -> bool:
    ok = _pg_available()
    if ok:
        eng = create_engine(PG_URL)
        with eng.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE"))
            c.execute(text("CREATE SCHEMA public"))
        upgrade(eng)
        eng.dispose()
    return ok


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    eng = create_engine(f"sqlite:///{path}")
    upgrade(eng)
    eng.dispose()
    return path


def _truncate_pg() -> None:
    eng = create_engine(PG_URL)
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with eng.begin() as c:
        c.execute(text(f"TRUNCATE {names} CASCADE"))
        c.execute(text("DROP TABLE IF EXISTS tmp_results"))
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if backend == "postgres":
        if not request.getfixturevalue("pg_ready"):
            pytest.skip("PostgreSQL is not reachable")
        _truncate_pg()
        url = PG_URL
    else:
        db = tmp_path / "hesuan.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), db)
        url = f"sqlite:///{db}"
    return Settings(database_url=url, environment="test", secret_key="test-secret",
                    sms_file=tmp_path / "sms.jsonl", key_file=tmp_path / "k",
                    pass_key_dir=tmp_path / "keys")


@pytest.fixture
def platform(settings: Settings, clock: FixedClock) -> Iterator[Platform]:
    p = bootstrap(settings, clock=clock, migrate=False)
    yield p
    p.close()
