"""Web forms given what users and browsers may send, on SQLite and PostgreSQL: never a bare 500,
the same checks as the API's (a site's coordinates), the area a page shows named as it is."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import InvalidInput
from hesuan.domain.sampling import SiteKind, make_tube_barcode
from hesuan.services.auth import SYSTEM
from hesuan.services.fence import CheckpointKind
from hesuan.services.places import SiteInput
from hesuan.sim.example import DEMO_PASSWORD
from tests.helpers import Api, web_sign_in


def _client(api: Api, user: str) -> tuple[TestClient, str]:
    client = TestClient(api.client.app, base_url="https://testserver",
                        raise_server_exceptions=False)
    return client, web_sign_in(client, user)


@pytest.mark.parametrize("token", ["é", "\u00ff" * 43, "%FF"])
def test_a_csrf_token_that_is_not_ascii_is_refused_not_a_500(api: Api, token: str) -> None:
    client, _ = _client(api, "sampler")
    r = client.post("/web/station", data={"csrf": token, "scan": make_tube_barcode(950_020),
                                          "mode": "5"})
    assert r.status_code == 403
    r = client.post("/web/station/events.json", json={"events": []},
                    headers={"X-CSRF-Token": token.encode()})
    assert r.status_code == 403
    client.cookies.clear()
    client.get("/web/login")
    r = client.post("/web/login", data={"username": "sampler", "password": "x", "csrf": token})
    assert r.status_code == 403


def test_digits_of_other_scripts_are_not_numbers_here(api: Api) -> None:
    """``"²".isdigit()`` is true and ``int("²")`` raises: the station's pool size and window,
    a courier's count, answered 500."""
    client, csrf = _client(api, "sampler")
    r = client.post("/web/station", data={"csrf": csrf, "scan": make_tube_barcode(950_021),
                                          "mode": "²", "window": "³"})
    assert r.status_code == 200
    client, csrf = _client(api, "courier")
    r = client.post("/web/courier/handover", data={"csrf": csrf, "box_code": "B0000001",
                                                   "counted": "²"})
    assert r.status_code == 200 and 'class="alert bad"' in r.text


@pytest.mark.parametrize("hours", ["inf", "1e400", "nan", "-1"])
def test_a_policy_of_endless_hours_is_refused_in_words(api: Api, hours: str) -> None:
    client, csrf = _client(api, "admin")
    r = client.post("/web/admin/policy", data={
        "csrf": csrf, "scope_kind": "region", "scope": "140105", "interval_hours": hours,
        "overdue_action": "yellow", "name": "n"})
    assert r.status_code == 200, r.text[:300]
    assert 'class="alert bad"' in r.text


def test_a_sites_coordinates_are_checked_as_the_api_checks_them(api: Api) -> None:
    client, csrf = _client(api, "admin")
    for lat, lng in (("999", "-500"), ("nan", "nan"), ("91", "0"), ("0", "181")):
        client.post("/web/admin/site", data={
            "csrf": csrf, "kind": "fixed", "region_code": "140105001", "windows": "2",
            "opening_hours": "07:00-21:00", "name": f"web site {lat}", "lat": lat, "lng": lng})
    assert api.count("SELECT count(*) FROM sites WHERE substr(name, 1, 8) = 'web site'") == 0
    with pytest.raises(InvalidInput) as refused:
        api.platform.places.add_site(Principal("u-admin", "admin", Role.ADMIN), SiteInput(
            "svc site", SiteKind.FIXED, "140105001", lat=999.0, lng=-500.0))
    assert refused.value.code == "bad_location"


def test_the_roster_names_the_area_it_shows(api: Api) -> None:
    """An officer of one district asking for the city's roster is shown their district's, and
    the heading and the file named the city."""
    api.platform.auth.create_user(SYSTEM, "yingze", DEMO_PASSWORD, Role.HEALTH_OFFICER,
                                  "140106")
    client, _ = _client(api, "yingze")
    r = client.get("/web/roster?region=1401")
    assert r.status_code == 200
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", r.text, re.S)
    assert heading is not None
    assert "140106" in heading.group(1) or "迎泽" in heading.group(1), heading.group(1)


@pytest.mark.parametrize("user", ["resident", "sampler", "lab", "sitelead"])
def test_the_roster_refuses_who_has_none_with_a_403(api: Api, user: str) -> None:
    client, _ = _client(api, user)
    assert client.get("/web/roster").status_code == 403


def test_a_refused_alert_action_or_checkpoint_scan_keeps_what_was_typed(api: Api) -> None:
    """An over-long note or scan went to a bare error page; what was typed was lost."""
    p = api.platform
    cp = p.fence.add_checkpoint(SYSTEM, "G5-TEST", "测试卡口", CheckpointKind.HIGHWAY, "140110")
    p.auth.create_user(SYSTEM, "gate2", DEMO_PASSWORD, Role.VENUE, cp)
    client, csrf = _client(api, "gate2")
    pasted = "SP1:" + "A" * 5000
    r = client.post("/web/checkpoint", data={"csrf": csrf, "scanned": pasted})
    assert r.status_code == 200 and "alert bad" in r.text
    assert "A" * 4000 in r.text
    client, csrf = _client(api, "officer")
    r = client.post("/web/alerts/nope/close", data={"csrf": csrf, "outcome": "returned_home",
                                                     "note": "n" * 300})
    assert r.status_code == 422 and 'id="alert-error"' in r.text
