"""The whole chain through the HTTP API, on SQLite and PostgreSQL: sample → box → courier →
lab → results fan-out, including a positive pool and its recalls, an invalid tube, a box
discrepancy and a correction."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from hesuan.domain.access import Role
from hesuan.services.auth import SYSTEM
from hesuan.sim.example import DEMO_PASSWORD
from tests.helpers import Api, Station, barcodes, boxes, schema_problems


def _post_batch(api: Api, events: list[dict[str, Any]], user: str = "sampler") -> dict[str, Any]:
    r = api.client.post("/scans/batch", headers=api.h(user), json={"events": events})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _ship(api: Api, st: Station, box: str, tubes: list[str],
          received: list[str] | None = None, receipt_id: str | None = None) -> dict[str, Any]:
    out = _post_batch(api, [st.ev("box_tube", box_code=box, barcode=b) for b in tubes]
                      + [st.ev("seal_box", box_code=box)])
    assert out["rejected"] == 0, out
    api.clock.advance(timedelta(minutes=40))
    r = api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"),
                        json={"event_id": st.ev("x")["event_id"],
                              "at": api.clock.now().isoformat()})
    assert r.status_code == 200, r.text
    api.clock.advance(timedelta(minutes=50))
    r = api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
        "event_id": receipt_id or st.ev("x")["event_id"], "lab_id": api.city.labs["lab1"],
        "at": api.clock.now().isoformat(),
        "tube_barcodes": tubes if received is None else received})
    assert r.status_code == 200, r.text
    receipt: dict[str, Any] = r.json()
    return receipt


def _results(api: Api, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = api.client.post(f"/labs/{api.city.labs['lab1']}/results", headers=api.h("lab"),
                        json={"results": items})
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["results"]
    return out


def _second_lab_user_approves(api: Api, correction_id: str) -> None:
    """The lab's other user approves a correction the direct path asked for (two people)."""
    if "lab2nd" not in api._tokens:
        api.platform.auth.create_user(SYSTEM, "lab2nd", DEMO_PASSWORD, Role.LAB,
                                      api.city.labs["lab1"])
    r = api.client.post(f"/corrections/{correction_id}/approve", headers=api.h("lab2nd"))
    assert r.status_code == 200 and r.json()["applied"], r.text


def _sealed_box(api: Api, serial: int) -> tuple[str, str]:
    """A pooled tube of five sampled, packed and its box sealed at the site, half an hour ago:
    its barcode and the box's code."""
    st = Station(api.city.sites["140105"], api.clock)
    t, box = next(barcodes(serial)), next(boxes(serial))
    _post_batch(api, [*st.fill(t, [api.code(p) for p in api.people(limit=5)], mode=5),
                      st.ev("box_tube", box_code=box, barcode=t),
                      st.ev("seal_box", box_code=box)])
    api.clock.advance(timedelta(minutes=30))
    return t, box


