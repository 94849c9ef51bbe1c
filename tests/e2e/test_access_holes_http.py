"""The access holes the review found over HTTP (the API and the web pages), on SQLite and
PostgreSQL, one regression test each: a cached page that reached past its reader's scope, a
form that told a sampler whether an ID number is registered, a box received with no hand-over,
district officers reading every district's lists, reads of personal data left unaudited."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import cast

from fastapi.testclient import TestClient

from hesuan.domain.access import Role
from hesuan.domain.json import Json
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.entrypoints.api import create_app
from hesuan.sim.example import DEMO_PASSWORD, OPERATOR, make_resident_id
from tests.helpers import Api, Station, web_sign_in

XIAODIAN, YINGZE = "140105", "140106"


def _user(api: Api, name: str, role: Role, scope: str | None) -> str:
    api.platform.auth.create_user(OPERATOR, name, DEMO_PASSWORD, role, scope)
    return name


def _audited(api: Api, action: str, actor: str) -> int:
    return int(api.count(f"SELECT count(*) FROM audit_log WHERE action = '{action}' "
                         f"AND actor = '{actor}'"))


def test_the_roster_snapshot_never_reaches_another_district(api: Api) -> None:
    _user(api, "city-officer", Role.HEALTH_OFFICER, "1401")
    _user(api, "yingze-officer", Role.HEALTH_OFFICER, YINGZE)
    c = TestClient(api.client.app, base_url="https://testserver")
    web_sign_in(c, "city-officer")
    assert c.get(f"/web/roster?region={XIAODIAN}").status_code == 200
    web_sign_in(c, "yingze-officer")
    r = c.get(f"/web/roster?region={XIAODIAN}")
    assert r.status_code == 403, r.status_code
    c.cookies.clear()


def test_only_roles_that_read_people_may_look_an_id_number_up(api: Api) -> None:
    person = api.people(limit=1)[0]
    number = api.platform.people.get(OPERATOR, person, unmask=True).id_number
    c = TestClient(api.client.app, base_url="https://testserver")
    answers = {}
    for user in ("sampler", "officer"):
        csrf = web_sign_in(c, user)
        for asked in (number, make_resident_id("110101", date(1990, 3, 7), 457)):
            r = c.post("/web/area/find", data={"csrf": csrf, "id_kind": "resident",
                                               "id_number": asked}, follow_redirects=False)
            answers[user, asked == number] = r.status_code, r.headers.get("location")
    # the sampler is refused alike, whether or not the number is registered
    assert answers["sampler", True] == answers["sampler", False], answers
    assert answers["sampler", True] == (403, None), answers
    # an officer is taken to the person, or told there is no one
    assert answers["officer", True] == (303, f"/web/people/{person}"), answers
    assert answers["officer", False] == (303, "/web/area?msg=unknown_person"), answers


def test_a_box_no_courier_handed_over_is_a_custody_break(api: Api) -> None:
    site = api.city.sites[XIAODIAN]
    codes = [api.code(p) for p in api.people(limit=3)]
    barcode, box = make_tube_barcode(661001), make_box_code(6601)
    st = Station(site, api.clock)
    events = [*st.fill(barcode, codes, mode=5), st.ev("seal_tube", barcode=barcode),
              st.ev("box_tube", barcode=barcode, box_code=box), st.ev("seal_box", box_code=box)]
    r = api.client.post("/scans/batch", json={"events": events}, headers=api.h("sampler"))
    assert r.json()["accepted"] == len(events), r.text
    lab = api.city.labs["lab1"]
    at = api.clock.now().isoformat()
    r = api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
        "event_id": "0b9c5d1e-1111-4aaa-8bbb-000000000001", "lab_id": lab, "at": at,
        "tube_barcodes": [barcode]})
    assert r.status_code == 200, r.text
    assert r.json()["custody_break"] is True
    alerts = api.client.get("/alerts", headers=api.h("officer")).json()
    assert [a["kind"] for a in alerts if a["detail"].get("box_code") == box] == [
        "custody_break"]


def test_district_officers_read_their_own_district(api: Api) -> None:
    _user(api, "xiaodian-officer", Role.HEALTH_OFFICER, XIAODIAN)
    _user(api, "yingze-officer2", Role.HEALTH_OFFICER, YINGZE)
    site = api.city.sites[YINGZE]
    barcode = make_tube_barcode(662001)
    events = Station(site, api.clock).fill(barcode, [api.code(p) for p in api.people(
        f"substr(grid_code, 1, 6) = '{YINGZE}' AND groups = ''", 2)], mode=5)
    sampler_b = _user(api, "sampler-b", Role.SAMPLER, site)
    assert api.client.post("/scans/batch", json={"events": events},
                           headers=api.h(sampler_b)).json()["accepted"] == len(events)
    api.clock.advance(timedelta(hours=5))
    api.platform.alerts.check(OPERATOR)
    theirs = api.client.get("/reports/reconcile", headers=api.h("yingze-officer2")).json()
    mine = api.client.get("/reports/reconcile", headers=api.h("xiaodian-officer")).json()
    assert theirs["sampled_not_boxed"]["count"] == 1
    assert mine["sampled_not_boxed"]["count"] == 0
    t_theirs = api.client.get("/reports/turnaround", headers=api.h("yingze-officer2")).json()
    t_mine = api.client.get("/reports/turnaround", headers=api.h("xiaodian-officer")).json()
    assert t_theirs["tubes"] == 1 and t_mine["tubes"] == 0
    assert api.platform.worklists.command_centre(
        api.platform.auth.authenticate(api.h("xiaodian-officer")["Authorization"][7:])
    ).samples_per_hour == []


def test_reads_of_personal_data_are_audited(api: Api) -> None:
    person = api.people(limit=1)[0]
    h = api.h("officer")
    for path in (f"/people/{person}/sampling-code", f"/people/{person}/sampling-code.svg",
                 f"/people/{person}/policy", "/overrides"):
        assert api.client.get(path, headers=h).status_code == 200, path
    assert _audited(api, "person.sampling_code", "officer") == 2
    assert _audited(api, "policy.explain", "officer") == 1
    assert _audited(api, "override.list", "officer") == 1


def test_pass_checks_are_audited_in_batches(api: Api) -> None:
    person = api.people(limit=1)[0]
    text = api.client.post(f"/people/{person}/pass", headers=api.h("officer")).json()["pass"]
    _user(api, "venue-door", Role.VENUE, api.platform.venues.register(
        OPERATOR, "CS-140105-0102", "柳巷商场", "140105"))
    with TestClient(create_app(api.platform)) as c:  # its own lifespan: flushed when it ends
        token = c.post("/auth/token", json={"username": "venue-door",
                                            "password": DEMO_PASSWORD}).json()["access_token"]
        for t in (text, text, "SP1:NOT-A-PASS"):
            assert c.post("/verify", json={"pass": t},
                          headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with api.platform.deps.uow(readonly=True) as uow:
        entries = [e for e in uow.audit_log.entries(0, 100_000) if e.action == "pass.verify"]
    assert [(e.actor, e.detail["checks"], e.detail["valid"],
             len(cast(Sequence[Json], e.detail["passes"])))
            for e in entries] == [("venue-door", 3, 2, 1)]


def test_a_door_team_is_given_only_its_assigners_people_and_zones(api: Api) -> None:
    """A district officer put another district's people, or its zone, on their own door
    team's route, whose staff then read their names, addresses and households; the answer
    also told them whether an id was anyone's (201 against 404)."""
    _user(api, "xiaodian-officer", Role.HEALTH_OFFICER, XIAODIAN)
    _user(api, "yingze-officer", Role.HEALTH_OFFICER, YINGZE)
    me, them = api.h("xiaodian-officer"), api.h("yingze-officer")
    r = api.client.post("/sites", headers=api.h("admin"), json={
        "name": "小店上门队", "kind": "door_to_door", "region_code": XIAODIAN})
    assert r.status_code == 201, r.text
    team = r.json()["id"]
    theirs = api.people(f"substr(grid_code, 1, 6) = '{YINGZE}'", limit=2)
    mine = api.people(f"substr(grid_code, 1, 6) = '{XIAODIAN}'", limit=1)
    refused = [api.client.post(f"/door-teams/{team}/assignments", headers=me,
                               json={"person_ids": ids})
               for ids in ([theirs[0]], [*mine, theirs[1]], ["no-such-person"])]
    assert {(r.status_code, r.json()["error"]["code"]) for r in refused} \
        == {(404, "unknown_person")}, [r.text for r in refused]
    grid = api.count(f"SELECT grid_code FROM people WHERE id = '{theirs[0]}'")
    zone = api.client.post("/zones", headers=them, json={
        "name": "迎泽封控", "kind": "sealed", "areas": [grid]})
    assert zone.status_code == 201, zone.text
    r = api.client.post(f"/door-teams/{team}/assignments", headers=me,
                        json={"zone_id": zone.json()["id"]})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "unknown_zone"), r.text
    route = api.client.get(f"/door-teams/{team}/route", headers=me).json()
    assert route["households"] == 0, route
    # their own district's people go on the route
    r = api.client.post(f"/door-teams/{team}/assignments", headers=me, json={"person_ids": mine})
    assert r.status_code == 201, r.text


