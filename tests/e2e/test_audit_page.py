"""The admin page's audit check, on SQLite and PostgreSQL: intact, then a log whose last
entries were deleted after a checkpoint."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import text

from hesuan.services.auth import SYSTEM
from hesuan.services.places import LabInput
from hesuan.sim.example import DEMO_PASSWORD
from tests.helpers import Api


def _admin(client: TestClient) -> str:
    page = client.get("/web/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post("/web/login", data={"username": "admin", "password": DEMO_PASSWORD,
                                        "csrf": token.group(1)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/web/admin").text)
    assert csrf is not None
    return csrf.group(1)


def test_the_admin_page_reports_a_truncated_log(api: Api) -> None:
    client = TestClient(api.client.app, base_url="https://testserver")
    csrf = _admin(client)
    ok = client.post("/web/admin/audit", data={"csrf": csrf})
    assert ok.status_code == 200 and "审计日志完整" in ok.text
    checkpoint = api.platform.audit.checkpoint(SYSTEM)
    assert checkpoint is not None
    pg = api.platform.engine.dialect.name == "postgresql"
    with api.platform.engine.begin() as c:  # an attacker with the owner's rights
        if pg:
            c.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            c.execute(text("DROP TRIGGER audit_log_no_delete"))
        c.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": checkpoint.seq})
        if pg:
            c.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
    bad = client.post("/web/admin/audit", data={"csrf": csrf})
    assert bad.status_code == 200 and "审计日志与最近一次签名检查点不符" in bad.text


def test_the_admin_page_says_when_the_log_was_last_anchored(api: Api) -> None:
    """The check names the latest signed checkpoint; when none has been signed for over an
    hour while entries were written after it (the scheduler not running, or its checkpoints'
    folder unwritable), it says so, with what to look at."""
    client = TestClient(api.client.app, base_url="https://testserver")
    csrf = _admin(client)
    none_yet = client.post("/web/admin/audit", data={"csrf": csrf})
    assert 'id="anchor" data-stale="1"' in none_yet.text  # never anchored
    checkpoint = api.platform.audit.checkpoint(SYSTEM)
    assert checkpoint is not None
    fresh = client.post("/web/admin/audit", data={"csrf": csrf})
    assert f'id="anchor" data-stale="0" data-seq="{checkpoint.seq}"' in fresh.text
    api.clock.advance(timedelta(hours=2))
    api.platform.places.add_lab(SYSTEM, LabInput("晚到实验室", "140105", 1000))  # after it
    stale = client.post("/web/admin/audit", data={"csrf": csrf})
    assert f'id="anchor" data-stale="1" data-seq="{checkpoint.seq}"' in stale.text
    assert "HESUAN_AUDIT_CHECKPOINT_DIR" in stale.text
