"""Web pages as their readers meet them at any hour, with the test client on SQLite and
PostgreSQL: the site lead's page at night shows the last opening's figures and the true
open/closed state."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from tests.helpers import Api, Station, barcodes, web_sign_in


def _client(api: Api) -> TestClient:
    return TestClient(api.client.app, base_url="https://testserver")


def test_site_lead_page_at_night_shows_the_last_opening(api: Api) -> None:
    # 08:00 in Taiyuan: the site (open 07:00-21:00) samples 3 people into one tube
    station = Station(api.city.sites["140105"], api.clock)
    tube = next(barcodes(980_001))
    events = station.fill(tube, [api.code(p) for p in api.people(limit=3)], mode=5)
    r = api.client.post("/scans/batch", json={"events": events}, headers=api.h("sampler"))
    assert r.json()["rejected"] == 0, r.text
    client = _client(api)
    web_sign_in(client, "sitelead")
    day = client.get("/web/site").text
    assert 'id="site-state" class="badge good"' in day
    # 05:00 the next morning: closed, opening at 07:00; the figures are the last opening's
    api.clock.advance(timedelta(hours=21))
    web_sign_in(client, "sitelead")  # the day's session has expired
    night = client.get("/web/site").text
    state = re.search(r'<span id="site-state" class="badge (\w+)">([^<]*)</span>', night)
    assert state is not None, night[:3000]
    assert state.group(1) == "bad"
    assert "07:00" in state.group(2)
    kpis = night[night.index('id="site-kpis"'):]
    people = re.search(r'<div class="kpi" id="kpi-people"><b>(\d+)</b>', kpis)
    assert people is not None and people.group(1) == "3"
    assert 'id="site-window"' in night
    assert 'id="site-load"' not in night  # no "wait for someone arriving now" while closed
