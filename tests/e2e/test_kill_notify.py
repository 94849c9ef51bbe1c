"""No person notified twice: SIGKILL ``hesuan notify`` mid-delivery, restart it, count per message.

The test seeds a database here (example city), then, per trial, puts a wave of reminder messages
in the outbox (one per person and trial, each with its own id) and runs the real CLI,
``hesuan notify``, in a subprocess with the ``file`` sender (the development gateway: one JSON
line per message handed over). When the file holds a random number of lines the process is killed
with SIGKILL; then ``hesuan notify`` runs again, after the in-flight claim has gone stale, until
the wave is delivered. Every message of the wave is then in the file **exactly once**: the killed
process's in-flight message is settled by the file sender's own record (taken, so marked sent; not
taken, so sent once now), and nothing it had handed over before is sent again.

Runs on SQLite (file database) and on PostgreSQL (a database of its own, created and dropped
here). Each trial prints its figures (``-s`` shows them).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Engine, make_url

from hesuan.adapters.db.schema import outbox
from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.sim.example import seed_example_city
from tests.helpers import HESUAN, postgres_database

pytestmark = pytest.mark.slow

TRIALS = 4
WAVE = 3  # messages per person and trial
RATE = 1000  # sends a second at most: a wave of 600 takes at least 0.6 s
SECRET = "kill-notify-secret"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'notify.db'}"
        return
    with postgres_database(f"hesuan_killsms_{os.getpid()}") as url:
        yield url


def _seed(database_url: str, tmp_path: Path) -> list[str]:
    settings = Settings(database_url=database_url, secret_key=SECRET, environment="test",
                        key_file=tmp_path / "secret.key", sms_file=tmp_path / "seed.jsonl",
                        pass_key_dir=tmp_path / "keys")
    platform = bootstrap(settings)  # migrates
    try:
        seed_example_city(platform, people=200)
        with platform.engine.connect() as c:
            return [r[0] for r in c.execute(text("SELECT id FROM people ORDER BY id"))]
    finally:
        platform.close()


def _wave(engine: Engine, people: list[str], trial: int) -> set[str]:
    now = datetime.now(UTC)
    rows = [{"id": uuid.uuid4().hex, "dedup_key": f"kill-notify:{trial}:{i}",
             "person_id": people[i % len(people)], "tube_id": None, "template": "reminder",
             "params": {"due": f"trial {trial}"}, "created_at": now, "next_attempt_at": now,
             "attempts": 0} for i in range(WAVE * len(people))]
    with engine.begin() as c:
        c.execute(insert(outbox), rows)
    return {str(r["id"]) for r in rows}


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for _ in fh)
    except FileNotFoundError:
        return 0


def _notify(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(HESUAN), "notify", "--limit", "5000"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def test_sigkill_mid_delivery_sends_no_message_twice(database_url: str, tmp_path: Path) -> None:
    people = _seed(database_url, tmp_path)
    engine = create_engine(database_url)
    rng = random.Random(16)
    outcomes: list[dict[str, int]] = []
    try:
        for trial in range(TRIALS):
            ids = _wave(engine, people, trial)
            sms = tmp_path / f"sms-{trial}.jsonl"
            env = {**os.environ, "HESUAN_DATABASE_URL": database_url,
                   "HESUAN_SECRET_KEY": SECRET, "HESUAN_ENVIRONMENT": "test",
                   "HESUAN_KEY_FILE": str(tmp_path / "secret.key"),
                   "HESUAN_PASS_KEY_DIR": str(tmp_path / "keys"),
                   "HESUAN_AUDIT_CHECKPOINT_DIR": str(tmp_path / "audit"),
                   "HESUAN_SMS_SENDER": "file", "HESUAN_SMS_FILE": str(sms),
                   "HESUAN_SMS_RATE_PER_S": str(RATE), "HESUAN_SMS_CLAIM_TIMEOUT_S": "0.4"}
            kill_at = rng.randrange(20, 300)  # 0.3 s before the wave's end at the latest
            log = tmp_path / f"notify-{trial}.log"
            proc = _notify(env, log)
            try:
                deadline = time.monotonic() + 30
                while _lines(sms) < kill_at and proc.poll() is None:
                    assert time.monotonic() < deadline, f"no delivery: {log.read_text()}"
                    time.sleep(0.002)
                assert proc.poll() is None, f"the kill must land mid-delivery: {log.read_text()}"
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            at_kill = _lines(sms)
            time.sleep(0.5)  # the killed process's claim goes stale (HESUAN_SMS_CLAIM_TIMEOUT_S)
            rerun = subprocess.run([str(HESUAN), "notify", "--limit", "5000"], env=env,
                                   capture_output=True, text=True, timeout=60)
            assert rerun.returncode == 0, rerun.stdout + rerun.stderr
            counts = Counter(json.loads(line)["id"] for line in sms.read_text().splitlines())
            twice = sum(1 for n in counts.values() if n > 1)
            missing = len(ids - set(counts))
            outcomes.append({"kill_at": at_kill, "twice": twice, "missing": missing})
            print(f"\n{make_url(database_url).get_backend_name()} trial {trial}: killed at "
                  f"{at_kill} of {len(ids)} lines; sent twice {twice}; missing {missing}; "
                  f"rerun: {(rerun.stdout + rerun.stderr).strip()}")
            assert set(counts) <= ids
    finally:
        engine.dispose()
    assert [o["twice"] for o in outcomes] == [0] * TRIALS, f"people notified twice: {outcomes}"
    assert [o["missing"] for o in outcomes] == [0] * TRIALS, f"messages never sent: {outcomes}"
