"""A grid's roster on the web with the test client, on SQLite and PostgreSQL: the list comes in
pages, and a grid worker finds a person of their grid by ID number, phone or name (ID and phone
by their keyed hash, names by decrypting only their grid's roster); someone outside the grid is
not found. The lab's list of received boxes comes in pages too."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.entrypoints.api import create_app
from hesuan.services.auth import SYSTEM
from hesuan.sim.city import generate_city
from tests.helpers import Api, Station, web_sign_in


@pytest.fixture
def city(platform: Platform, clock: FixedClock) -> Iterator[tuple[TestClient, Platform, str]]:
    report = generate_city(platform, 1500, seed=3, workers=0)
    grid = report.users["grid"][1]
    assert grid is not None
    with TestClient(create_app(platform), base_url="https://testserver") as c:
        yield c, platform, grid


def _listed(html: str) -> list[str]:
    section = html[html.index('id="roster-people"'):]
    return re.findall(r'<li id="p-([0-9a-f]+)"', section)


def _people(platform: Platform, where: str) -> list[str]:
    with platform.engine.connect() as c:
        return [r[0] for r in c.exec_driver_sql(
            f"SELECT id FROM people WHERE {where} ORDER BY id LIMIT 3").all()]


def test_the_roster_comes_in_pages(city: tuple[TestClient, Platform, str]) -> None:
    client, _platform, _grid = city
    web_sign_in(client, "grid")
    first = client.get("/web/roster?which=due").text
    page1 = _listed(first)
    assert 0 < len(page1) <= 50
    nxt = re.search(r'<a[^>]*id="next-page"[^>]*href="([^"]+)"', first)
    assert nxt is not None, first[first.index('id="roster-people"'):][:2000]
    second = client.get(nxt.group(1).replace("&amp;", "&")).text
    page2 = _listed(second)
    assert page2 and not set(page1) & set(page2)
    assert 'id="prev-page"' in second


def test_a_grid_worker_finds_a_person_of_their_grid(
        city: tuple[TestClient, Platform, str]) -> None:
    client, platform, grid = city
    web_sign_in(client, "grid")
    mine = _people(platform, f"grid_code = '{grid}' AND phone_enc IS NOT NULL "
                             "AND id_kind = 'resident'")[0]
    person = platform.people.get(SYSTEM, mine, unmask=True)
    assert person.phone
    for query in (person.id_number, person.phone, person.name):
        found = _listed(client.get("/web/roster", params={"q": query}).text)
        assert mine in found, query
        assert len(found) <= 50
    # someone of another grid is not found, whichever way they are asked for
    other = _people(platform, f"grid_code <> '{grid}' AND id_kind = 'resident'")[0]
    stranger = platform.people.get(SYSTEM, other, unmask=True)
    html = client.get("/web/roster", params={"q": stranger.id_number}).text
    assert other not in _listed(html) and 'id="nobody-found"' in html
    assert other not in _listed(client.get("/web/roster", params={"q": stranger.name}).text)


def test_the_labs_received_boxes_come_in_pages(api: Api) -> None:
    st = Station(api.city.sites["140105"], api.clock)
    people = api.people(limit=55)
    tubes = [make_tube_barcode(990_001 + i) for i in range(55)]
    boxes = [make_box_code(990_001 + i) for i in range(55)]
    events = []
    for tube, box, pid in zip(tubes, boxes, people, strict=True):
        events += [st.ev("open_tube", barcode=tube, mode=1),
                   st.ev("sample", barcode=tube, code=api.code(pid)),
                   st.ev("box_tube", barcode=tube, box_code=box), st.ev("seal_box", box_code=box)]
    r = api.client.post("/scans/batch", json={"events": events}, headers=api.h("sampler"))
    assert r.json()["rejected"] == 0, r.text
    for tube, box in zip(tubes, boxes, strict=True):
        r = api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"),
                            json={"event_id": st.ev("x")["event_id"],
                                  "at": api.clock.now().isoformat()})
        assert r.status_code == 200, r.text
        r = api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
            "event_id": st.ev("x")["event_id"], "lab_id": api.city.labs["lab1"],
            "at": api.clock.now().isoformat(), "tube_barcodes": [tube]})
        assert r.status_code == 200, r.text
    client = TestClient(api.client.app, base_url="https://testserver")
    web_sign_in(client, "lab")
    first = client.get("/web/lab").text
    listed = re.findall(r'<td class="mono">(BX\d{10})</td>', first)
    assert len(listed) == 50
    nxt = re.search(r'<a[^>]*id="boxes-next"[^>]*href="([^"]+)"', first)
    assert nxt is not None
    second = client.get(nxt.group(1).replace("&amp;", "&")).text
    rest = re.findall(r'<td class="mono">(BX\d{10})</td>', second)
    assert len(rest) == 5 and not set(rest) & set(listed)
    assert set(listed) | set(rest) == set(boxes)
    # and a box found by its code
    found = client.get("/web/lab", params={"box": boxes[7]}).text
    assert re.findall(r'<td class="mono">(BX\d{10})</td>', found) == [boxes[7]]
