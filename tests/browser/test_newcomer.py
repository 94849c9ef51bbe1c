"""A new user's first five minutes, driven only by what the README's opening tells: run
``scripts/demo.sh``, open the web pages, switch them to English, scan a tube and the resident's
code at the station page from the block the demo printed, see the sample on the resident's page,
copy the pass and check it at the venue page; then read a report from a second terminal with the
line the demo printed for it.

The demo runs as the README says, in a scratch directory (``DEMO_DIR``) with a smaller city
(``DEMO_PEOPLE``) on a free port, so that it neither touches ``var/`` nor takes minutes.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import settled, shot
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
OPENING = README[:README.index("## What works today")]
PASSWORD = re.search(r"password\s+`([^`]+)`", OPENING)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """``scripts/demo.sh`` running; (its URL, what it printed up to serving, its folder)."""
    d = tmp_path_factory.mktemp("demo")
    port = free_port()
    out = (d / "demo.log").open("wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESUAN_")}
    env.update(DEMO_DIR=str(d), DEMO_PEOPLE="2000", HESUAN_PORT=str(port))
    proc = subprocess.Popen(["scripts/demo.sh", "--fresh"], cwd=ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"the demo exited with {proc.returncode}: "
                                     f"{(d / 'demo.log').read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("the demo did not serve within 10 minutes")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        yield url, (d / "demo.log").read_text(encoding="utf-8", errors="replace"), d
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the demo's own session: its server and nothing else
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        out.close()


def _sign_in(page: Page, user: str) -> None:
    assert PASSWORD is not None, "the README's opening names the demo password"
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD.group(1))
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state("domcontentloaded")


def _scan(page: Page, value: str) -> None:
    page.fill("#scan", value)
    page.press("#scan", "Enter")
    settled(page)


def test_from_the_readme_to_a_checked_pass(demo: tuple[str, str, Path],
                                           context: BrowserContext) -> None:
    url, printed, folder = demo
    # the round's lab reports to the authority, in the folder the README names
    assert "var/demo-elr/" in OPENING
    reports = {f.suffix for f in (folder / "demo-elr").iterdir()}
    assert reports == {".hl7", ".json"}, reports
    # step 1: what the README says the demo prints
    assert "scripts/demo.sh" in OPENING
    assert PASSWORD is not None and PASSWORD.group(1) in printed
    assert "scan at the station page" in OPENING and "scan at the station page" in printed
    served = re.search(r"== serving on (http://127\.0\.0\.1:\d+)", printed)
    assert served is not None and served.group(1) == url
    assert "http://127.0.0.1:8000/web/" in OPENING  # the default port; the test runs on a free one
    block = printed[printed.index("scan at the station page"):]
    tube = re.search(r"^\s+tube\s+(\d{13})\b", block, re.M)
    resident = re.search(r"^\s+resident\s+(HS1:\S+)", block, re.M)
    assert tube is not None and resident is not None, block[:1000]

    # step 2: the web pages, in English; the sampler at the station
    page = context.new_page()
    page.goto(f"{url}/web/")
    icon = page.get_attribute("link[rel=icon]", "href")
    assert icon is not None
    assert httpx.get(f"{url}{icon}").headers["content-type"].startswith("image/svg+xml")
    assert "`English`" in OPENING
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state("domcontentloaded")
    for user in ("sampler", "resident", "venue"):
        assert f"`{user}`" in OPENING
    _sign_in(page, "sampler")
    page.wait_for_selector("#station[data-ready='1']")
    _scan(page, tube.group(1))
    _scan(page, resident.group(1))
    expect(page.locator("#panel")).to_have_class(re.compile("good"))
    assert "`1/10`" in OPENING
    expect(page.locator("#big")).to_have_text("1/10")
    _scan(page, tube.group(1))
    expect(page.locator("#panel")).to_have_class(re.compile("good"))
    shot(page, "newcomer-01-station")

    # step 3: the resident sees the sample, and copies the pass
    assert "Sign out" in OPENING
    _sign_out(page)
    _sign_in(page, "resident")
    assert "*Results history*" in OPENING
    history = page.locator("#history")
    expect(history).to_contain_text("Results history")
    assert "`10-in-1 pool`, `Waiting for result`" in OPENING
    first = history.locator("tbody tr").first
    expect(first).to_contain_text("10-in-1 pool")
    expect(first).to_contain_text("Waiting for result")
    shot(page, "newcomer-02-resident")
    assert "*Show my status pass*" in OPENING and "*Pass as text*" in OPENING
    page.get_by_role("link", name="Show my status pass").click()
    page.get_by_text("Pass as text").click()
    pass_text = (page.locator("#pass-text").text_content() or "").strip()
    assert pass_text.startswith("SP1:") and "`SP1:`" in OPENING

    # step 4: the venue checks it
    _sign_out(page)
    _sign_in(page, "venue")
    assert "*Check and record*" in OPENING and "*Valid pass*" in OPENING
    page.fill("#pass", pass_text)
    page.get_by_role("button", name="Check and record").click()
    page.wait_for_load_state("domcontentloaded")
    expect(page.locator("#verdict")).to_contain_text("Valid pass")
    expect(page.locator("#door")).to_be_visible()
    shot(page, "newcomer-03-venue")

    # the rest of the round: the grid worker's roster shows what the people they called at
    # 18:00 said (the round starts at midnight yesterday, so yesterday's calls are in)
    _sign_out(page)
    assert "`grid`" in OPENING and "called at 18:00" in OPENING
    _sign_in(page, "grid")
    page.goto(f"{url}/web/roster")
    page.wait_for_load_state("domcontentloaded")
    expect(page.locator("#roster-people li", has_text="Last outcome").first).to_be_visible()

    # the highway checkpoint's device scans the resident's code, who
    # is free to go (the checkpoint records the scan for the fence rules)
    _sign_out(page)
    assert "`checkpoint`" in OPENING and "*Let through*" in OPENING
    _sign_in(page, "checkpoint")
    page.fill("#pass", resident.group(1))
    page.get_by_role("button", name="Check and record").click()
    page.wait_for_load_state("domcontentloaded")
    expect(page.locator("#gate")).to_have_attribute("data-stop", "0")
    expect(page.locator("#gate")).to_contain_text("Let through")
    # above the round's latest scans there, newest first: this one
    assert "latest scans" in OPENING
    rows = page.locator("#scans tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_have_attribute("data-via", "code")
    expect(rows.first).to_have_attribute("data-stop", "0")
    shot(page, "newcomer-04-checkpoint")

    # step 5: the demo's last line says how to read a report of its city from a second
    # terminal; typed as printed (its settings and nothing else), it prints the coverage table
    line = re.search(r"^\s+reports: (.+)$", printed, re.M)
    assert line is not None, printed[-2000:]
    words = shlex.split(line.group(1))
    settings = dict(w.split("=", 1) for w in words if re.fullmatch(r"HESUAN_\w+=.*", w))
    command = [w for w in words if not re.fullmatch(r"HESUAN_\w+=.*", w)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESUAN_")} | settings
    got = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr[-2000:]
    assert "coverage (应检尽检)" in got.stdout and "by district" in got.stdout, got.stdout
