"""The site lead's page lists their team (班组) with when each person may next start, with the
test client on SQLite and PostgreSQL: the person on shift as on, the one just off after their
rest, the one not yet on at once."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from hesuan.domain.local_time import local
from tests.helpers import Api, web_sign_in


def test_site_lead_page_lists_the_team_and_when_each_may_start(api: Api) -> None:
    site = api.city.sites["140105"]
    r = api.client.post("/teams", json={"name": "小店一队", "kind": "sampling",
                                        "place_kind": "site", "place_id": site},
                        headers=api.h("officer"))
    assert r.status_code == 201, r.text
    team = r.json()["id"]
    staff = {}
    for name, role in (("采样员甲", "swabber"), ("采样员乙", "swabber"), ("登记员丙", "registrar")):
        r = api.client.post("/staff", json={"name": name, "role": role, "team_id": team},
                            headers=api.h("sitelead"))
        assert r.status_code == 201, r.text
        staff[name] = r.json()["id"]
    for name, window in (("采样员甲", 1), ("采样员乙", 2)):
        r = api.client.post("/shifts/start", json={"staff_id": staff[name], "place_id": site,
                                                   "window": window},
                            headers=api.h("sitelead"))
        assert r.status_code == 201, r.text
    api.clock.advance(timedelta(hours=2))
    r = api.client.post("/shifts/end", json={"staff_id": staff["采样员乙"]},
                        headers=api.h("sitelead"))
    assert r.status_code == 200, r.text
    rest_ends = local(api.clock.now() + timedelta(minutes=30)).strftime("%H:%M")
    r = api.client.get(f"/teams/{team}/staff", headers=api.h("sitelead"))
    assert r.status_code == 200, r.text
    assert [(m["name"], m["on_at"], m["window"]) for m in r.json()["staff"]] == [
        ("登记员丙", None, None), ("采样员乙", None, None), ("采样员甲", site, 1)]

    client = TestClient(api.client.app, base_url="https://testserver")
    web_sign_in(client, "sitelead")
    page = client.get("/web/site").text
    section = page[page.index(f'id="team-{team}"'):]
    rows = dict(re.findall(r'<tr data-staff="([^"]+)">(.*?)</tr>', section))
    assert set(rows) == set(staff.values())
    assert "在岗" in rows[staff["采样员甲"]]  # on shift
    assert rest_ends in rows[staff["采样员乙"]]
    assert ">现在<" in rows[staff["登记员丙"]]  # now
