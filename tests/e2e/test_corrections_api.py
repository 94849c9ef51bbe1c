"""Corrections, rejected specimens and the lab report through the HTTP API, on SQLite and
PostgreSQL: a box received with a leaked tube rejected, a tube rejected at the bench, a result
posted, its correction requested, refused to its requester, approved by a second lab user (and
approved again: nothing more), the person's history showing both results and the rejection's
reason, and the lab's report with its integrity list."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from hesuan.domain.access import Role
from hesuan.services.auth import SYSTEM
from hesuan.sim.example import DEMO_PASSWORD
from tests.helpers import Api, Station, barcodes, boxes, web_sign_in


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def _error(r: Any, status: int, code: str) -> None:
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


def test_corrections_and_rejections_over_http(api: Api) -> None:
    lab_id = api.city.labs["lab1"]
    api.platform.auth.create_user(SYSTEM, "lab2nd", DEMO_PASSWORD, Role.LAB, lab_id)
    st = Station(api.city.sites["140105"], api.clock)
    people = api.people(limit=3)
    bc = barcodes(700)
    tubes = [next(bc) for _ in people]
    events: list[dict[str, Any]] = []
    for tube, pid in zip(tubes, people, strict=True):
        events += [st.ev("open_tube", barcode=tube, mode=1),
                   st.ev("sample", barcode=tube, code=api.code(pid))]
    box = next(boxes(400))
    events += [st.ev("box_tube", box_code=box, barcode=b) for b in tubes]
    events.append(st.ev("seal_box", box_code=box))
    _ok(api.client.post("/scans/batch", headers=api.h("sampler"), json={"events": events}))
    _ok(api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"), json={
        "event_id": st.ev("x")["event_id"], "at": api.clock.now().isoformat()}))
    api.clock.advance(timedelta(minutes=30))
    receive = {"event_id": st.ev("x")["event_id"], "lab_id": lab_id,
               "at": api.clock.now().isoformat(), "tube_barcodes": tubes}
    r = api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
        **receive, "rejected": [{"barcode": tubes[0], "code": "spilled"}]})
    _error(r, 422, "bad_rejection_code")
    receipt = _ok(api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
        **receive, "rejected": [{"barcode": tubes[0], "code": "leaked"}]}))
    assert receipt["rejected"] == [tubes[0]]
    # at the bench
    rejected = _ok(api.client.post(f"/labs/{lab_id}/rejections", headers=api.h("lab"), json={
        "barcode": tubes[1], "code": "insufficient_volume", "note": "dry swab"}), 201)
    assert (rejected["stage"], rejected["words"]) == (
        "bench", "there was too little sample in the tube")
    _error(api.client.post(f"/labs/{lab_id}/rejections", headers=api.h("lab"), json={
        "barcode": tubes[1], "code": "leaked"}), 409, "tube_rejected")
    listed = _ok(api.client.get(f"/labs/{lab_id}/rejections", headers=api.h("lab")))
    assert sorted((x["barcode"], x["code"]) for x in listed) == sorted(
        [(tubes[0], "leaked"), (tubes[1], "insufficient_volume")])
    history = _ok(api.client.get(f"/people/{people[0]}/history", headers=api.h("officer")))
    assert [(x["reason"], x["detail"]) for x in history["recalls"]] == [
        ("tube_rejected", "leaked")]

    # a result, its correction by two people
    out = _ok(api.client.post(f"/labs/{lab_id}/results", headers=api.h("lab"), json={
        "results": [{"barcode": tubes[2], "result": "negative"}]}))
    assert out["results"][0]["status"] == "accepted"
    api.clock.advance(timedelta(hours=1))
    asked = _ok(api.client.post(f"/labs/{lab_id}/corrections", headers=api.h("lab"), json={
        "barcode": tubes[2], "result": "positive", "reason": "plate swap"}), 201)
    assert (asked["status"], asked["previous"], asked["result"]) == (
        "pending", "negative", "positive")
    _error(api.client.post(f"/corrections/{asked['id']}/approve", headers=api.h("lab")), 409,
           "second_person_required")
    _error(api.client.post(f"/labs/{lab_id}/corrections", headers=api.h("admin"), json={
        "barcode": tubes[2], "result": "positive", "reason": "x"}), 403, "wrong_role")
    done = _ok(api.client.post(f"/corrections/{asked['id']}/approve", headers=api.h("lab2nd")))
    assert done["applied"] and done["request"]["status"] == "applied"
    assert done["people_notified"] == 1
    again = _ok(api.client.post(f"/corrections/{asked['id']}/approve",
                                headers=api.h("lab2nd")))
    assert not again["applied"] and again["people_notified"] == 0
    history = _ok(api.client.get(f"/people/{people[2]}/history", headers=api.h("officer")))
    assert [(x["previous"], x["result"], x["reason"]) for x in history["corrections"]] == [
        ("negative", "positive", "plate swap")]
    assert history["samples"][0]["result"] == "positive"
    # the answer is the service's PersonHistory, field for field, as JSON writes it
    assert history == TypeAdapter(dict[str, Any]).dump_python(
        asdict(api.platform.people.history(SYSTEM, people[2])), mode="json")
    assert [c["status"] for c in _ok(api.client.get(
        f"/labs/{lab_id}/corrections", headers=api.h("lab"), params={"status": "applied"}))] \
        == ["applied"]
    assert _ok(api.client.get(f"/corrections/{asked['id']}", headers=api.h("admin")))["id"] \
        == asked["id"]

    # the lab's report: the direct path's results have no run file
    report = _ok(api.client.get(f"/labs/{lab_id}/report", headers=api.h("officer")))
    assert report["counts"]["rejected"] == {"leaked": 1, "insufficient_volume": 1}
    assert report["counts"]["corrections"]["corrected"] == 1
    assert not report["intact"]
    assert report["integrity"]["results_without_run_file"]["count"] == 1
    _error(api.client.get(f"/labs/{lab_id}/report", headers=api.h("lab"),
                          params={"since": "2022-08-29T00:00:00"}), 422, "naive_time")

    # the person's page says why in plain words (Chinese by default), and shows both results
    client = TestClient(api.client.app, base_url="https://testserver")
    web_sign_in(client, "officer")
    page = client.get(f"/web/people/{people[0]}").text
    assert "实验室无法检测该样本 — 样本管渗漏" in page
    page = client.get(f"/web/people/{people[2]}").text
    assert 'id="corrections"' in page and "plate swap" in page
    client.cookies.set("hs_lang", "en")
    assert "The tube leaked" in client.get(f"/web/people/{people[0]}").text
    assert "Not tested: the lab rejected the sample" in client.get(
        f"/web/people/{people[0]}").text

    # the command centre's data has a panel per lab
    web_sign_in(client, "officer")
    panels = {x["id"]: x for x in client.get("/web/dashboard.json").json()["labs"]}
    assert set(panels) == set(api.city.labs.values())
    lab = panels[lab_id]
    assert (lab["rejected"], lab["corrections"]["corrected"], lab["intact"]) == (2, 1, False)
    assert lab["integrity"]["results_without_run_file"] == 1
