"""Shared fixtures: a platform on SQLite and on the real local PostgreSQL, with a fixed clock.

PostgreSQL tests use the real server at 127.0.0.1:5432 (``.ci/run`` starts it when it is down):
each test session creates its own database next to ``test`` (so two sessions never collide),
migrates it, empties it before every test and drops it at the end. Set HESUAN_TEST_PG_URL to
point elsewhere, or HESUAN_TEST_NO_PG=1 to skip them.
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
def pg_url() -> Iterator[str | None]:
    if not _pg_available():
        yield None
        return
    name = f"hesuan_test_{os.getpid()}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        c.execute(text(f"CREATE DATABASE {name}"))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    eng = create_engine(url)
    upgrade(eng)
    eng.dispose()
    yield url
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    eng = create_engine(f"sqlite:///{path}")
    upgrade(eng)
    eng.dispose()
    return path


#: Every table's rows deleted, children before parents, in one round trip. DELETE on tables
#: that hold a test's few rows takes about a tenth of TRUNCATE's time, which makes new files for
#: every table, partition and index. The replica role skips the triggers, the audit log's
#: append-only guard and the foreign keys' checks alike, for this transaction only.
_EMPTY_ALL = "; ".join(f"DELETE FROM {t.name}" for t in reversed(metadata.sorted_tables))


def _empty_pg(url: str) -> None:
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text("SET LOCAL session_replication_role = replica"))
        c.execute(text(_EMPTY_ALL))
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
        pg = request.getfixturevalue("pg_url")
        if pg is None:
            pytest.skip("PostgreSQL is not reachable")
        _empty_pg(pg)
        url = pg
    else:
        db = tmp_path / "hesuan.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), db)
        url = f"sqlite:///{db}"
    return Settings(database_url=url, environment="test", secret_key="test-secret",
                    sms_file=tmp_path / "sms.jsonl", key_file=tmp_path / "k",
                    pass_key_dir=tmp_path / "keys", audit_checkpoint_dir=tmp_path / "audit")


@pytest.fixture
def platform(settings: Settings, clock: FixedClock) -> Iterator[Platform]:
    p = bootstrap(settings, clock=clock, migrate=False)
    yield p
    p.close()