def _person(api: Api, pid: str) -> dict[str, Any]:
    r = api.client.get(f"/people/{pid}", headers=api.h("officer"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_whole_chain_with_positive_pool_invalid_tube_discrepancy_and_correction(
        api: Api) -> None:
    st = Station(api.city.sites["140105"], api.clock)
    people = api.people(limit=40)
    bc = barcodes()
    tubes = [next(bc) for _ in range(4)]
    events: list[dict[str, Any]] = []
    for i, t in enumerate(tubes):
        events += st.fill(t, [api.code(p) for p in people[i * 10:(i + 1) * 10]])
    out = _post_batch(api, events)
    assert out["accepted"] == 44 and out["rejected"] == 0
    assert all(r["tube"]["status"] == "sealed" for r in out["results"][10::11])

    # A replayed batch changes nothing.
    again = _post_batch(api, events)
    assert again["duplicate"] == 44
    assert api.count("SELECT count(*) FROM samples") == 40

    box = next(boxes())
    # the lab finds only three of the four tubes: a discrepancy
    receipt = _ship(api, st, box, tubes, received=tubes[:3])
    assert receipt["missing"] == [tubes[3]] and receipt["discrepancy"] is True

    api.clock.advance(timedelta(hours=2))
    res = _results(api, [
        {"barcode": tubes[0], "result": "negative"},
        {"barcode": tubes[1], "result": "positive", "ct": {"ORF1ab": 31.2, "N": 32.0}},
        {"barcode": tubes[2], "result": "invalid"},
        {"barcode": tubes[3], "result": "negative"},  # never received
    ])
    assert [r["status"] for r in res] == ["accepted", "accepted", "accepted", "rejected"]
    assert res[3]["reason"] == "not_received"

    assert _person(api, people[0])["test_state"] == "negative"
    pos = _person(api, people[10])
    assert pos["test_state"] == "pending_retest" and pos["open_recall_id"]
    assert _person(api, people[20])["test_state"] == "pending_retest"
    assert _person(api, people[30])["test_state"] == "sampled"

    recon = api.client.get("/reports/reconcile", headers=api.h("officer")).json()
    assert recon["recalls_open"]["count"] == 20
    assert recon["box_discrepancies"]["count"] == 1
    assert recon["missing_from_received_boxes"]["items"][0]["barcode"] == tubes[3]
    assert api.count("SELECT count(*) FROM outbox") == 20

    # Same result again: a no-op. A different one without a reason: a conflict.
    again_res = _results(api, [{"barcode": tubes[0], "result": "negative"},
                               {"barcode": tubes[0], "result": "positive"}])
    assert again_res[0]["status"] == "duplicate"
    assert again_res[1]["reason"] == "result_conflict"

    # Recall: the pool's members are re-sampled in single tubes; one is positive.
    api.clock.advance(timedelta(hours=1))
    pooled = _post_batch(api, st.fill(next(bc), [api.code(people[10])]))
    assert pooled["results"][1]["reason"] == "recall_requires_single_tube"
    singles = [next(bc) for _ in range(10)]
    ev: list[dict[str, Any]] = []
    for t, p in zip(singles, people[10:20], strict=True):
        ev += st.fill(t, [api.code(p)], mode=1)
    out = _post_batch(api, ev)
    assert out["rejected"] == 0
    assert all(r["person"]["recall"] for r in out["results"][1::2])
    _ship(api, st, next(boxes(100)), singles)
    _results(api, [{"barcode": t, "result": "positive" if i == 3 else "negative"}
                   for i, t in enumerate(singles)])
    assert _person(api, people[13])["test_state"] == "positive"
    assert _person(api, people[14])["test_state"] == "negative"
    assert _person(api, people[14])["open_recall_id"] is None
    assert api.count("SELECT investigation FROM tubes WHERE barcode = "
                     f"'{tubes[1]}'") == "closed"

    # A correction with a reason asks for the invalid tube to be negative; a second lab user
    # approves it: then its recalls are cancelled.
    corr = _results(api, [{"barcode": tubes[2], "result": "negative",
                           "correction_reason": "re-run of the plate: valid internal control"}])
    assert corr[0]["status"] == "correction_requested"
    assert _person(api, people[20])["test_state"] != "negative"
    _second_lab_user_approves(api, corr[0]["correction_id"])
    assert _person(api, people[20])["test_state"] == "negative"
    assert api.count("SELECT count(*) FROM recalls WHERE status = 'cancelled'") == 10
    assert api.count("SELECT count(*) FROM result_log WHERE reason IS NOT NULL") == 1

    # Notifications go out through the outbox; the tube's notified stage is then recorded
    # (those no longer true are closed unsent: the pool's recalls of people re-sampled since,
    # the invalid tube's asks its correction superseded)
    sent = api.platform.outbox.deliver(SYSTEM)
    assert (sent.sent, sent.closed, sent.failed) == (
        api.count("SELECT count(*) FROM outbox") - 20, 20, 0)
    turn = api.client.get("/reports/turnaround", headers=api.h("officer")).json()
    assert turn["since_first_sample"]["received"]["n"] == 13
    assert turn["since_first_sample"]["notified"]["n"] >= 12
    # the API's reports are the documents the CLI prints: the same schemas, times with Z
    assert not schema_problems("turnaround", turn), schema_problems("turnaround", turn)
    for live in ("true", "false"):
        cov = api.client.get(f"/rosters/coverage?level=district&live={live}",
                             headers=api.h("officer")).json()
        assert not schema_problems("coverage", cov), schema_problems("coverage", cov)
        assert cov["source"] == "live" and cov["as_of"].endswith("Z"), cov
        assert cov["total"]["sampled"] >= 10 and cov["streets"] == [], cov

    # One result per tube per batch: a correction of a result sent in the same batch, or two
    # corrections of one tube, are refused (the first stands), nothing half-written.
    fresh = next(bc)
    _post_batch(api, st.fill(fresh, [api.code(p) for p in people[30:40]]))
    _ship(api, st, next(boxes(200)), [fresh])
    twice = _results(api, [
        {"barcode": fresh, "result": "negative"},
        {"barcode": fresh, "result": "invalid", "correction_reason": "plate re-run"},
        {"barcode": tubes[0], "result": "invalid", "correction_reason": "plate re-run"},
        {"barcode": tubes[0], "result": "positive", "correction_reason": "plate re-run"},
    ])
    assert [(r["status"], r.get("reason")) for r in twice] == [
        ("accepted", None), ("rejected", "twice_in_batch"), ("correction_requested", None),
        ("rejected", "twice_in_batch")]
    _second_lab_user_approves(api, twice[2]["correction_id"])
    assert _person(api, people[30])["test_state"] == "negative"
    assert api.count(f"SELECT result FROM tubes WHERE barcode = '{fresh}'") == "negative"
    assert api.count(f"SELECT result FROM tubes WHERE barcode = '{tubes[0]}'") == "invalid"

    audit = api.client.get("/audit/verify", headers=api.h("admin")).json()
    assert audit["intact"] is True and audit["entries"] > 10


def test_pool_whose_members_all_retest_negative_is_flagged_for_review(api: Api) -> None:
    st = Station(api.city.sites["140105"], api.clock)
    people = api.people(limit=5)
    bc = barcodes(500)
    pool = next(bc)
    _post_batch(api, st.fill(pool, [api.code(p) for p in people], mode=5))
    _ship(api, st, next(boxes(500)), [pool])
    _results(api, [{"barcode": pool, "result": "positive"}])
    singles = [next(bc) for _ in people]
    ev: list[dict[str, Any]] = []
    for t, p in zip(singles, people, strict=True):
        ev += st.fill(t, [api.code(p)], mode=1)
    _post_batch(api, ev)
    _ship(api, st, next(boxes(600)), singles)
    _results(api, [{"barcode": t, "result": "negative"} for t in singles])
    recon = api.client.get("/reports/reconcile", headers=api.h("officer")).json()
    assert recon["pools_for_review"]["items"][0]["barcode"] == pool
    assert recon["recalls_open"]["count"] == 0


def test_late_box_and_late_result_raise_one_alert_each(api: Api) -> None:
    st = Station(api.city.sites["140105"], api.clock)
    people = api.people(limit=10)
    t = next(barcodes(900))
    _post_batch(api, st.fill(t, [api.code(p) for p in people]))
    box = next(boxes(900))
    _post_batch(api, [st.ev("box_tube", box_code=box, barcode=t),
                      st.ev("seal_box", box_code=box)])
    api.clock.advance(timedelta(hours=5))
    r = api.client.post("/alerts/check", headers=api.h("officer"))
    assert r.json()["raised"] == 1
    assert api.client.post("/alerts/check", headers=api.h("officer")).json()["raised"] == 0
    kinds = [a["kind"] for a in api.client.get("/alerts", headers=api.h("officer")).json()]
    assert kinds == ["late_box"]
    api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
        "event_id": st.ev("x")["event_id"], "lab_id": api.city.labs["lab1"],
        "at": api.clock.now().isoformat(), "counted": 1})
    api.clock.advance(timedelta(hours=7))
    assert api.client.post("/alerts/check", headers=api.h("officer")).json()["raised"] == 1
    late = api.client.get("/reports/reconcile", headers=api.h("officer")).json()
    assert late["late_results"]["count"] == 1 and late["late_boxes"]["count"] == 1


