"""Zones, fence alerts and the grid worker's roster in the browser: an officer seals a grid
(picked by code), its residents turn red; one of them is checked at a venue, which alerts their
grid worker; the grid worker acknowledges and closes the alert, works the outstanding list (one
tap, a phone revealed, the Excel file), and the officer lifts the zone. Drawing a zone on the
district map puts a GeoJSON polygon into the form."""

from __future__ import annotations

import json
import re
from datetime import timedelta, timezone

from playwright.sync_api import BrowserContext, expect

from hesuan.domain.access import Role
from tests.browser.conftest import Site, ensure_user, ensure_venue, login, shot


def test_zone_alert_roster_lift(site: Site, context: BrowserContext) -> None:
    person, grid = site.rows("SELECT p.id, p.grid_code FROM users u JOIN people p "
                             "ON p.id = u.scope WHERE u.username = 'resident2'")[0]
    ensure_venue(site)
    ensure_user(site, "grid2", Role.GRID_WORKER, grid)

    # -- an officer seals the resident's grid ------------------------------------------------
    page = context.new_page()
    login(page, site, "officer")
    page.goto(f"{site.url}/web/zones")
    page.fill("#designate input[name=name]", "测试封控区")
    page.select_option("#designate select[name=kind]", "sealed")
    page.fill("#designate textarea[name=areas]", grid)
    page.click("#designate button[type=submit]")
    expect(page.locator("#zone-done")).to_be_visible()
    expect(page.locator("#zones article:has-text('测试封控区')")).to_have_count(1)
    shot(page, "40-zones")
    zone_people = site.count("SELECT count(*) FROM people WHERE grid_code = ?", grid=grid)
    assert site.count("SELECT count(*) FROM person_status s JOIN people p ON p.id = "
                      "s.person_id WHERE p.grid_code = ? AND s.colour = 'red'",
                      grid=grid) == zone_people

    # -- the resident is red, and shows the pass at a venue: the grid worker is alerted ----------
    page = context.new_page()
    login(page, site, "resident2")
    expect(page.locator("#status")).to_have_attribute("data-colour", "red")
    expect(page.locator("#reasons li[data-code='in_zone']")).to_have_count(1)
    page.click("#show-pass")
    pass_text = (page.locator("#pass-text").text_content() or "").strip()
    page = context.new_page()
    login(page, site, "venue")
    page.fill("#pass", pass_text)
    page.press("#pass", "Enter")
    expect(page.locator("#door")).to_have_attribute("data-admitted", "0")
    expect(page.locator("#alerted")).to_be_visible()

    page = context.new_page()
    login(page, site, "grid2")
    expect(page).to_have_url(re.compile(r"/web/roster$"))
    page.goto(f"{site.url}/web/alerts")
    alert = page.locator("#fence-alerts > li").first
    expect(alert).to_have_attribute("data-status", "open")
    shot(page, "41-fence-alerts")
    alert.locator("form[action$='/acknowledge'] button").click()
    alert = page.locator("#fence-alerts > li").first
    expect(alert).to_have_attribute("data-status", "acknowledged")
    alert.locator("select[name=outcome]").select_option("returned_home")
    alert.locator("form[action$='/close'] button").click()
    expect(page.locator("#fence-alerts > li[data-status='open'], "
                        "#fence-alerts > li[data-status='acknowledged']")).to_have_count(0)
    assert site.count("SELECT count(*) FROM fence_alerts WHERE person_id = ? AND "
                      "status = 'closed' AND outcome = 'returned_home'", person=person) == 1

    # -- the roster: outstanding people, one tap, a phone, the Excel file ----------------------
    page.goto(f"{site.url}/web/roster")
    first = page.locator("#roster-people li[id^='p-']").first
    expect(first).to_be_visible()
    shot(page, "42-roster")
    pid = (first.get_attribute("id") or "")[2:]
    first.locator("button[value='reached']").click()
    expect(page.locator(f"#p-{pid}")).to_contain_text("已联系")
    assert site.count("SELECT count(*) FROM roster_outcomes WHERE person_id = ? AND "
                      "outcome = 'reached'", person=pid) == 1
    reveal = page.locator(f"#p-{pid} button.link-button")
    if reveal.count():
        reveal.click()
        expect(page.locator(f"#p-{pid} a.phone")).to_have_text(re.compile(r"^1\d{10}$"))
    xlsx = page.request.get(f"{site.url}/web/roster.xlsx")
    assert xlsx.status == 200 and xlsx.body()[:2] == b"PK"

    # -- the officer lifts the zone ------------------------------------------------------------
    page = context.new_page()
    login(page, site, "officer")
    page.goto(f"{site.url}/web/zones")
    zone = page.locator("#zones article:has-text('测试封控区')")
    zone.locator("input[name=reason]").fill("风险解除")
    zone.locator("form[action$='/lift'] button").click()
    expect(page.locator("#zones article:has-text('测试封控区')")).to_have_count(0)
    assert site.count("SELECT count(*) FROM person_status s JOIN people p ON p.id = "
                      "s.person_id WHERE p.grid_code = ? AND s.colour = 'red'", grid=grid) == 0


