"""``hesuan serve`` in one process stopped by SIGTERM (as systemd stops a unit): it exits 0
after its shutdown — the scheduler signs a last checkpoint of the audit chain, so what was
written up to the stop is anchored outside the database."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.services.auth import SYSTEM
from tests.helpers import free_port, start_server

pytestmark = pytest.mark.slow

SECRET = "serve-stop-test-secret"


def test_sigterm_stops_the_server_with_a_last_checkpoint(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    audit = tmp_path / "audit"
    env = {"HESUAN_DATABASE_URL": url, "HESUAN_SECRET_KEY": SECRET,
           "HESUAN_ENVIRONMENT": "test", "HESUAN_KEY_FILE": str(tmp_path / "secret.key"),
           "HESUAN_SMS_FILE": str(tmp_path / "sms.jsonl"),
           "HESUAN_PASS_KEY_DIR": str(tmp_path / "keys"), "HESUAN_SWEEP_EVERY": "P1D",
           "HESUAN_AUDIT_CHECKPOINT_DIR": str(audit)}
    settings = Settings(database_url=url, secret_key=SECRET, environment="test",
                        key_file=tmp_path / "secret.key", sms_file=tmp_path / "sms.jsonl",
                        pass_key_dir=tmp_path / "keys", audit_checkpoint_dir=audit)
    proc = start_server(env, free_port(), tmp_path, timeout_s=60)
    try:
        platform = bootstrap(settings, migrate=False)
        with platform.deps.uow() as uow:  # written while the server runs, never ticked
            uow.audit_log.append(platform.deps.clock.now(), "tester", "test.append", "x", {})
            uow.commit()
        before = platform.audit.verify(SYSTEM)
        platform.close()
        assert before.checkpoint is None or before.checkpoint.seq < before.head_seq
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    platform = bootstrap(settings, migrate=False)
    after = platform.audit.verify(SYSTEM)
    platform.close()
    assert after.intact and after.checkpoint is not None
    assert after.checkpoint.seq == after.head_seq == before.head_seq

