"""App processes that start together each bring the schema up to date (``hesuan serve``
migrates at start): on PostgreSQL their migrations take turns on an advisory lock, so the
second finds the schema at head instead of creating the tables a second time."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from hesuan.adapters.db.migrate import head
from tests.helpers import postgres_database

pytestmark = pytest.mark.postgres

#: Two processes, started together, each migrating the same new database.
MIGRATE = ("import sys, time; from sqlalchemy import create_engine; "
           "from hesuan.adapters.db.migrate import upgrade; "
           "e = create_engine(sys.argv[1]); e.connect().close(); "
           "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); upgrade(e)")


def test_two_processes_migrating_a_new_database_at_once_both_succeed() -> None:
    with postgres_database(f"hesuan_migrate_race_{os.getpid()}") as url:
        start = str(time.time() + 3)  # both connected and waiting by then
        procs = [subprocess.Popen([sys.executable, "-c", MIGRATE, url, start],
                                  env=os.environ.copy(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=180) for p in procs]
        for p, (_out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, err[-2000:]
        engine = create_engine(url)
        with engine.connect() as c:
            assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == head()
        engine.dispose()