def test_draw_a_zone_on_the_map(site: Site, context: BrowserContext) -> None:
    page = context.new_page()
    login(page, site, "officer")
    page.goto(f"{site.url}/web/zones")
    page.wait_for_selector("#draw-map[data-ready='1']")
    page.locator("#draw-map").scroll_into_view_if_needed()
    box = page.locator("#draw-map").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((-30, -30), (30, -30), (30, 30), (-30, 30)):
        page.mouse.click(cx + dx, cy + dy)
    value = page.input_value("#polygon")
    polygon = json.loads(value)
    assert polygon["type"] == "Polygon"
    ring = polygon["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    assert all(111 < lng < 114 and 37 < lat < 39 for lng, lat in ring)  # around Taiyuan
    page.wait_for_timeout(500)  # the outline's drawing animation
    shot(page, "43-zone-drawn", full_page=False)


def test_two_officer_override(site: Site, context: BrowserContext) -> None:
    ensure_user(site, "officer2", Role.HEALTH_OFFICER, "1401")
    person = site.rows("SELECT id FROM people WHERE grid_code LIKE '140106%' AND id NOT IN "
                       "(SELECT person_id FROM samples) ORDER BY id LIMIT 1")[0][0]
    page = context.new_page()
    login(page, site, "officer")
    page.goto(f"{site.url}/web/people/{person}")
    page.select_option("#override select[name=colour]", "yellow")
    page.fill("#override input[name=reason]", "密接者的同住人员")
    page.fill("#override input[name=legal_basis]", "《传染病防治法》第三十九条")
    page.fill("#override input[name=expires_at]", "2099-01-01T00:00")  # beyond 14 days
    page.click("#override button[type=submit]")
    expect(page.locator(".alert.bad")).to_be_visible()
    beijing = timezone(timedelta(hours=8))
    expires = (site.platform.deps.clock.now() + timedelta(days=2)).astimezone(
        beijing).strftime("%Y-%m-%dT%H:%M")
    page.select_option("#override select[name=colour]", "yellow")
    page.fill("#override input[name=reason]", "密接者的同住人员")
    page.fill("#override input[name=legal_basis]", "《传染病防治法》第三十九条")
    page.fill("#override input[name=expires_at]", expires)
    page.click("#override button[type=submit]")
    expect(page.locator("#override-requested")).to_be_visible()
    # the same officer cannot approve their own request
    page.goto(f"{site.url}/web/area")
    page.locator("#overrides form[action$='/approve'] button").first.click()
    expect(page.locator("#msg")).to_have_class(re.compile("bad"))
    assert site.count("SELECT status FROM overrides WHERE person_id = ?",
                      person=person) == "requested"
    page = context.new_page()
    login(page, site, "officer2")
    page.goto(f"{site.url}/web/area")
    shot(page, "44-override-requests")
    page.locator("#overrides form[action$='/approve'] button").first.click()
    expect(page.locator("#msg")).to_have_class(re.compile("good"))
    assert site.count("SELECT status FROM overrides WHERE person_id = ?",
                      person=person) == "approved"
    assert site.count("SELECT colour FROM person_status WHERE person_id = ?",
                      person=person) == "yellow"
