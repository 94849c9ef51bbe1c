"""The sampling station offline: the network drops in the middle of a tube, 5 people are scanned,
the page shows them queued; the network comes back and the server holds all 5 exactly once —
and replaying the same events again (a double sync) changes nothing."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from playwright.sync_api import BrowserContext, Page, expect

from hesuan.domain.sampling import make_tube_barcode
from tests.browser.conftest import Site, csrf_of, login, settled, shot

TUBE = make_tube_barcode(920_001)

_QUEUED_EVENTS = """() => new Promise((resolve, reject) => {
  const req = indexedDB.open("hesuan-station", 1);
  req.onsuccess = () => {
    const all = req.result.transaction("events", "readonly").objectStore("events").getAll();
    all.onsuccess = () => resolve(all.result.map(x => x.event));
    all.onerror = () => reject(all.error);
  };
  req.onerror = () => reject(req.error);
})"""


def _scan(page: Page, value: str) -> None:
    page.fill("#scan", value)
    page.press("#scan", "Enter")


def test_offline_scans_sync_exactly_once(site: Site, context: BrowserContext) -> None:
    people = [r[0] for r in site.rows(
        "SELECT id FROM people WHERE groups = '' AND id NOT IN "
        "(SELECT person_id FROM samples) ORDER BY id DESC LIMIT 5")]
    assert len(people) == 5
    codes = [site.platform.deps.codes.sign(pid) for pid in people]

    page = context.new_page()
    login(page, site, "sitelead")
    page.goto(f"{site.url}/web/station")
    page.wait_for_selector("#station[data-ready='1']")
    page.select_option("#mode", "10")
    _scan(page, TUBE)
    settled(page)
    # a forged code is refused by the server, loudly, and is not counted
    _scan(page, "HS1:not-a-real-code")
    expect(page.locator("#panel")).to_have_class(re.compile("bad"))
    expect(page.locator("#queue")).to_have_text("0")

    context.set_offline(True)
    for i, code in enumerate(codes, start=1):
        _scan(page, code)
        expect(page.locator("#big")).to_have_text(f"{i}/10")  # instant feedback, offline
    expect(page.locator("#queue")).to_have_text("5")
    expect(page.locator("#net")).to_have_class(re.compile("off"))
    queued = page.evaluate(_QUEUED_EVENTS)
    assert [e["kind"] for e in queued] == ["sample"] * 5
    for e in queued:  # the page's ids are time-ordered (UUIDv7) and carry the event's time
        eid = uuid.UUID(e["event_id"])
        assert eid.version == 7 and eid.variant == uuid.RFC_4122
        at_ms = int(datetime.fromisoformat(e["at"].replace("Z", "+00:00")).timestamp() * 1000)
        assert eid.int >> 80 == at_ms
    stamps = [uuid.UUID(e["event_id"]).int >> 80 for e in queued]
    assert stamps == sorted(stamps)
    assert site.count(f"SELECT count FROM tubes WHERE barcode = '{TUBE}'") == 0
    shot(page, "20-station-offline", full_page=False)

    context.set_offline(False)
    expect(page.locator("#queue")).to_have_text("0", timeout=20_000)
    expect(page.locator("#net")).to_have_class(re.compile("on"))
    shot(page, "21-station-back-online", full_page=False)

    ids = ", ".join(f"'{e['event_id']}'" for e in queued)
    assert site.count(f"SELECT count(*) FROM station_events WHERE event_id IN ({ids})") == 5
    assert site.count(f"SELECT count(*) FROM samples s JOIN tubes t ON t.id = s.tube_id "
                      f"WHERE t.barcode = '{TUBE}'") == 5
    assert site.count(f"SELECT count FROM tubes WHERE barcode = '{TUBE}'") == 5

    # a double sync (the same events again) is harmless: every one is a duplicate
    answer = page.evaluate(
        """([events, csrf]) => fetch("/web/station/events.json", {method: "POST",
             credentials: "same-origin", headers: {"Content-Type": "application/json",
             "X-CSRF-Token": csrf}, body: JSON.stringify({events})}).then(r => r.json())""",
        [queued, csrf_of(page)])
    assert [r["status"] for r in answer["results"]] == ["duplicate"] * 5
    assert site.count(f"SELECT count(*) FROM samples s JOIN tubes t ON t.id = s.tube_id "
                      f"WHERE t.barcode = '{TUBE}'") == 5
    expect(page.locator("#now-tube")).to_contain_text("5/10")

    # keyboard only: F2 seals the part-filled tube
    page.keyboard.press("F2")
    expect(page.locator("#log li").first).to_have_class("ok")  # the server accepted it
    expect(page.locator(f"#sealed li[data-barcode='{TUBE}']")).to_have_count(1)
    assert site.count(f"SELECT status FROM tubes WHERE barcode = '{TUBE}'") == "sealed"


def test_resident_code_opens_offline(site: Site, context: BrowserContext) -> None:
    page = context.new_page()
    login(page, site, "resident2")
    expect(page.locator("#code svg")).to_be_visible()
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now through the service worker, which keeps a copy
    expect(page.locator("#code svg")).to_be_visible()
    code = page.locator("#code svg").inner_html()
    context.set_offline(True)
    try:
        page.reload()
        expect(page.locator("#code svg")).to_be_visible()
        assert page.locator("#code svg").inner_html() == code
        expect(page.locator("#offline-note")).to_be_visible()
        shot(page, "22-resident-offline", full_page=False)
    finally:
        context.set_offline(False)


def _reopens_offline(page: Page, context: BrowserContext, ready: str, *offline: str) -> None:
    """Right after sign-in — no second visit — the network drops and the page is reloaded:
    the page and its scripts come from the service worker's copy, and the page says it is
    offline (``offline``: what shows it)."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    context.set_offline(True)
    try:
        page.reload()
        page.wait_for_selector(ready)
        for selector in offline:
            expect(page.locator(selector)).to_be_visible()
        shot(page, f"23-reopened-offline-{page.url.rsplit('/', 1)[1]}", full_page=False)
    finally:
        context.set_offline(False)


def test_station_reopens_offline_right_after_sign_in(site: Site, context: BrowserContext) -> None:
    page = context.new_page()
    login(page, site, "sampler")
    assert page.url.endswith("/web/station")
    page.wait_for_selector("#station[data-ready='1']")
    _reopens_offline(page, context, "#station[data-ready='1']", "#net.off")


def test_resident_page_reopens_offline_right_after_sign_in(site: Site,
                                                           context: BrowserContext) -> None:
    page = context.new_page()
    login(page, site, "resident")
    assert page.url.endswith("/web/me")
    expect(page.locator("#code svg")).to_be_visible()
    _reopens_offline(page, context, "#code svg", "#offline-note")
