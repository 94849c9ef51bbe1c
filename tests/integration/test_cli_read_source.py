"""The CLI's reports that may read the replica (``HESUAN_DATABASE_REPLICA_URL``) say on stderr
where they read and, from the replica, how far behind the primary it is — as the API's
``Hesuan-Read-From`` / ``Hesuan-Read-Age`` headers do. Here the "replica" is a second, migrated
database on the same server (as in ``tests/e2e/test_replica_reads.py``); the real streaming
replica is in ``scripts/deploy-test.sh``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine

from hesuan.adapters.db.migrate import upgrade
from hesuan.bootstrap import Platform
from hesuan.config import Settings
from hesuan.sim.example import seed_example_city
from tests.helpers import cli_env, postgres_database

CLI = [sys.executable, "-m", "hesuan.entrypoints.cli"]
#: The commands that read where stale reads go.
STALE_OK = [
    ["report", "turnaround", "--json"],
    ["report", "reconcile", "--json"],
    ["report", "coverage", "--json", "--level", "district"],
    ["report", "coverage", "--json", "--snapshot"],
    ["report", "positives", "--json"],
    ["report", "prevalence", "--json"],
    ["roster", "coverage", "--json", "--live"],
]
REPLICA_LINE = re.compile(r"^read from the replica, [0-9.e+-]+ s behind the primary$", re.M)


@pytest.fixture
def replica_url(backend: str) -> Iterator[str]:
    if backend != "postgres":
        pytest.skip("a replica is PostgreSQL's")
    with postgres_database(f"hesuan_cli_replica_{os.getpid()}") as url:
        eng = create_engine(url)
        upgrade(eng)
        eng.dispose()
        yield url


def _cli(settings: Settings, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=cli_env(settings, **extra), capture_output=True,
                          text=True, timeout=120)


def test_reports_from_the_replica_print_its_age(
        platform: Platform, settings: Settings, replica_url: str) -> None:
    seed_example_city(platform, people=20)
    for args in STALE_OK:
        done = _cli(settings, *args, HESUAN_DATABASE_REPLICA_URL=replica_url)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        assert len(REPLICA_LINE.findall(done.stderr)) == 1, (args, done.stderr)
        json.loads(done.stdout)  # the line is not in the JSON


def test_reports_from_the_primary_say_so(platform: Platform, settings: Settings) -> None:
    seed_example_city(platform, people=20)
    for args in (STALE_OK[0], STALE_OK[-1]):
        done = _cli(settings, *args)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        assert re.search(r"^read from the primary$", done.stderr, re.M), (args, done.stderr)
        json.loads(done.stdout)
