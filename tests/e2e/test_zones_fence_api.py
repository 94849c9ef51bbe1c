"""E2E through the API (SQLite and PostgreSQL): an officer designates a sealed zone, its people
turn red; a resident of it is scanned at a venue outside it and exactly one alert reaches the
grid worker of their grid (a second scan that day bumps it); the grid worker acknowledges and
closes it; lifting the zone restores the people; the grid worker's roster, outcomes, phone
reveal and Excel export; the two lanes with a queue and a wait estimate."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

from openpyxl import load_workbook

from tests.helpers import Api, Station, barcodes


def _colours(api: Api, ids: list[str]) -> set[str]:
    out = set()
    for pid in ids:
        r = api.client.get(f"/people/{pid}/status", headers=api.h("officer"))
        assert r.status_code == 200, r.text
        out.add(r.json()["colour"])
    return out


def test_sealed_zone_venue_alert_and_lift(api: Api) -> None:
    grid = api.city.grids[0]
    community = grid[:12]
    residents = api.people(f"grid_code = '{grid}' AND groups = ''", limit=5)
    assert residents
    assert _colours(api, residents) == {"green"}

    r = api.client.post("/zones", headers=api.h("officer"), json={
        "name": "封控区 A", "kind": "sealed", "areas": [community],
        "planned_end": (api.clock.now() + timedelta(days=7)).isoformat()})
    assert r.status_code == 201, r.text
    zone = r.json()
    assert zone["people"] == api.count(
        f"SELECT count(*) FROM people WHERE substr(grid_code, 1, 12) = '{community}'")
    assert _colours(api, residents) == {"red"}
    body = api.client.get(f"/people/{residents[0]}/status", headers=api.h("officer")).json()
    assert "in_zone" in [x["code"] for x in body["reasons"]]
    assert body["evidence"]["zone"]["id"] == zone["id"]

    # a venue in another district, and its scanning device
    r = api.client.post("/venues", headers=api.h("officer"), json={
        "code": "MALL-0001", "name": "万象城", "region_code": "140109"})
    assert r.status_code == 201, r.text
    venue_id = r.json()["id"]
    r = api.client.post("/users", headers=api.h("admin"), json={
        "username": "mall", "password": "mall-device-2022", "role": "venue",
        "scope": venue_id})
    assert r.status_code == 201, r.text
    tok = api.client.post("/auth/token", json={"username": "mall",
                                               "password": "mall-device-2022"}).json()
    device = {"Authorization": f"Bearer {tok['access_token']}"}

    def scan(pid: str) -> dict[str, object]:
        r = api.client.post("/fence/scans", headers=device, json={"scans": [{
            "event_id": str(uuid.uuid4()), "place_kind": "venue", "place_id": venue_id,
            "at": api.clock.now().isoformat(), "code": api.code(pid)}]})
        assert r.status_code == 200, r.text
        out: dict[str, object] = r.json()
        return out

    got = scan(residents[0])
    assert got["accepted"] == 1
    assert got["results"][0]["alerts"] == ["zone_exit"]  # type: ignore[index]
    # someone outside any zone raises nothing
    outsider = api.people(f"substr(grid_code, 1, 12) <> '{community}' AND groups = ''", limit=1)[0]
    assert scan(outsider)["results"][0]["alerts"] == []  # type: ignore[index]

    inbox = api.client.get("/fence/alerts", headers=api.h("grid")).json()
    assert len(inbox) == 1
    alert = inbox[0]
    assert (alert["person_id"], alert["rule"], alert["place_id"]) == (residents[0],
                                                                      "zone_exit", venue_id)
    assert alert["detail"]["zone_id"] == zone["id"]
    assert "name" not in alert and alert["name_masked"]
    # the same person scanned again that day: still one alert, two scans
    api.clock.advance(timedelta(minutes=30))
    scan(residents[0])
    inbox = api.client.get("/fence/alerts", headers=api.h("grid")).json()
    assert len(inbox) == 1 and inbox[0]["scans"] == 2
    # the district officer sees it too; another district's officer does not exist here, but a
    # grid worker of another grid sees nothing
    assert len(api.client.get("/fence/alerts", headers=api.h("officer")).json()) == 1

    r = api.client.post(f"/fence/alerts/{alert['id']}/acknowledge", headers=api.h("grid"),
                        json={"note": "电话联系中"})
    assert r.status_code == 200, r.text
    r = api.client.post(f"/fence/alerts/{alert['id']}/close", headers=api.h("grid"),
                        json={"outcome": "returned_home"})
    assert r.status_code == 200, r.text
    assert api.client.get("/fence/alerts", headers=api.h("grid")).json() == []
    closed = api.client.get("/fence/alerts?status=closed", headers=api.h("grid")).json()
    assert closed[0]["outcome"] == "returned_home"
    # sent home, and out again the same day: the closed alert swallowed the breach; it is
    # open again, with how it was closed before
    api.clock.advance(timedelta(hours=2))
    assert scan(residents[0])["results"][0]["alerts"] == ["zone_exit"]  # type: ignore[index]
    (again,) = api.client.get("/fence/alerts", headers=api.h("grid")).json()
    assert (again["id"], again["status"], again["scans"]) == (alert["id"], "open", 3)
    assert (again["outcome"], again["acknowledged_by"]) == ("returned_home", None)
    r = api.client.post(f"/fence/alerts/{alert['id']}/close", headers=api.h("grid"),
                        json={"outcome": "isolated"})
    assert r.status_code == 200, r.text
    # a late upload of a scan made before the close changes nothing
    r = api.client.post("/fence/scans", headers=device, json={"scans": [{
        "event_id": str(uuid.uuid4()), "place_kind": "venue", "place_id": venue_id,
        "at": (api.clock.now() - timedelta(hours=1)).isoformat(), "code": api.code(residents[0])}]})
    assert r.status_code == 200, r.text
    assert api.client.get("/fence/alerts", headers=api.h("grid")).json() == []

    # a venue check at the door (the four checks with the pass) is a scan too
    r = api.client.post(f"/people/{residents[1]}/pass", headers=api.h("officer"))
    assert r.status_code == 200, r.text
    r = api.client.post(f"/venues/{venue_id}/checks", headers=device, json={
        "pass": r.json()["pass"], "temperature_c": 36.5, "mask": True,
        "certificate": True})
    assert r.status_code == 200 and r.json()["admitted"] is False, r.text
    inbox = api.client.get("/fence/alerts", headers=api.h("grid")).json()
    assert [(a["person_id"], a["rule"]) for a in inbox] == [(residents[1], "zone_exit")]

    r = api.client.post(f"/zones/{zone['id']}/lift", headers=api.h("officer"),
                        json={"reason": "连续14天无新增"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "lifted"
    assert _colours(api, residents) == {"green"}
    assert api.client.get(f"/zones/{zone['id']}", headers=api.h("officer")).json()[
        "history"][-1]["action"] == "lifted"


def test_roster_lists_outcomes_phone_and_excel(api: Api) -> None:
    grid = api.city.grids[0]
    r = api.client.get("/rosters/people", headers=api.h("grid"))
    assert r.status_code == 200, r.text
    body = r.json()
    due = api.count(f"SELECT count(*) FROM people WHERE grid_code = '{grid}'")
    assert body["region"] == grid and body["count"] == due  # nobody sampled yet
    first = body["people"][0]
    assert "*" in first["name"] and "*" in (first["phone"] or "*")
    # a grid worker cannot list another grid
    other = api.city.grids[1]
    assert api.client.get(f"/rosters/people?region={other}",
                          headers=api.h("grid")).status_code == 403
    r = api.client.post(f"/people/{first['person_id']}/reveal-phone", headers=api.h("grid"))
    assert r.status_code == 200 and "*" not in r.json()["phone"]
    assert api.count("SELECT count(*) FROM audit_log WHERE action = 'person.reveal_phone'") == 1
    r = api.client.post(f"/people/{first['person_id']}/roster-outcome", headers=api.h("grid"),
                        json={"outcome": "needs_door_to_door", "note": "卧床"})
    assert r.status_code == 201, r.text
    again = api.client.get("/rosters/people", headers=api.h("grid")).json()["people"]
    assert next(p for p in again if p["person_id"] == first["person_id"])[
        "outcome"] == "needs_door_to_door"

    # sample one person of the grid: they leave the outstanding list
    st = Station(api.city.sites[grid[:6]], api.clock)
    bc = next(barcodes(9000))
    r = api.client.post("/scans/batch", headers=api.h("sampler"), json={"events": st.fill(
        bc, [api.code(first["person_id"])], mode=1)})
    assert r.json()["accepted"] == 2, r.text
    out = api.client.get("/rosters/people", headers=api.h("grid")).json()
    assert out["count"] == due - 1
    assert {x["roster_class"] for x in out["people"]} == {"outstanding"}
    done = api.client.get("/rosters/people?which=sampled", headers=api.h("grid")).json()
    assert [(x["person_id"], x["roster_class"]) for x in done["people"]] == [
        (first["person_id"], "sampled")]
    assert done["people"][0]["last_sampled_at"].endswith("Z")

    cov = api.client.get(f"/rosters/coverage?region={grid[:6]}&live=true",
                         headers=api.h("officer")).json()
    assert cov["source"] == "live"
    g = next(x for x in cov["grids"] if x["code"] == grid)
    assert (g["due"], g["sampled"], g["outstanding"]) == (due, 1, due - 1)
    # the snapshot gives the same numbers
    stored = api.client.post("/rosters/snapshot", headers=api.h("admin"))
    assert stored.status_code == 200, stored.text
    assert stored.json().keys() == {"grids", "people", "as_of", "count_seconds", "seconds"}
    assert stored.json()["as_of"].endswith("Z") and stored.json()["people"] >= due
    snap = api.client.get(f"/rosters/coverage?region={grid[:6]}",
                          headers=api.h("officer")).json()
    assert snap["source"] == "snapshot"
    assert next(x for x in snap["grids"] if x["code"] == grid) == g

    r = api.client.get(f"/rosters/coverage.xlsx?region={grid}", headers=api.h("grid"))
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["coverage 应检尽检", "outstanding 未检名单"]
    assert wb["outstanding 未检名单"].max_row == due  # header + due - 1


def test_two_lanes_queue_and_wait(api: Api) -> None:
    site = api.city.sites[api.city.grids[0][:6]]
    st = Station(site, api.clock)
    people = api.people("groups = ''", limit=12)
    bc = next(barcodes(7000))
    t0 = api.clock.now()
    events = [st.ev("open_tube", barcode=bc, mode=10, window=1)]
    for i, pid in enumerate(people[:10]):
        events.append(st.ev("register", at=t0 + timedelta(seconds=10 * i), barcode=bc,
                            code=api.code(pid), window=1))
    r = api.client.post("/lanes/batch", headers=api.h("sampler"), json={"events": events})
    assert r.status_code == 200 and r.json()["accepted"] == 11, r.text
    # an eleventh person does not fit the tube
    r = api.client.post("/lanes/batch", headers=api.h("sampler"), json={"events": [st.ev(
        "register", barcode=bc, code=api.code(people[10]))]})
    assert r.json()["results"][0]["reason"] == "tube_full"
    # swab six, 40 s apart, at window 1
    api.clock.advance(timedelta(minutes=5))
    swabs = [st.ev("swab", at=t0 + timedelta(minutes=1, seconds=40 * i), code=api.code(pid),
                   window=1) for i, pid in enumerate(people[:6])]
    r = api.client.post("/lanes/batch", headers=api.h("sampler"), json={"events": swabs})
    assert r.json()["accepted"] == 6, r.text
    # replaying the swabs changes nothing
    r = api.client.post("/lanes/batch", headers=api.h("sampler"), json={"events": swabs})
    assert r.json()["duplicate"] == 6
    load = api.client.get(f"/sites/{site}/load", headers=api.h("resident")).json()
    assert load["queue"] == 4
    assert load["swabs"] == 6 and load["sample_seconds_p50"] == 40.0
    assert load["wait_minutes"] == round(5 / (6 / 15), 1)
    assert list(load) == ["site_id", "name", "kind", "status", "windows", "staffed_windows",
                          "swabs_per_min_per_staffed_window", "as_of", "queue", "swabs",
                          "window_minutes", "open_windows", "swabs_per_min",
                          "swabs_per_min_per_window", "sample_seconds_p50",
                          "sample_seconds_p90", "wait_minutes", "basis"]
    assert load["as_of"].endswith("Z")
    # the rest of the tube at once: it fills and seals itself
    r = api.client.post("/lanes/batch", headers=api.h("sampler"), json={"events": [st.ev(
        "swab", barcode=bc, window=1)]})
    res = r.json()["results"][0]
    assert res["status"] == "accepted" and res["tube"]["status"] == "sealed", r.text
    assert res["not_swabbed"] == [], r.text
    assert api.client.get(f"/sites/{site}/load", headers=api.h("resident")).json()[
        "queue"] == 0
