"""Pass-signing key rotation through the API and the CLI, on SQLite and PostgreSQL: admin only, at
most one rotation per interval (docs/SECURITY.md §6), every rotation and every refused one
audited. A fuzzer once rotated the key 20 times in a row."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import text

from hesuan.domain.passes import ROTATION_INTERVAL
from tests.helpers import Api


def _audit(api: Api, prefix: str) -> list[str]:
    with api.platform.deps.uow(readonly=True) as uow:
        rows = uow.conn.execute(  # type: ignore[attr-defined]
            text("SELECT action FROM audit_log WHERE action LIKE :p ORDER BY seq"),
            {"p": prefix + "%"}).all()
    return [r[0] for r in rows]


def test_twenty_rotations_in_a_row_are_mostly_refused(api: Api) -> None:
    answers: Counter[int] = Counter()
    kids = []
    for _ in range(20):
        r = api.client.post("/passes/rotate-key", headers=api.h("admin"))
        answers[r.status_code] += 1
        if r.status_code == 200:
            kids.append(r.json()["key_id"])
        else:
            assert r.status_code == 429 and r.json()["error"]["code"] == "rotated_recently"
            assert 0 < int(r.headers["Retry-After"]) <= ROTATION_INTERVAL.total_seconds()
        api.clock.advance(timedelta(seconds=5))
    assert answers == {200: 1, 429: 19}, answers
    # once the interval has passed since the last rotation, the next one is allowed
    api.clock.advance(ROTATION_INTERVAL)
    r = api.client.post("/passes/rotate-key", headers=api.h("admin"))
    assert r.status_code == 200 and r.json()["key_id"] not in kids
    actions = _audit(api, "pass.rotate_key")
    assert actions.count("pass.rotate_key") == 2
    assert actions.count("pass.rotate_key_refused") == 19


def test_only_an_admin_rotates(api: Api) -> None:
    for user in ("officer", "sampler", "lab", "courier"):
        assert api.client.post("/passes/rotate-key", headers=api.h(user)).status_code == 403
    assert _audit(api, "pass.rotate_key") == []
