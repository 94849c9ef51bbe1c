"""Status through the HTTP API: the resident's own page data, privacy between residents, the
two-officer override by API, policies by API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hesuan.domain.access import Role
from hesuan.services.auth import SYSTEM
from hesuan.sim.example import DEMO_PASSWORD
from tests.helpers import Api


def test_resident_sees_own_status_in_plain_words_and_nothing_of_others(api: Api) -> None:
    me = api.city.users["resident"][1]
    other = api.city.users["resident2"][1]
    r = api.client.get("/me/status", headers=api.h("resident"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["colour"] == "green" and body["reasons"][0]["code"] == "not_yet_tested"
    assert body["next_steps"] and body["nearest_open_sites"]
    assert body["rule"] == {"id": "R-DEFAULT", "version": 1}
    assert api.client.get(f"/people/{me}/status", headers=api.h("resident")).status_code == 200
    for path in (f"/people/{other}/status", f"/people/{other}",
                 f"/people/{other}/sampling-code.svg"):
        assert api.client.get(path, headers=api.h("resident")).status_code == 404, path
    en = api.client.get("/me/status?lang=en", headers=api.h("resident")).json()
    assert en["reasons"][0]["text"] == "Not yet tested this round"


def test_override_by_api_needs_a_second_officer(api: Api) -> None:
    api.platform.auth.create_user(SYSTEM, "officer2", DEMO_PASSWORD, Role.HEALTH_OFFICER, "1401")
    pid = api.city.users["resident"][1]
    until = (api.clock.now() + timedelta(days=2)).isoformat()
    r = api.client.post(f"/people/{pid}/overrides", headers=api.h("officer"), json={
        "colour": "popup", "reason": "checked at hospital", "legal_basis": "防控方案第九版",
        "expires_at": until})
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    same = api.client.post(f"/overrides/{oid}/approve", headers=api.h("officer"))
    assert same.status_code == 409 and same.json()["error"]["code"] == "same_officer"
    assert api.client.post(f"/overrides/{oid}/approve",
                           headers=api.h("sampler")).status_code == 403
    assert api.client.post(f"/overrides/{oid}/approve",
                           headers=api.h("officer2")).status_code == 204
    mine = api.client.get("/me/status", headers=api.h("resident")).json()
    assert mine["colour"] == "popup" and mine["overrides"][0]["legal_basis"] == "防控方案第九版"
    # the answer's shape: the explanation, the person's due time, exemptions and overrides
    assert pid is not None
    api.platform.status.exempt(SYSTEM, pid, "bedridden", api.clock.now() + timedelta(days=30))
    body = api.client.get(f"/people/{pid}/status", headers=api.h("officer")).json()
    assert list(body) == ["colour", "reasons", "next_steps", "rule", "valid_until", "evidence",
                          "person_id", "next_due_at", "exemptions", "overrides",
                          "nearest_open_sites"]
    assert body["reasons"][0].keys() == {"code", "text"}
    assert body["overrides"][0].keys() == {"id", "colour", "reason", "legal_basis",
                                           "expires_at", "status"}
    assert body["overrides"][0]["expires_at"].endswith("Z")
    [exempt] = body["exemptions"]
    assert exempt.keys() == {"id", "person_id", "reason", "note", "until", "set_by",
                             "created_at", "revoked_at"}
    assert exempt["reason"] == "bedridden" and exempt["until"].endswith("Z")


def test_policies_by_api(api: Api) -> None:
    r = api.client.get("/policies", headers=api.h("officer"))
    assert r.status_code == 200 and len(r.json()) >= 9
    bad = api.client.post("/policies", headers=api.h("officer"), json={
        "scope_kind": "region", "scope": "140106", "interval_hours": 24,
        "reminder_lead_hours": 30})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "reminder_lead_hours"
    ok = api.client.post("/policies", headers=api.h("officer"), json={
        "scope_kind": "region", "scope": "140106", "interval_hours": 48})
    assert ok.status_code == 201 and ok.json()["interval_hours"] == 48
    assert api.client.post("/policies", headers=api.h("sampler"), json={
        "scope_kind": "region", "scope": "140106", "interval_hours": 48}).status_code == 403


def test_logout_ends_the_session_at_once(api: Api) -> None:
    headers = api.h("officer")
    token = headers["Authorization"].split()[1]
    assert api.client.get("/policies", headers=headers).status_code == 200
    api.platform.auth.logout(token)
    assert api.client.get("/policies", headers=headers).status_code == 401


def test_a_re_test_taken_is_said_so_until_its_result(api: Api) -> None:
    """After the single-tube re-test of a positive pool was taken, the resident was still told
    to go and get it (14 h later by a time already past), and the grid worker's list flagged
    them as an overdue recall to chase."""
    import uuid

    from hesuan.domain.access import Principal
    from tests.helpers import Station, barcodes, boxes

    me = api.city.users["resident"][1]
    assert me is not None
    grid = api.count(f"SELECT grid_code FROM people WHERE id = '{me}'")
    site = api.city.users["sampler"][1]  # a resident is sampled at any site
    assert site is not None
    st = Station(site, api.clock)
    others = [x for x in api.people("groups = ''", 10) if x != me][:4]
    lab = api.city.labs["lab1"]

    def resulted(tube: str, box: str, result: str, filled: list[dict[str, Any]]) -> None:
        """The tube (its events ``filled``, if any) packed, sealed, received and resulted."""
        events = [*filled, st.ev("box_tube", box_code=box, barcode=tube),
                  st.ev("seal_box", box_code=box)]
        assert api.client.post("/scans/batch", headers=api.h("sampler"),
                               json={"events": events}).json()["rejected"] == 0
        api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
            "event_id": str(uuid.uuid4()), "lab_id": lab, "at": api.clock.now().isoformat(),
            "tube_barcodes": [tube]})
        api.clock.advance(timedelta(minutes=30))
        r = api.client.post(f"/labs/{lab}/results", headers=api.h("lab"),
                            json={"results": [{"barcode": tube, "result": result}]})
        assert r.status_code == 200 and r.json()["results"][0]["status"] == "accepted", r.text

    tube = next(barcodes(7300))
    resulted(tube, next(boxes(7300)), "positive",
             st.fill(tube, [api.code(x) for x in [me, *others]], mode=5))
    told = api.client.get("/me/status?lang=en", headers=api.h("resident")).json()
    assert told.get("reasons", [{}])[0].get("code") == "pending_retest", told
    assert any("re-test at any site" in s for s in told["next_steps"]), told
    api.clock.advance(timedelta(hours=1))
    single = next(barcodes(7400))
    assert api.client.post("/scans/batch", headers=api.h("sampler"), json={
        "events": st.fill(single, [api.code(me)], mode=1)}).json()["rejected"] == 0
    api.clock.advance(timedelta(hours=14))  # the lab is late
    api._tokens.clear()  # the morning's sign-in has run out
    told = api.client.get("/me/status?lang=en", headers=api.h("resident")).json()
    assert told["reasons"][0]["code"] == "pending_retest"
    assert told["reasons"][0]["text"] == "Re-test taken: waiting for its result", told
    assert not any("at any site" in s for s in told["next_steps"]), told
    worker = Principal("g", "grid", Role.GRID_WORKER, grid)
    (on_list,) = [r for r in api.platform.worklists.recalls(worker) if r.recall.person_id == me]
    assert on_list.recall.answered and not on_list.overdue
    assert me not in {r.recall.person_id
                      for r in api.platform.worklists.recalls(worker, overdue_only=True)}
    # the re-test comes back invalid: the recall stays open and is no longer answered by it
    resulted(single, next(boxes(7400)), "invalid", [])
    told = api.client.get("/me/status?lang=en", headers=api.h("resident")).json()
    assert told["reasons"][0]["code"] == "pending_retest", told
    assert told["reasons"][0]["text"] != "Re-test taken: waiting for its result", told
    assert any("at any site" in s for s in told["next_steps"]), told
    (on_list,) = [r for r in api.platform.worklists.recalls(worker) if r.recall.person_id == me]
    assert not on_list.recall.answered, on_list
