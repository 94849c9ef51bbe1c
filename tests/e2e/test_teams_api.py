"""The door-to-door and shift answers over HTTP: each keeps its JSON keys, and its instants are
ISO 8601 UTC with ``Z`` — the services answer dataclasses, the API writes them as objects."""

from __future__ import annotations

from datetime import date

from hesuan.domain.sampling import SiteKind, make_tube_barcode
from hesuan.services.auth import SYSTEM
from hesuan.services.people import PersonInput
from hesuan.services.places import SiteInput
from hesuan.sim.example import make_resident_id
from tests.helpers import Api


def _z(text: str) -> bool:
    return text.endswith("Z") and "+" not in text


def test_door_team_and_shift_answers_keep_their_json(api: Api) -> None:
    p = api.platform
    grid = api.city.grids[0]
    admin = api.h("admin")
    team_site = p.places.add_site(SYSTEM, SiteInput("上门采样队", SiteKind.DOOR_TO_DOOR,
                                                    grid[:6], windows=1))
    ids = [p.people.register(SYSTEM, PersonInput(
        make_resident_id(grid[:6], date(1981 + i, 4, 2), 810 + i), f"赵{i}", grid,
        household_id="HH-API-0001", address="3号楼1单元101")) for i in range(2)]

    r = api.client.post(f"/door-teams/{team_site}/assignments", headers=admin,
                        json={"person_ids": ids})
    assert r.status_code == 201, r.text
    assert r.json().keys() == {"id", "site_id", "zone_id", "people", "household_pool"}
    assert r.json()["people"] == 2 and r.json()["zone_id"] is None

    route = api.client.get(f"/door-teams/{team_site}/route", headers=admin).json()
    assert route.keys() == {"site_id", "assignments", "households", "households_to_visit",
                            "people_to_sample", "route"}
    [household] = route["route"]
    assert household.keys() == {"household_id", "grid_code", "address", "members",
                                "to_sample"}
    assert household["to_sample"] == 2 and household["address"] == "3号楼1单元101"
    assert {m["person_id"] for m in household["members"]} == set(ids)
    assert household["members"][0].keys() == {"person_id", "name", "sampled", "single_tube"}

    r = api.client.post(f"/door-teams/{team_site}/households/HH-API-0001/visit", headers=admin,
                        json={"event_id": "5f0b6c1e-8a43-4c7e-9d2a-3b1f0e9c7a11",
                              "barcode": make_tube_barcode(870001), "at": api.clock.now()
                              .isoformat(), "scanned": [api.code(x) for x in ids]})
    assert r.status_code == 200, r.text
    visit = r.json()
    assert visit == {"household_id": "HH-API-0001", "pooled": 2, "single": 0, "sampled": 2,
                     "skipped": [], "duplicate": False, "rejected": []}
    # the day's work done: the assignment closes, its route is empty, and a second close is 409
    assignment = route["assignments"][0]
    r_assign = api.client.post(f"/door-teams/{team_site}/assignments/{assignment}/close",
                               headers=admin)
    assert r_assign.status_code == 200 and r_assign.json() == {"status": "done"}, r_assign.text
    assert api.client.get(f"/door-teams/{team_site}/route", headers=admin).json()[
        "households"] == 0
    again = api.client.post(f"/door-teams/{team_site}/assignments/{assignment}/close",
                            headers=admin)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "assignment_done")

    site = api.city.sites[grid[:6]]
    team = api.client.post("/teams", headers=admin, json={
        "name": "一队", "kind": "sampling", "place_kind": "site", "place_id": site}).json()["id"]
    staff = api.client.post("/staff", headers=admin, json={
        "name": "采样员甲", "role": "swabber", "team_id": team}).json()["id"]
    r = api.client.post("/shifts/start", headers=admin,
                        json={"staff_id": staff, "place_id": site, "window": 1})
    assert r.status_code == 201, r.text
    board = api.client.get(f"/shifts/board/{site}", headers=admin).json()
    assert board.keys() == {"place_id", "as_of", "on", "staffed_windows", "due_to_rotate",
                            "limits"}
    assert _z(board["as_of"]) and board["staffed_windows"] == [1]
    [on] = board["on"]
    assert on.keys() == {"staff_id", "name", "role", "team_id", "window", "on_since",
                         "hours_this_stint", "hours_today", "rotate_at", "rotate_because",
                         "due_to_rotate", "overdue"}
    assert _z(on["on_since"]) and _z(on["rotate_at"]) and on["rotate_because"] == "at_window"
    assert board["limits"] == {"at_window_h": 4.0, "per_day_h": 8.0, "rest_min": 30.0}

    moved = api.client.post(f"/teams/{team}/move", headers=admin,
                            json={"to_kind": "region", "to_id": grid[:6]}).json()
    assert moved.keys() == {"team_id", "place_kind", "place_id", "shifts_ended", "history"}
    assert moved["shifts_ended"] == 1
    assert [m["to_kind"] for m in moved["history"]] == ["site", "region"]
    assert moved["history"][0].keys() == {"id", "team_id", "from_kind", "from_id", "to_kind",
                                          "to_id", "note", "actor", "at"}
    assert all(_z(m["at"]) for m in moved["history"])