def test_an_account_names_a_scope_that_exists(api: Api) -> None:
    """A typo in a scope made an officer or a sampler who could see and do nothing, and no
    one said why; an empty username made an account no one could sign in as."""
    for name, role, scope in (("ho3", "health_officer", "9999"), ("s03", "sampler", "nosuchsite"),
                              ("g03", "grid_worker", XIAODIAN + "999999999"),
                              ("l03", "lab", "nosuchlab"), ("v03", "venue", "nosuchvenue"),
                              ("r03", "resident", "nosuchperson")):
        r = api.client.post("/users", headers=api.h("admin"), json={
            "username": name, "password": "longpassword12345", "role": role, "scope": scope})
        assert r.status_code == 422, (role, r.text)
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) \
            == ("unknown_scope", "scope"), r.text
    for name in ("", "  ", " padded", "tab\tname"):
        r = api.client.post("/users", headers=api.h("admin"), json={
            "username": name, "password": "longpassword12345", "role": "admin"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "username", r.text
    r = api.client.post("/users", headers=api.h("admin"), json={
        "username": "admin2", "password": "longpassword12345", "role": "admin",
        "scope": XIAODIAN})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "unscoped_role"), r.text
    ok = api.client.post("/users", headers=api.h("admin"), json={
        "username": "ho4", "password": "longpassword12345", "role": "health_officer",
        "scope": XIAODIAN})
    assert ok.status_code == 201, ok.text


def test_a_policys_id_does_not_let_another_district_change_it(api: Api) -> None:
    """A 140106 officer posted a 'new version' of 140105's policy (its id) under their own
    scope: only the new scope was checked, and every 140105 resident was left with no
    cadence, no due time and no reminder."""
    _user(api, "yingze-officer", Role.HEALTH_OFFICER, YINGZE)
    theirs = next(p for p in api.client.get("/policies", headers=api.h("admin")).json()
                  if p["scope"] == XIAODIAN)
    r = api.client.post("/policies", headers=api.h("yingze-officer"), json={
        "id": theirs["id"], "scope_kind": "region", "scope": YINGZE, "interval_hours": 240})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "policy_scope_changed"), r.text
    after = next(p for p in api.client.get("/policies", headers=api.h("admin")).json()
                 if p["id"] == theirs["id"])
    assert (after["scope"], after["version"]) == (XIAODIAN, theirs["version"])


def test_an_override_decided_already_is_said_as_a_refusal_to_its_officer(api: Api) -> None:
    """'The override is already decided' was shown in the green style of a decision made."""
    from datetime import timedelta as span

    from hesuan.domain.status import Colour

    _user(api, "officer-two", Role.HEALTH_OFFICER, "1401")
    person = api.people(limit=1)[0]
    oid = api.platform.status.request_override(
        OPERATOR, person, Colour.RED, "hospital check", "防控方案第九版",
        api.clock.now() + span(days=2))
    c = TestClient(api.client.app, base_url="https://testserver")
    csrf = web_sign_in(c, "officer-two")
    for expected in ("good", "bad"):
        r = c.post(f"/web/overrides/{oid}/approve", data={"csrf": csrf})
        assert r.status_code == 200, r.text
        assert f'class="alert {expected}"' in r.text, (expected, r.text[:500])
    c.cookies.clear()
