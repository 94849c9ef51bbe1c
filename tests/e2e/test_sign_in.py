"""Sign-in through the HTTP API, on SQLite and PostgreSQL: failed sign-ins are slowed per account
and per client address (backoff, then a lock: docs/SECURITY.md §2), audited and logged without
the password; an unknown user costs a password check like a known one; a token ends at once on
``POST /auth/logout``; the OpenAPI pages can be switched off.

Time is the injected clock's: the limits are counted, never waited for."""

from __future__ import annotations

import html
import logging
import re
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.domain.access import Role
from hesuan.entrypoints.api import create_app
from hesuan.entrypoints.web.session import SESSION_COOKIE
from hesuan.services.auth import SYSTEM
from hesuan.sim.example import DEMO_PASSWORD
from tests.helpers import Api

WRONG = "not-the-password-7f3a"


def _token(client: TestClient, user: str, password: str) -> Any:
    return client.post("/auth/token", json={"username": user, "password": password})


def _audit(api: Api, prefix: str) -> list[tuple[str, Any]]:
    with api.platform.deps.uow(readonly=True) as uow:
        rows = uow.conn.execute(  # type: ignore[attr-defined]
            text("SELECT action, detail FROM audit_log WHERE action LIKE :p ORDER BY seq"),
            {"p": prefix + "%"}).all()
    return [(r[0], r[1]) for r in rows]