def test_two_positive_pools_before_the_re_test_each_get_their_answer(api: Api) -> None:
    # A person sampled in a second pool before the first one's positive result is recalled by
    # both. The re-test taken for the first recall answers that one; the second stays open
    # (it was cleared from the person by the first answer, and never resolved: found by the
    # 5.4 M simulated round), and the next single re-test answers it.
    st = Station(api.city.sites["140105"], api.clock)
    people = api.people(limit=9)
    someone, others = people[0], people[1:]
    bc = barcodes(700)
    pool_a, pool_b = next(bc), next(bc)
    bx = boxes(700)
    _post_batch(api, st.fill(pool_a, [api.code(p) for p in [someone, *others[:4]]], mode=5))
    _ship(api, st, next(bx), [pool_a])
    api.clock.advance(timedelta(hours=1))
    _post_batch(api, st.fill(pool_b, [api.code(p) for p in [someone, *others[4:8]]], mode=5))
    _ship(api, st, next(bx), [pool_b])
    _results(api, [{"barcode": pool_a, "result": "positive"}])
    first = _person(api, someone)["open_recall_id"]
    assert first is not None
    retest_a = next(bc)
    out = _post_batch(api, st.fill(retest_a, [api.code(someone)], mode=1))  # answers recall A
    assert out["rejected"] == 0, out
    _results(api, [{"barcode": pool_b, "result": "positive"}])
    second = _person(api, someone)["open_recall_id"]
    assert second is not None and second != first
    _ship(api, st, next(bx), [retest_a])
    _results(api, [{"barcode": retest_a, "result": "positive"}])
    assert _person(api, someone)["open_recall_id"] == second  # still to answer
    retest_b = next(bc)
    out = _post_batch(api, st.fill(retest_b, [api.code(someone)], mode=1))
    assert out["rejected"] == 0, out
    _ship(api, st, next(bx), [retest_b])
    _results(api, [{"barcode": retest_b, "result": "positive"}])
    assert _person(api, someone)["open_recall_id"] is None
    open_for_them = api.count(
        f"SELECT count(*) FROM recalls WHERE person_id = '{someone}' AND status = 'open'")
    assert open_for_them == 0


