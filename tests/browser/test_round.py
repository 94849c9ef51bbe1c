"""The full round across roles, in a real browser at phone size: open a tube and scan 10 people
at the sampling station, seal the box, the courier collects it, the laboratory receives it and
uploads a results file with a positive, the resident sees "pending re-test" and the recall, and
a venue checks the resident's pass. Every page is photographed into test-artifacts/."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, FilePayload, Page, expect

from hesuan.domain.access import Role
from hesuan.domain.people import SINGLE_TUBE_GROUPS
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.sim.example import DEMO_PASSWORD, OPERATOR
from tests.browser.conftest import Site, ensure_venue, login, settled, shot

TUBE = make_tube_barcode(910_001)
BOX = make_box_code(910_001)


def _pool_members(site: Site) -> tuple[str, list[str]]:
    """The resident (a demo account whose person may be pooled) and 9 more poolable people."""
    key = tuple(g.value for g in SINGLE_TUBE_GROUPS)

    def poolable(groups: str) -> bool:
        return not any(g in key for g in groups.split(","))

    accounts = site.rows("SELECT u.username, u.scope, p.groups FROM users u "
                         "JOIN people p ON p.id = u.scope WHERE u.role = 'resident' "
                         "ORDER BY u.username")
    found = next(((u, s) for u, s, g in accounts if poolable(g)), None)
    if found is None:  # both demo residents are in key groups (ids are random): add one
        pid = site.rows("SELECT id FROM people WHERE groups = '' ORDER BY id LIMIT 1")[0][0]
        site.platform.auth.create_user(OPERATOR, "resident_pooled", DEMO_PASSWORD,
                                       Role.RESIDENT, pid)
        found = ("resident_pooled", pid)
    user, pid = found
    others = [r[0] for r in site.rows(
        "SELECT id FROM people WHERE groups IN ('', 'elderly_home', 'teacher_student') "
        "AND id NOT IN (SELECT scope FROM users WHERE role = 'resident') ORDER BY id LIMIT 9")]
    return user, [pid, *others]


def _scan(page: Page, value: str) -> None:
    page.fill("#scan", value)
    page.press("#scan", "Enter")


def _synced(page: Page) -> None:
    settled(page)


def test_full_round(site: Site, context: BrowserContext) -> None:
    resident, members = _pool_members(site)
    codes = [site.platform.deps.codes.sign(pid) for pid in members]

    # -- 采 sampling station: open tube, 10 scans (the tube seals itself), box, seal box ------
    page = context.new_page()
    login(page, site, "sampler")
    expect(page).to_have_url(re.compile(r"/web/station$"))
    page.wait_for_selector("#station[data-ready='1']")
    shot(page, "01-station-empty")
    page.select_option("#mode", "10")
    _scan(page, TUBE)
    _synced(page)
    for i, code in enumerate(codes, start=1):
        _scan(page, code)
        _synced(page)
        expect(page.locator("#big")).to_have_text(f"{i}/10")
        if i == 7:
            shot(page, "02-station-7-of-10", full_page=False)
    expect(page.locator("#panel")).to_have_class(re.compile("good"))
    expect(page.locator("#who")).not_to_be_empty()
    # an error is loud: the same person again cannot go into a new tube's place
    _scan(page, "HS1:forged-code")
    expect(page.locator("#panel")).to_have_class(re.compile("bad"))
    shot(page, "03-station-error", full_page=False)
    expect(page.locator(f"#sealed li[data-barcode='{TUBE}']")).to_have_count(1)
    _scan(page, BOX)
    expect(page.locator("#now-box")).to_have_text(BOX)
    _scan(page, TUBE)
    _synced(page)
    _scan(page, BOX)
    _synced(page)
    expect(page.locator("#now-box")).to_have_text("—")
    shot(page, "04-station-boxed")
    assert site.count(f"SELECT count(*) FROM samples s JOIN tubes t ON t.id = s.tube_id "
                      f"WHERE t.barcode = '{TUBE}'") == 10
    assert site.count(f"SELECT status FROM boxes WHERE code = '{BOX}'") == "sealed"

    # -- 送 courier ------------------------------------------------------------------------
    page = context.new_page()
    login(page, site, "courier")
    expect(page.locator("#to-collect")).to_contain_text(BOX)
    page.fill("#box_code", BOX)
    page.press("#box_code", "Enter")
    expect(page.locator("#in-transit")).to_contain_text(BOX)
    shot(page, "05-courier")

    # -- 检 laboratory: receive with count check, upload CSV, check, commit ------------------
    page = context.new_page()
    login(page, site, "lab")
    page.fill("#receive input[name=box_code]", BOX)
    page.fill("#receive textarea[name=tubes]", TUBE)
    page.click("#receive button[type=submit]")
    expect(page.locator("#receipt")).to_have_class(re.compile("good"))
    expect(page.locator("#queue")).to_contain_text(TUBE)
    shot(page, "06-lab-received")
    page.set_input_files("#upload input[type=file]", files=[FilePayload(
        name="results.csv", mimeType="text/csv",
        buffer=f"barcode,result,ct_ORF1ab,ct_N\n{TUBE},positive,28.5,29.1\n"
               f"0000000000018,negative,,\n".encode())])
    page.click("#upload form[action='/web/lab/results/check'] button")
    expect(page.locator("#preview")).to_contain_text("1")
    expect(page.locator("#preview-rows")).to_contain_text("0000000000018")  # rejected row
    shot(page, "07-lab-preview")
    assert site.count(f"SELECT result FROM tubes WHERE barcode = '{TUBE}'") is None
    page.click("#commit")
    expect(page.locator("#committed")).to_be_visible()
    shot(page, "08-lab-committed")
    assert site.count(f"SELECT result FROM tubes WHERE barcode = '{TUBE}'") == "positive"
    # a different result by hand is refused without a correction reason
    page.fill("#manual input[name=barcode]", TUBE)
    page.select_option("#manual select[name=result]", "negative")
    page.click("#manual button[type=submit]")
    expect(page.locator("#manual .alert.bad")).to_be_visible()
    assert site.count(f"SELECT result FROM tubes WHERE barcode = '{TUBE}'") == "positive"

    # -- 报 resident: pending re-test and the recall; the pass -----------------------------
    page = context.new_page()
    login(page, site, resident)
    expect(page.locator("#status")).to_have_attribute("data-colour", "yellow")
    expect(page.locator("#reasons li[data-code='pending_retest']")).to_have_count(1)
    expect(page.locator("#recalls [data-recall='open']")).to_have_count(1)
    expect(page.locator("#code svg")).to_be_visible()
    shot(page, "09-resident")
    page.click("#show-pass")
    expect(page.locator("#pass")).to_have_attribute("data-colour", "yellow")
    shot(page, "10-resident-pass")
    pass_text = page.locator("#pass-text").text_content() or ""
    assert pass_text.startswith("SP1:")

    # -- venue: the four checks at the door with the resident's pass -------------------------
    ensure_venue(site)
    page = context.new_page()
    login(page, site, "venue")
    page.fill("#pass", pass_text.strip())
    page.press("#pass", "Enter")
    expect(page.locator("#verdict")).to_have_attribute("data-valid", "1")
    expect(page.locator("#verdict .badge.yellow")).to_have_count(1)
    expect(page.locator("#door")).to_have_attribute("data-admitted", "0")  # not green
    shot(page, "11-venue-verdict")
    page.fill("#pass", pass_text.strip()[:-3] + "AAA")
    page.press("#pass", "Enter")
    expect(page.locator("#verdict")).to_have_attribute("data-valid", "0")
    shot(page, "12-venue-invalid")
    assert site.count("SELECT count(*) FROM venue_checks") >= 2
    assert site.count("SELECT count(*) FROM venue_checks WHERE admitted") == 0

    # -- the rest of the pages, photographed after the round ---------------------------------
    page = context.new_page()
    login(page, site, "officer")
    page.goto(f"{site.url}/web/dashboard?fresh=true")  # counts from earlier tests' snapshots
    expect(page.locator("[data-k='chain.positive_pools']")).to_have_text("1")
    # this round's pool opened 10 recalls; other tests of the shared city may have opened more
    # (a correction, a rejected tube): the page shows what the database holds
    open_recalls = int(site.count("SELECT count(*) FROM recalls WHERE status = 'open'"))
    assert open_recalls >= 10
    expect(page.locator("[data-k='chain.recalls_open']")).to_have_text(str(open_recalls))
    page.wait_for_selector("#map[data-ready='1']")
    page.wait_for_timeout(300)  # let the map finish its first paint
    shot(page, "13-dashboard")
    page.goto(f"{site.url}/web/area?fresh=true")
    expect(page.locator("#area-recalls tbody tr")).to_have_count(open_recalls)
    shot(page, "14-officer-area")
    page.click("#area-recalls tbody tr:first-child a")
    expect(page.locator("#status")).to_have_attribute("data-colour", "yellow")
    shot(page, "15-officer-person")

    for user, path, name in (("sitelead", "/web/site", "16-site-lead"),
                             ("grid", "/web/area", "17-grid-area"),
                             ("admin", "/web/admin", "18-admin")):
        page = context.new_page()
        login(page, site, user)
        page.goto(f"{site.url}{path}")
        expect(page.locator("main h1")).to_be_visible()
        shot(page, name)
    page.goto(f"{site.url}/web/login")
    shot(page, "00-login")
