"""Access from the browser: a sampler's session cannot open the laboratory, admin or command
centre pages; a resident cannot see another resident; forms without the CSRF token and pages
without a session are refused; the session cookie is Secure, HttpOnly and SameSite=Strict."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import Site, login, shot


def test_sampler_cannot_open_lab_or_admin(site: Site, context: BrowserContext) -> None:
    page = context.new_page()
    login(page, site, "sampler")
    cookie = next(c for c in context.cookies() if c["name"] == "hs_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    for path in ("/web/lab", "/web/admin", "/web/dashboard", "/web/courier", "/web/me"):
        resp = page.goto(f"{site.url}{path}")
        assert resp is not None and resp.status in (403, 404), (path, resp and resp.status)
        expect(page.locator(".alert.bad")).to_be_visible()
        expect(page.locator("#queue, #users, #kpis")).to_have_count(0)
    shot(page, "30-sampler-refused")
    answer = page.request.get(f"{site.url}/web/dashboard.json")
    assert answer.status == 403
    # a form post without its CSRF token is refused, and changes nothing
    answer = page.request.post(f"{site.url}/web/admin/user",
                               form={"username": "mallory", "password": "x" * 12,
                                     "role": "admin"})
    assert answer.status == 403
    assert site.count("SELECT count(*) FROM users WHERE username = 'mallory'") == 0


def test_resident_sees_only_themself(site: Site, context: BrowserContext) -> None:
    other = site.count("SELECT scope FROM users WHERE username = 'resident2'")
    page = context.new_page()
    login(page, site, "resident")
    resp = page.goto(f"{site.url}/web/people/{other}")
    assert resp is not None and resp.status == 404
    expect(page.locator("#status, #history")).to_have_count(0)
    shot(page, "31-resident-refused")
    for path in (f"/people/{other}/sampling-code.svg", f"/people/{other}/status"):
        assert page.request.get(f"{site.url}{path}").status in (401, 403, 404)
    resp = page.goto(f"{site.url}/web/area")
    assert resp is not None and resp.status == 403


def test_pages_need_a_session(site: Site, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(f"{site.url}/web/lab")
    assert page.url.startswith(f"{site.url}/web/login")
    assert page.request.post(f"{site.url}/web/station/events.json",
                             data={"events": []}).status == 401


def test_language_switch(site: Site, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(f"{site.url}/web/login")
    expect(page.locator("main h1")).to_have_text("登录")
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.click("nav.lang a")
    expect(page.locator("main h1")).to_have_text("Sign in")
    assert page.get_attribute("html", "lang") == "en"
    login(page, site, "sampler")
    expect(page.locator("#prompt")).to_contain_text("Scan a tube barcode")
    shot(page, "32-station-english", full_page=False)
    page.click("nav.lang a")
    expect(page.locator("#prompt")).to_contain_text("请扫描试管条码")
