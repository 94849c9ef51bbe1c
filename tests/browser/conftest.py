"""Browser tests: a real uvicorn server on a free 127.0.0.1 port, against a temporary SQLite
database seeded with the example city, driven by Playwright through Debian's Chromium.

The server runs in a thread of the test process on the real clock, so the tests can look at the
database through the same ``Platform``. Skipped, with the reason, when /usr/bin/chromium or
Playwright is missing. Screenshots go to ``test-artifacts/`` (gitignored).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.domain.access import Role
from hesuan.sim.example import DEMO_PASSWORD, OPERATOR, ExampleCity, seed_example_city

CHROMIUM = os.environ.get("HESUAN_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

if not Path(CHROMIUM).exists():
    pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)
try:
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright
except ImportError:  # pragma: no cover
    pytest.skip("browser tests need Playwright for Python", allow_module_level=True)

PHONE: ViewportSize = {"width": 360, "height": 780}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    url: str
    platform: Platform
    city: ExampleCity

    def count(self, sql: str, **params: Any) -> Any:
        with self.platform.engine.connect() as c:
            return c.exec_driver_sql(sql, tuple(params.values()) if params else ()).scalar()

    def rows(self, sql: str) -> list[Any]:
        with self.platform.engine.connect() as c:
            return list(c.exec_driver_sql(sql).all())


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import uvicorn

    from hesuan.entrypoints.api import create_app

    d = tmp_path_factory.mktemp("web")
    settings = Settings(database_url=f"sqlite:///{d / 'web.db'}", environment="test",
                        secret_key="browser-test-secret", key_file=d / "k",
                        pass_key_dir=d / "keys", sms_file=d / "sms.jsonl")
    platform = bootstrap(settings)
    city = seed_example_city(platform, people=300)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    yield Site(f"http://127.0.0.1:{port}", platform, city)
    server.should_exit = True
    thread.join(timeout=10)
    platform.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM,
                               args=["--no-sandbox", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


def ensure_user(site: Site, username: str, role: Role, scope: str | None) -> None:
    """A demo account the example city does not make (password ``DEMO_PASSWORD``)."""
    if site.count(f"SELECT count(*) FROM users WHERE username = '{username}'") == 0:
        site.platform.auth.create_user(OPERATOR, username, DEMO_PASSWORD, role, scope)


def ensure_venue(site: Site) -> None:
    """A registered venue (a shopping mall in 小店区) and its account ``venue``."""
    if site.count("SELECT count(*) FROM users WHERE username = 'venue'") == 0:
        venue_id = site.platform.venues.register(OPERATOR, "MALL-0001", "万达广场", "140105")
        ensure_user(site, "venue", Role.VENUE, venue_id)


def login(page: Page, site: Site, user: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{site.url}/web/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    assert "/web/login" not in page.url, f"login as {user} failed: {page.url}"


def shot(page: Page, name: str, full_page: bool = True) -> None:
    """Save a screenshot, and check the page fits its screen (no sideways scrolling)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is None or width <= viewport["width"], f"{name}: {width}px wide"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def settled(page: Page) -> None:
    """Wait until the station's last scan has its answer from the server and nothing waits."""
    from playwright.sync_api import expect

    expect(page.locator("#log li").first).not_to_have_class(re.compile("queued|offline"))
    expect(page.locator("#queue")).to_have_text("0")


def csrf_of(page: Page) -> str:
    value = page.get_attribute('meta[name="csrf-token"]', "content")
    assert value and re.fullmatch(r"[0-9a-f]{40}", value)
    return value
