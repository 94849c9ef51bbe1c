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


def test_dashboard_says_what_its_figures_cover_and_why_they_changed(api: Api) -> None:
    client = _client(api)
    web_sign_in(client, "officer")
    first = client.get("/web/dashboard").text
    window = re.search(r'id="figures-window"[^>]*>(.*?)</', first, re.S)
    assert window is not None, first[:3000]
    assert "08-29" in window.group(1)  # the date of the computation and of the window
    overdue = int(re.search(r'data-k="status.reasons.overdue">(\d+)<', first).group(1))  # type: ignore[union-attr]
    # four days on, at night, the sweep marks everyone past their due time and grace overdue
    api.clock.advance(timedelta(days=4, hours=14))
    r = api.client.post("/sweep", headers=api.h("admin"))
    assert r.status_code == 200, r.text
    web_sign_in(client, "officer")
    second = client.get("/web/dashboard?fresh=true").text
    now_overdue = int(re.search(r'data-k="status.reasons.overdue">(\d+)<', second).group(1))  # type: ignore[union-attr]
    assert now_overdue > overdue
    changes = re.search(r'<ul[^>]*id="changes"[^>]*>(.*?)</ul>', second, re.S)
    assert changes is not None, second[:3000]
    line = next(x for x in re.findall(r"<li[^>]*>(.*?)</li>", changes.group(1), re.S)
                if f"{overdue} → {now_overdue}" in x)
    assert 'data-why="sweep"' in changes.group(1) and "09-02" in line
    data = client.get("/web/dashboard.json").json()
    assert any(c["why"] == "sweep" for c in data["changes"])