def test_a_person_and_the_sites_answer_their_fields_in_order(api: Api) -> None:
    st = Station(api.city.sites["140105"], api.clock)
    someone = api.people(limit=1)[0]
    bc = barcodes(900)
    tube = next(bc)
    _post_batch(api, st.fill(tube, [api.code(someone)], mode=1))
    _ship(api, st, next(boxes(900)), [tube])
    _results(api, [{"barcode": tube, "result": "negative"}])
    person = _person(api, someone)
    assert list(person) == [
        "id", "id_kind", "id_number", "name", "phone", "grid_code", "groups", "language",
        "address", "test_state", "last_sampled_at", "last_result", "last_result_at",
        "open_recall_id", "masked"]
    assert person["masked"] is True and "*" in person["name"]
    assert person["last_sampled_at"].endswith("Z") and person["last_result_at"].endswith("Z")
    assert isinstance(person["groups"], list) and person["last_result"] == "negative"
    r = api.client.get(f"/people/{someone}", headers=api.h("officer"), params={"unmask": True})
    assert r.status_code == 200 and r.json()["masked"] is False, r.text
    r = api.client.get("/sites", headers=api.h("officer"))
    assert r.status_code == 200, r.text
    site = r.json()[0]
    assert list(site) == ["id", "name", "kind", "region_code", "lat", "lng", "opening_hours",
                          "windows", "status"]
    assert isinstance(site["windows"], int)


def test_a_box_hand_over_and_receipt_have_one_id_and_their_times_checked(api: Api) -> None:
    """A hand-over's or receipt's id is a UUID, one value whatever its spelling (``hello`` was
    taken; the resent upper-case id was 409 ``box_not_ready``), and its time follows the box's
    (a hand-over stamped before the sealing, a receipt 400 days ahead, were taken: the
    turnaround report showed -60 and +576,000 minutes)."""
    t, box = _sealed_box(api, 910)
    now = api.clock.now()

    def hand_over(event_id: str, at: Any) -> Any:
        return api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"),
                               json={"event_id": event_id, "at": at.isoformat()})

    def receive(event_id: str, at: Any) -> Any:
        return api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
            "event_id": event_id, "lab_id": api.city.labs["lab1"], "at": at.isoformat(),
            "tube_barcodes": [t]})

    def error(r: Any) -> tuple[int, str, str]:
        e = r.json()["error"]
        return r.status_code, e["code"], e["field"]

    assert error(hand_over("hello", now)) == (422, "bad_event_id", "event_id")
    assert error(hand_over(str(uuid.uuid4()), now - timedelta(hours=1))) == (
        409, "before_box_sealed", "at")
    eid = str(uuid.uuid4())
    assert hand_over(eid, now).json()["duplicate"] is False
    again = hand_over(eid.upper(), now)
    assert again.status_code == 200 and again.json()["duplicate"] is True, again.text
    assert error(receive(str(uuid.uuid4()), now + timedelta(days=400))) == (
        422, "future_time", "at")
    assert error(receive(str(uuid.uuid4()), now - timedelta(minutes=5))) == (
        409, "before_handover", "at")
    rid = str(uuid.uuid4())
    assert receive(rid, now).json()["duplicate"] is False
    again = receive("{" + rid.upper() + "}", now)
    assert again.status_code == 200 and again.json()["duplicate"] is True, again.text


