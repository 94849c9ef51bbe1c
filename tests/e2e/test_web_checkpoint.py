"""A checkpoint's device on the web (交通卡口), with the test client on SQLite and PostgreSQL: its
staff scan a sampling code or a status pass, the scan is recorded at the checkpoint for the
fence rules, and the page says at once whether to stop the person and why — someone a sealed
zone holds at home is stopped (their grid worker alerted), anyone else goes through. The
venue's page sends a checkpoint's device to its own."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from hesuan.domain.access import Principal, Role
from hesuan.domain.zones import Area, ZoneKind
from hesuan.services.auth import SYSTEM
from hesuan.services.fence import CheckpointKind
from hesuan.services.zones import ZoneInput
from hesuan.sim.example import DEMO_PASSWORD
from tests.helpers import Api, web_sign_in

OFFICER = Principal("u-officer", "officer", Role.HEALTH_OFFICER, "1401")


def _gate(page: str) -> tuple[str, str]:
    found = re.search(r'id="gate" data-stop="(\d)" data-rules="([^"]*)"', page)
    assert found is not None, page[:3000]
    return found.group(1), found.group(2)


def test_a_checkpoint_device_scans_and_is_told_whom_to_stop(api: Api) -> None:
    p = api.platform
    cp = p.fence.add_checkpoint(SYSTEM, "G5-JINCI", "晋祠高速口", CheckpointKind.HIGHWAY, "140110")
    p.auth.create_user(SYSTEM, "gate", DEMO_PASSWORD, Role.VENUE, cp)
    grid = api.city.grids[0]
    held, free = (api.people(f"grid_code = '{grid}' AND groups = ''", limit=1)[0],
                  api.people(f"substr(grid_code, 1, 12) <> '{grid[:12]}' AND groups = ''",
                             limit=1)[0])
    p.zones.designate(OFFICER, ZoneInput("封控区", ZoneKind.SEALED, [Area(grid[:12])],
                                         planned_end=api.clock.now() + timedelta(days=7)))
    client = TestClient(api.client.app, base_url="https://testserver")
    csrf = web_sign_in(client, "gate")
    r = client.get("/web/venue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/checkpoint"
    page = client.get("/web/checkpoint").text
    assert "晋祠高速口" in page and 'id="gate"' not in page
    assert 'id="no-scans"' in page
    # the header names the device a checkpoint's, not a venue's
    who = re.search(r'<span class="who">(.*?)</span>\s*$', page, re.M)
    assert who is not None and who.group(1).endswith("· 卡口"), who

    # someone the sealed zone holds at home: stop, and their grid worker is alerted
    stopped = client.post("/web/checkpoint", data={"csrf": csrf, "scanned": api.code(held)})
    assert stopped.status_code == 200
    assert _gate(stopped.text) == ("1", "zone_exit")
    assert api.count("SELECT count(*) FROM fence_alerts WHERE person_id = "
                     f"'{held}' AND rule = 'zone_exit' AND place_kind = 'checkpoint'") == 1
    # anyone else goes through; the scan is recorded all the same (a second later: the page
    # lists the scans newest first, and scans of one instant have no order)
    api.clock.advance(timedelta(seconds=1))
    through = client.post("/web/checkpoint", data={"csrf": csrf, "scanned": api.code(free)})
    assert _gate(through.text) == ("0", "")
    assert api.count(f"SELECT count(*) FROM fence_scans WHERE place_id = '{cp}'") == 2
    # a status pass works as a code does, and its verdict is shown (red: the zone)
    pass_text = p.passes.issue(OFFICER, held)
    api.clock.advance(timedelta(seconds=1))
    by_pass = client.post("/web/checkpoint", data={"csrf": csrf, "scanned": pass_text})
    assert _gate(by_pass.text) == ("1", "zone_exit")
    assert 'id="verdict" data-valid="1"' in by_pass.text and "badge red" in by_pass.text
    # a code that names no one is said so, and nothing is recorded
    forged = client.post("/web/checkpoint", data={"csrf": csrf, "scanned": "NOT-A-CODE"})
    assert 'role="alert"' in forged.text and 'id="gate"' not in forged.text
    assert api.count(f"SELECT count(*) FROM fence_scans WHERE place_id = '{cp}'") == 3
    # the page lists the latest scans, newest first: by what, and stop or let through;
    # nothing about the people
    scans = forged.text[forged.text.index('id="scans"'):]
    section = scans[:scans.index("</section>")]
    assert re.findall(r'<tr data-via="(\w+)" data-stop="(\d)">', section) == [
        ("pass", "1"), ("code", "0"), ("code", "1")]
    assert not re.search(r"\d{6}\*|[\u4e00-\u9fff]\*", section)  # no masked name or id


def test_the_checkpoint_page_is_a_checkpoint_devices_own(api: Api) -> None:
    """A venue's device, and a health officer, have no checkpoint page."""
    for user in ("officer",):
        client = TestClient(api.client.app, base_url="https://testserver")
        web_sign_in(client, user)
        assert client.get("/web/checkpoint").status_code == 404
    venue = api.platform.venues.register(SYSTEM, "CS-TEST-01", "商场", "140105")
    api.platform.auth.create_user(SYSTEM, "mall", DEMO_PASSWORD, Role.VENUE, venue)
    client = TestClient(api.client.app, base_url="https://testserver")
    web_sign_in(client, "mall")
    assert client.get("/web/checkpoint").status_code == 404
    assert client.get("/web/venue", follow_redirects=False).status_code == 200


def test_an_administrator_registers_a_checkpoint_and_its_device(api: Api) -> None:
    """On the administration page: a checkpoint registered, listed with its id, and a device
    account scoped to it, whose page is the checkpoint's. A venue the same way."""
    client = TestClient(api.client.app, base_url="https://testserver")
    csrf = web_sign_in(client, "admin")
    page = client.post("/web/admin/checkpoint", data={
        "csrf": csrf, "code": "g5-xiaodian", "name": "小店高速口", "kind": "highway",
        "region_code": "140105"}).text
    assert 'id="done"' in page, page[:3000]
    places = page[page.index('id="places"'):]
    row = re.search(r'<tr data-place="checkpoint"><td>G5-XIAODIAN</td><td>小店高速口</td>'
                    r'.*?<small>([0-9a-f]{32})</small>', places)
    assert row is not None, places[:3000]
    checkpoint_id = row.group(1)
    page = client.post("/web/admin/venue", data={
        "csrf": csrf, "code": "cs-mall-02", "name": "商场二", "region_code": "140105001"}).text
    assert 'id="done"' in page and '<tr data-place="venue"><td>CS-MALL-02</td>' in page
    page = client.post("/web/admin/user", data={
        "csrf": csrf, "username": "g5gate", "password": DEMO_PASSWORD, "role": "venue",
        "scope": checkpoint_id}).text
    assert 'id="done"' in page
    # a checkpoint of a region that does not exist is refused, and said why
    page = client.post("/web/admin/checkpoint", data={
        "csrf": csrf, "code": "NOWHERE-1", "name": "无", "kind": "highway",
        "region_code": "999999"}).text
    assert 'role="alert"' in page and 'id="done"' not in page
    device = TestClient(api.client.app, base_url="https://testserver")
    web_sign_in(device, "g5gate")
    assert "小店高速口" in device.get("/web/checkpoint").text