class _CountingVerify:
    """Counts the password checks the hasher is asked for (each is one argon2 run)."""

    def __init__(self, platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = platform.deps.passwords.verify

        def verify(password_hash: str, password: str) -> bool:
            self.calls += 1
            return real(password_hash, password)

        monkeypatch.setattr(platform.deps.passwords, "verify", verify)


def test_200_wrong_passwords_are_not_all_answered_at_full_speed(
        api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    checks = _CountingVerify(api.platform, monkeypatch)
    caplog.set_level(logging.INFO)
    answers: Counter[int] = Counter()
    retry_after: list[int] = []
    for _ in range(200):
        r = _token(api.client, "officer", WRONG)
        answers[r.status_code] += 1
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "too_many_attempts"
            retry_after.append(int(r.headers["Retry-After"]))
        api.clock.advance(timedelta(milliseconds=200))
    # 5 at once, 5 more each after its growing delay, then locked: the other 190 are refused
    # without a password check
    assert answers[401] <= 10 and answers[429] >= 190, answers
    assert checks.calls <= 10
    assert min(retry_after) >= 1 and max(retry_after) > 14 * 60
    # locked: even the right password is refused until the lock ends
    assert _token(api.client, "officer", DEMO_PASSWORD).status_code == 429
    api.clock.advance(timedelta(minutes=16))
    assert _token(api.client, "officer", DEMO_PASSWORD).status_code == 200

    failed = _audit(api, "user.sign_in")
    assert [a for a, _ in failed].count("user.sign_in_failed") == answers[401]
    assert [a for a, _ in failed].count("user.sign_in_locked") == 1
    assert WRONG not in repr(failed) and DEMO_PASSWORD not in repr(failed)
    assert "sign-in" in caplog.text and "locked" in caplog.text
    assert WRONG not in caplog.text and DEMO_PASSWORD not in caplog.text


def test_the_web_sign_in_is_limited_too(api: Api) -> None:
    client = TestClient(api.client.app, base_url="https://testserver")  # secure cookies

    def web_login(password: str) -> Any:
        page = client.get("/web/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        return client.post("/web/login", data={"username": "grid", "password": password,
                                                    "csrf": csrf.group(1)},
                               follow_redirects=False)

    codes = []
    for _ in range(12):
        codes.append(web_login(WRONG).status_code)
        api.clock.advance(timedelta(seconds=20))  # past each wait: the 10th failure locks
    assert codes == [401] * 10 + [429] * 2, codes
    r = web_login(DEMO_PASSWORD)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 60
    assert "登录失败次数过多" in r.text or "Too many failed sign-ins" in r.text


def test_a_success_clears_the_accounts_failures(api: Api) -> None:
    for _ in range(4):
        assert _token(api.client, "officer", WRONG).status_code == 401
    assert _token(api.client, "officer", DEMO_PASSWORD).status_code == 200
    for _ in range(4):  # four more at full speed: the count started again
        assert _token(api.client, "officer", WRONG).status_code == 401


def test_one_address_trying_many_accounts_is_limited(api: Api) -> None:
    answers: Counter[int] = Counter()
    for i in range(60):  # a different (unknown) account each time: no account limit applies
        answers[_token(api.client, f"guess{i}", WRONG).status_code] += 1
        api.clock.advance(timedelta(milliseconds=200))
    assert answers[401] <= 30 and answers[429] >= 30, answers
    # the address is held back, for a known account too; another address is not
    assert _token(api.client, "admin", DEMO_PASSWORD).status_code == 429
    with TestClient(create_app(api.platform), client=("198.51.100.7", 50000)) as other:
        assert _token(other, "admin", DEMO_PASSWORD).status_code == 200


def test_an_unknown_user_costs_the_same_password_check(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    api.platform.auth.create_user(SYSTEM, "gone", DEMO_PASSWORD, Role.COURIER)
    with api.platform.deps.uow() as uow:
        uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
            "UPDATE users SET active = false WHERE username = 'gone'")
        uow.commit()
    checks = _CountingVerify(api.platform, monkeypatch)
    answers = {}
    for user in ("officer", "nobody-by-this-name", "gone"):
        before = checks.calls
        r = _token(api.client, user, WRONG)
        answers[user] = (r.status_code, r.json()["error"]["code"], checks.calls - before)
    # the same answer, and the same one argon2 check, whether the account exists or not
    assert set(answers.values()) == {(401, "bad_credentials", 1)}, answers


def test_logout_ends_the_token_at_once(api: Api) -> None:
    token = _token(api.client, "officer", DEMO_PASSWORD).json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/sites", headers=h).status_code == 200
    assert api.client.post("/auth/logout", headers=h).status_code == 204
    r = api.client.get("/sites", headers=h)
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_token"
    assert api.client.post("/auth/logout", headers=h).status_code == 401
    assert [a for a, _ in _audit(api, "user.logout")] == ["user.logout"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_openapi_pages_can_be_switched_off(settings: Settings, api: Api) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert api.client.get(path).status_code == 200
    off = bootstrap(settings.model_copy(update={"api_docs": False}), migrate=False)
    try:
        with TestClient(create_app(off)) as client:
            for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
                assert client.get(path).status_code == 404, path
            assert client.get("/health").status_code == 200
    finally:
        off.close()


def test_a_page_opened_before_signing_in_opens_with_its_query_after(api: Api) -> None:
    """A link to a page with a query (the roster's second page of those sampled) opened
    without a session goes to the login page; signing in there lands on that page with its
    query, not on the page without it."""
    client = TestClient(api.client.app, base_url="https://testserver")
    wanted = "/web/roster?which=sampled&page=2"
    r = client.get(wanted, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/web/login?next="), r
    page = client.get(r.headers["location"])
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    sent_next = re.search(r'name="next" value="([^"]*)"', page.text)
    assert token is not None and sent_next is not None
    r = client.post("/web/login", data={"username": "grid", "password": DEMO_PASSWORD,
                                        "csrf": token.group(1),
                                        "next": html.unescape(sent_next.group(1))},
                    follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, wanted)
    # a page whose query would make the target too long for the form is opened without it
    client.cookies.clear()
    r = client.get("/web/roster?q=" + "x" * 400, follow_redirects=False)
    assert r.headers["location"] == "/web/login?next=/web/roster"


def test_an_account_with_no_pages_is_told_so_at_the_web_sign_in(api: Api) -> None:
    """The province's account reads the API only: the web sign-in says so and starts no
    session (before, it signed in and was sent back to the login page, as if refused)."""
    api.platform.auth.create_user(SYSTEM, "province-feed", DEMO_PASSWORD, Role.PROVINCE)
    client = TestClient(api.client.app, base_url="https://testserver")
    page = client.get("/web/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    r = client.post("/web/login", data={"username": "province-feed", "password": DEMO_PASSWORD,
                                        "csrf": csrf.group(1)}, follow_redirects=False)
    assert r.status_code == 200  # the sign-in page again, saying why
    assert "no pages" in r.text or "没有网页" in r.text
    assert not client.cookies.get(SESSION_COOKIE)
    # the API answers it the city's daily aggregates
    token = _token(client, "province-feed", DEMO_PASSWORD).json()["access_token"]
    daily = client.get("/reports/daily", headers={"Authorization": f"Bearer {token}"})
    assert daily.status_code == 200
    assert client.get("/reports/turnaround",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 403