def test_a_delivery_id_used_again_for_another_box_is_a_conflict(api: Api) -> None:
    """The courier page kept a form's id after a lost answer, and the next box scanned into it
    was told 'already collected' (the lab: 'already received', with 0 tubes) while nothing was
    written: the box stayed at its site. A second box under a kept id is refused."""
    st = Station(api.city.sites["140105"], api.clock)
    made = []
    for t, box, first in zip(barcodes(920), boxes(920), (0, 5), strict=False):
        _post_batch(api, [*st.fill(t, [api.code(p) for p in api.people(limit=10)[first:first + 5]],
                                   mode=5),
                          st.ev("box_tube", box_code=box, barcode=t),
                          st.ev("seal_box", box_code=box)])
        made.append((t, box))
    api.clock.advance(timedelta(minutes=30))
    at = api.clock.now().isoformat()
    (ta, a), (tb, b) = made
    eid = str(uuid.uuid4())
    assert api.client.post(f"/boxes/{a}/handover", headers=api.h("courier"),
                           json={"event_id": eid, "at": at}).json()["duplicate"] is False
    r = api.client.post(f"/boxes/{b}/handover", headers=api.h("courier"),
                        json={"event_id": eid, "at": at})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "event_conflict"), r.text
    assert api.count(f"SELECT status FROM boxes WHERE code = '{b}'") == "sealed"
    # a role that may not hand boxes over is refused, not told 'duplicate'
    r = api.client.post(f"/boxes/{a}/handover", headers=api.h("lab"),
                        json={"event_id": eid, "at": at})
    assert r.status_code == 403, r.text
    rid = str(uuid.uuid4())
    lab = api.city.labs["lab1"]
    assert api.client.post(f"/boxes/{a}/receive", headers=api.h("lab"), json={
        "event_id": rid, "lab_id": lab, "at": at, "tube_barcodes": [ta]}).status_code == 200
    r = api.client.post(f"/boxes/{b}/receive", headers=api.h("lab"), json={
        "event_id": rid, "lab_id": lab, "at": at, "tube_barcodes": [tb]})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "event_conflict"), r.text
    # received already: the lab is told by whom and when, as the courier is
    r = api.client.post(f"/boxes/{a}/receive", headers=api.h("lab"), json={
        "event_id": str(uuid.uuid4()), "lab_id": lab, "at": at, "tube_barcodes": [ta]})
    assert r.status_code == 409 and "already received by" in r.json()["error"]["message"]


def test_two_couriers_collecting_one_box_at_once_collect_it_once(api: Api) -> None:
    """On PostgreSQL two couriers' hand-overs of one box both succeeded (two hand-over events,
    the last courier standing as its holder), and two labs' receipts too. The box is read for
    update: the second finds it collected."""
    from hesuan.adapters.db.boxes_store import SqlBoxes
    from hesuan.domain.access import Principal
    from hesuan.domain.errors import HesuanError
    from tests.helpers import at_once, slowed

    _, box = _sealed_box(api, 930)
    answers: dict[str, str] = {}

    def collect(name: str) -> None:
        courier = Principal(f"u-{name}", name, Role.COURIER)
        try:
            api.platform.delivery.hand_over(courier, str(uuid.uuid4()), box, api.clock.now())
            answers[name] = "collected"
        except HesuanError as exc:
            answers[name] = exc.code

    with slowed(SqlBoxes, "box_by_code"):
        at_once(lambda: collect("first"), lambda: collect("second"))
    assert answers == {"first": "collected", "second": "box_not_ready"}, answers
    assert api.count("SELECT count(*) FROM station_events WHERE kind = 'handover'") == 1


