"""The resident's "sites open now near me" on the synthetic city, with the test client on SQLite
and PostgreSQL: the households have locations, the list is nearest first with the distance and
each site's wait, and arrival checkpoints (the railway station, the airport) and door-to-door
teams are not on it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.entrypoints.api import create_app
from hesuan.sim.city import generate_city
from tests.helpers import web_sign_in


@pytest.fixture
def client(platform: Platform, clock: FixedClock) -> Iterator[TestClient]:
    generate_city(platform, 1500, seed=3, workers=0)
    with TestClient(create_app(platform), base_url="https://testserver") as c:
        yield c


def test_nearby_open_sites_are_measured_from_home(client: TestClient) -> None:
    web_sign_in(client, "resident")  # 08:00 in Taiyuan: the routine sites are open
    html = client.get("/web/me").text
    section = html[html.index('id="sites"'):]
    section = section[:section.index("</section>")]
    items = re.findall(r"<li([^>]*)>(.*?)</li>", section, re.S)
    assert items, section
    assert "落地检" not in section and "上门" not in section
    metres = []
    for attrs, body in items:
        m = re.search(r'data-distance-m="(\d+)"', attrs)
        assert m is not None, attrs
        metres.append(int(m.group(1)))
        assert re.search(r"\d+(\.\d)? ?(km|m)\b|公里|米", body), body
        assert 'class="wait"' in body, body
    assert metres == sorted(metres)
    assert metres[0] < 5000  # the nearest is in the resident's part of town
