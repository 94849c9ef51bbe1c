"""``hesuan retention …`` and ``hesuan programme …`` as an operator runs them, on both backends:
a retention pass prints its counts; a close asked for by one officer is refused to the same
officer (exit 4) and carried out by a second, who gets the certificate on stdout; the
aggregates are still printed afterwards."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from hesuan.bootstrap import Platform
from hesuan.config import Settings
from hesuan.domain.access import Role
from hesuan.services.auth import SYSTEM
from hesuan.sim.city import generate_city
from hesuan.sim.example import DEMO_PASSWORD
from tests.helpers import cli_env
from tests.integration.test_cli_startup import CLI

pytestmark = pytest.mark.slow


def _run(settings: Settings, tmp_path: Path, *args: str,
         password: str = DEMO_PASSWORD) -> subprocess.CompletedProcess[str]:
    env = cli_env(settings, HESUAN_PROGRAMME_DIR=str(tmp_path / "programme"),
               HESUAN_OFFICER_PASSWORD=password)
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def test_retention_and_the_close_from_the_command_line(platform: Platform, settings: Settings,
                                                       tmp_path: Path) -> None:
    generate_city(platform, 60, seed=9, workers=0)
    platform.auth.create_user(SYSTEM, "officer2", DEMO_PASSWORD, Role.HEALTH_OFFICER, "1401")

    periods = _run(settings, tmp_path, "retention", "periods")
    assert json.loads(periods.stdout) == {"samples": 30, "station_events": 30,
                                          "notifications": 7, "passes": 1, "venue_scans": 14,
                                          "arrivals": 14, "lab_messages": 30}
    run = _run(settings, tmp_path, "retention", "run", "--json")
    assert run.returncode == 0, run.stderr
    assert set(json.loads(run.stdout)) >= {"samples", "aggregated", "passes", "venue_checks"}

    asked = _run(settings, tmp_path, "programme", "close", "request", "--officer", "officer",
                 "--reason", "the programme ends")
    assert asked.returncode == 0, asked.stderr
    closure = asked.stdout.strip()
    with platform.engine.connect() as c:  # the officer's session ended with the command
        assert c.execute(text("SELECT count(*) FROM tokens")).scalar_one() == 0
    same = _run(settings, tmp_path, "programme", "close", "approve", closure,
                "--officer", "officer")
    assert same.returncode == 4 and "same_officer" in same.stderr
    wrong = _run(settings, tmp_path, "programme", "close", "approve", closure,
                 "--officer", "officer2", password="not the password")
    assert wrong.returncode == 5

    closed = _run(settings, tmp_path, "programme", "close", "approve", closure,
                  "--officer", "officer2")
    assert closed.returncode == 0, closed.stderr
    certificate = json.loads(closed.stdout)
    assert certificate["destroyed"]["people"]["rows"] == 60
    assert (certificate["requested_by"], certificate["approved_by"]) == ("officer", "officer2")
    assert (tmp_path / "programme" / f"destruction-certificate-{closure}.cose").is_file()

    after = _run(settings, tmp_path, "retention", "aggregates")
    assert after.returncode == 0 and json.loads(after.stdout) == []  # no round was run
    closes = _run(settings, tmp_path, "programme", "closes")
    assert json.loads(closes.stdout)[0]["status"] == "closed"