def test_a_courier_confirms_the_boxs_count_at_the_hand_over(api: Api) -> None:
    """Counts are reconciled at each hand-over (F7): the courier may give the tubes the box's
    label says (``counted``); another count than the box's record is refused, nothing written,
    so the box is put right at its site before it leaves (the hand-over took no count)."""
    st = Station(api.city.sites["140105"], api.clock)
    bc = barcodes(920)
    tubes = [next(bc), next(bc)]
    people = api.people(limit=10)
    box = next(boxes(920))
    for i, t in enumerate(tubes):
        _post_batch(api, st.fill(t, [api.code(p) for p in people[5 * i:5 * i + 5]], mode=5))
    _post_batch(api, [*(st.ev("box_tube", box_code=box, barcode=t) for t in tubes),
                      st.ev("seal_box", box_code=box)])

    def hand_over(counted: int) -> Any:
        return api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"), json={
            "event_id": str(uuid.uuid4()), "at": api.clock.now().isoformat(),
            "counted": counted})

    r = hand_over(1)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert (err["code"], err["field"]) == ("count_mismatch", "counted")
    assert "2" in err["message"], err
    assert hand_over(2).json() == {"box_code": box, "duplicate": False}


def test_a_withdrawn_positive_is_said_as_withdrawn_not_a_pool_to_re_test(api: Api) -> None:
    """A single tube's positive result the lab cancelled went on telling its person 'Pooled
    test needs a re-test' (the withdrawn positive still named as what opened the recall)."""
    st = Station(api.city.sites["140105"], api.clock)
    me = api.city.users["resident"][1]
    assert me is not None
    t, box = next(barcodes(940)), next(boxes(940))
    _post_batch(api, st.fill(t, [api.code(me)], mode=1))
    _ship(api, st, box, [t])
    (out,) = _results(api, [{"barcode": t, "result": "positive"}])
    assert out["status"] == "accepted", out
    lab_id = api.city.labs["lab1"]
    asked = api.client.post(f"/labs/{lab_id}/corrections", headers=api.h("lab"), json={
        "barcode": t, "kind": "cancellation", "reason": "specimen mix-up at the bench"})
    assert asked.status_code == 201, asked.text
    _second_lab_user_approves(api, asked.json()["id"])
    told = api.client.get("/me/status?lang=en", headers=api.h("resident")).json()
    assert told["reasons"][0]["code"] == "pending_retest", told
    assert told["reasons"][0]["text"] == ("The result was withdrawn: a new sample is "
                                          "needed"), told
    assert not any("single-tube re-test" in s for s in told["next_steps"]), told


def test_a_box_refused_for_its_count_is_put_right_at_its_site(api: Api) -> None:
    """A box whose record holds a tube scanned into it but left on the table (the courier
    counts two, the record says three) was refused at the hand-over (``count_mismatch``) and
    could never leave: a sealed box could not be opened again. The site reopens it (``POST
    /boxes/{code}/reopen``), takes that tube out of the record, packs another, seals it again;
    the courier then takes it."""
    st = Station(api.city.sites["140105"], api.clock)
    bc = barcodes(940)
    tubes = [next(bc) for _ in range(4)]
    people = api.people(limit=20)
    box = next(boxes(940))
    for i, t in enumerate(tubes):
        _post_batch(api, st.fill(t, [api.code(p) for p in people[5 * i:5 * i + 5]], mode=5))
    packed, left_out, wrong = tubes[:2], tubes[2], tubes[3]
    _post_batch(api, [*(st.ev("box_tube", box_code=box, barcode=t) for t in [*packed, wrong]),
                      st.ev("seal_box", box_code=box)])
    api.clock.advance(timedelta(minutes=10))

    def hand_over(counted: int) -> Any:
        return api.client.post(f"/boxes/{box}/handover", headers=api.h("courier"), json={
            "event_id": str(uuid.uuid4()), "at": api.clock.now().isoformat(),
            "counted": counted})

    def reopen(user: str = "sampler", **body: Any) -> Any:
        return api.client.post(f"/boxes/{box}/reopen", headers=api.h(user), json={
            "event_id": str(uuid.uuid4()), "at": api.clock.now().isoformat(), **body})

    assert hand_over(2).json()["error"]["code"] == "count_mismatch"
    assert reopen("courier").status_code == 403
    r = reopen(take_out=[next(barcodes(1))])
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_in_box", r.text
    again = {"event_id": str(uuid.uuid4()), "at": api.clock.now().isoformat(),
             "take_out": [wrong]}
    r = api.client.post(f"/boxes/{box}/reopen", headers=api.h("sampler"), json=again)
    assert r.json() == {"box_code": box, "tubes": 2, "taken_out": [wrong],
                        "duplicate": False}, r.text
    r = api.client.post(f"/boxes/{box}/reopen", headers=api.h("sampler"), json=again)
    assert r.json()["duplicate"] is True, r.text
    r = reopen()
    assert r.json()["error"]["code"] == "box_not_ready", r.text
    assert "not sealed yet" in r.json()["error"]["message"], r.text
    out = _post_batch(api, [st.ev("box_tube", box_code=box, barcode=left_out),
                            st.ev("seal_box", box_code=box)])
    assert out["rejected"] == 0, out
    assert hand_over(3).json() == {"box_code": box, "duplicate": False}
    assert reopen().json()["error"]["code"] == "box_not_ready"
    # the tube taken out is sealed and waits for a box again
    other = next(boxes(941))
    out = _post_batch(api, [st.ev("box_tube", box_code=other, barcode=wrong),
                            st.ev("seal_box", box_code=other)])
    assert out["rejected"] == 0, out


def test_a_recall_after_a_cancelled_pool_names_the_cancellation_as_what_it_followed(
        api: Api) -> None:
    """A pool's positive result the lab cancelled: the recall of its members said in its
    evidence that it followed a positive (``after`` was the person's last result, the
    withdrawn one), whatever the words said; it names the cancellation, read live and as
    stored."""
    st = Station(api.city.sites["140105"], api.clock)
    me = api.city.users["resident"][1]
    assert me is not None
    others = [p for p in api.people(limit=10) if p != me][:4]
    t, box = next(barcodes(950)), next(boxes(950))
    _post_batch(api, st.fill(t, [api.code(p) for p in (me, *others)], mode=5))
    _ship(api, st, box, [t])
    (out,) = _results(api, [{"barcode": t, "result": "positive"}])
    assert out["status"] == "accepted", out
    pooled = api.client.get("/me/status?lang=en", headers=api.h("resident")).json()
    assert pooled["evidence"]["recall"]["after"] == "positive", pooled
    asked = api.client.post(f"/labs/{api.city.labs['lab1']}/corrections", headers=api.h("lab"),
                            json={"barcode": t, "kind": "cancellation",
                                  "reason": "plate swapped at the bench"})
    assert asked.status_code == 201, asked.text
    _second_lab_user_approves(api, asked.json()["id"])
    told = api.client.get("/me/status?lang=en", headers=api.h("resident")).json()
    assert told["reasons"][0]["code"] == "pending_retest", told
    assert told["evidence"]["recall"]["after"] == "cancelled", told
    other = api.client.get(f"/people/{others[0]}/status?lang=en",
                           headers=api.h("officer")).json()
    assert other["evidence"]["recall"]["after"] == "cancelled", other
    stored = api.count(f"SELECT evidence FROM person_status WHERE person_id = '{me}'")
    stored = stored if isinstance(stored, dict) else json.loads(stored)
    assert stored["recall"]["after"] == "cancelled", stored


def test_a_tube_in_the_wrong_box_is_received_and_a_missing_one_declared(api: Api) -> None:
    """A tube packed into one box's record but put into another could never be received,
    tested or rejected (an ``extra`` of the box it came in, its own box's ``missing``), and a
    tube missing from its box left its people waiting for a result that could not come. The
    lab now receives a platform's tube found in another box as its own, and declares a tube
    missing from its box at the receipt (rejected ``missing``): its people are recalled."""
    st = Station(api.city.sites["140105"], api.clock)
    bc = barcodes(960)
    a_tubes, b_tubes, loose = [next(bc), next(bc)], [next(bc)], next(bc)
    people = api.people(limit=20)
    for i, t in enumerate([*a_tubes, *b_tubes, loose]):
        _post_batch(api, st.fill(t, [api.code(p) for p in people[5 * i:5 * i + 5]], mode=5))
    strayed = a_tubes[1]  # in box a's record, put into box b
    a, b = next(boxes(960)), next(boxes(961))
    out = _post_batch(api, [*(st.ev("box_tube", box_code=a, barcode=t) for t in a_tubes),
                            st.ev("seal_box", box_code=a)])
    assert out["rejected"] == 0, out
    # box b also holds a sealed tube packed into no box's record
    receipt_id = str(uuid.uuid4())
    receipt = _ship(api, st, b, b_tubes, received=[*b_tubes, strayed, loose],
                    receipt_id=receipt_id)
    assert receipt["extra"] == receipt["received_extra"] == sorted([strayed, loose]), receipt
    again = api.client.post(f"/boxes/{b}/receive", headers=api.h("lab"), json={
        "event_id": receipt_id, "lab_id": api.city.labs["lab1"],
        "at": api.clock.now().isoformat(), "tube_barcodes": [*b_tubes, strayed, loose]}).json()
    assert again == receipt | {"duplicate": True}, again  # a replay answers the same
    # a received tube is never packed again
    out = _post_batch(api, [st.ev("box_tube", box_code=next(boxes(963)), barcode=loose)])
    assert out["results"][0]["reason"] == "tube_received", out
    # its own box comes later: missing from it, but not lost (received where it was)
    r = api.client.post(f"/boxes/{a}/receive", headers=api.h("lab"), json={
        "event_id": str(uuid.uuid4()), "lab_id": api.city.labs["lab1"],
        "at": api.clock.now().isoformat(), "tube_barcodes": [a_tubes[0]],
        "rejected": [{"barcode": strayed, "code": "missing"}]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_missing", r.text
    assert "received" in r.json()["error"]["message"], r.text
    r = api.client.post(f"/boxes/{a}/receive", headers=api.h("lab"), json={
        "event_id": str(uuid.uuid4()), "lab_id": api.city.labs["lab1"],
        "at": api.clock.now().isoformat(), "tube_barcodes": [a_tubes[0]]})
    assert r.json()["missing"] == [strayed], r.text
    assert api.count(f"SELECT status FROM tubes WHERE barcode = '{strayed}'") == "received"
    assert _results(api, [{"barcode": strayed, "result": "negative"}])[0]["status"] == \
        "accepted"

    # a tube missing from its box, declared so at the receipt
    c_tubes = [next(bc), next(bc)]
    people = api.people(limit=30)[20:]
    for i, t in enumerate(c_tubes):
        _post_batch(api, st.fill(t, [api.code(p) for p in people[5 * i:5 * i + 5]], mode=5))
    c = next(boxes(962))
    out = _post_batch(api, [*(st.ev("box_tube", box_code=c, barcode=t) for t in c_tubes),
                            st.ev("seal_box", box_code=c)])
    assert out["rejected"] == 0, out

    def receive(rejected: list[dict[str, str]]) -> Any:
        return api.client.post(f"/boxes/{c}/receive", headers=api.h("lab"), json={
            "event_id": str(uuid.uuid4()), "lab_id": api.city.labs["lab1"],
            "at": api.clock.now().isoformat(), "tube_barcodes": [c_tubes[0]],
            "rejected": rejected})

    def received_by_the_lab() -> int:
        report = api.client.get(f"/labs/{api.city.labs['lab1']}/report",
                                headers=api.h("officer"))
        assert report.status_code == 200, report.text
        return int(report.json()["counts"]["received"])

    r = receive([{"barcode": c_tubes[0], "code": "missing"}])
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_missing", r.text
    before = received_by_the_lab()
    r = receive([{"barcode": c_tubes[1], "code": "missing"}])
    assert r.status_code == 200, r.text
    assert (r.json()["missing"], r.json()["rejected"]) == ([c_tubes[1]], [c_tubes[1]])
    assert api.count(f"SELECT status FROM tubes WHERE barcode = '{c_tubes[1]}'") == "rejected"
    # the lab answers for the tube it did not find, and never received it: its own report
    # counts the one tube it found, the tube's record has no receipt time
    assert received_by_the_lab() == before + 1
    assert api.count(f"SELECT count(*) FROM tubes WHERE barcode = '{c_tubes[1]}' AND "
                     f"received_at IS NULL AND lab_id = '{api.city.labs['lab1']}'") == 1
    declared = _person(api, people[5])
    assert declared["test_state"] == "pending_retest" and declared["open_recall_id"], declared
