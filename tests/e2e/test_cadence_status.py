"""Cadence and status end to end, on both backends: a person goes overdue, gets one reminder SMS,
turns yellow (未检), is sampled and turns back; policies, exemptions, the two-officer override,
arrivals (三天两检), and rule changes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.cadence import ScopeKind
from hesuan.domain.errors import PermissionDenied, RuleViolation
from hesuan.domain.status import Colour
from hesuan.services.auth import SYSTEM
from hesuan.services.status import PolicyInput
from tests.helpers import Api, Station, barcodes, boxes

OFFICER = Principal("o1", "officer", Role.HEALTH_OFFICER, "1401")
OFFICER2 = Principal("o2", "officer2", Role.HEALTH_OFFICER, "1401")


def _status(api: Api, pid: str) -> tuple[str, tuple[str, ...]]:
    s = api.platform.status.status_of(OFFICER, pid).status
    return s.colour.value, s.reasons


def _materialised(api: Api, pid: str) -> str:
    return str(api.count(f"SELECT colour FROM person_status WHERE person_id = '{pid}'"))


def _sample(api: Api, pids: list[str], start: int) -> None:
    st = Station(api.city.sites["140105"], api.clock)
    ev = []
    for i, p in enumerate(pids):
        ev += st.fill(next(barcodes(start + i)), [api.code(p)], mode=1)
    r = api.client.post("/scans/batch", headers=api.h("sampler"), json={"events": ev})
    assert r.json()["rejected"] == 0, r.json()


def test_overdue_person_gets_one_sms_turns_yellow_and_back(api: Api,
                                                           settings: Settings) -> None:
    pid = api.people(limit=1)[0]
    assert _status(api, pid) == ("green", ("not_yet_tested",))
    # 72 h cadence from the start of the round; reminder 12 h before due (20:00 local: not in
    # the night's quiet hours)
    api.clock.advance(timedelta(hours=60))
    first = api.platform.status.sweep(SYSTEM)
    assert first.reminders > 0
    again = api.platform.status.sweep(SYSTEM)
    assert again.reminders == 0  # idempotent: nothing sent twice
    sent = api.platform.outbox.deliver(SYSTEM, limit=10000)
    assert sent.sent == first.reminders
    lines = [json.loads(x) for x in Path(settings.sms_file).read_text().splitlines()]
    mine = [x for x in lines if x["template"] == "reminder"]
    assert len(mine) == first.reminders
    assert all("到期" in x["text"] or "is due by" in x["text"] for x in mine)
    assert len({x["to"] for x in mine}) == len(mine)
    assert _status(api, pid)[0] == "green"
    # due at 72 h, grace 24 h: yellow from 96 h
    api.clock.advance(timedelta(hours=36))
    swept = api.platform.status.sweep(SYSTEM)
    assert swept.recomputed > 0 and swept.reminders == 0
    assert _materialised(api, pid) == "yellow"
    assert _status(api, pid) == ("yellow", ("overdue",))
    _sample(api, [pid], 7000)
    assert _materialised(api, pid) == "green"
    assert _status(api, pid) == ("green", ("awaiting_result",))
    assert api.platform.outbox.deliver(SYSTEM).sent == 0  # still exactly one SMS each


def test_group_policy_beats_region_policy_and_changes_recompute_in_bulk(api: Api) -> None:
    medic = api.people("groups = 'medical'", 1)[0]
    choice = api.platform.status.explain_policy(OFFICER, medic)
    assert choice.policy is not None and choice.policy.scope == "medical"
    assert "group policy takes precedence" in choice.explanation
    before = api.count(f"SELECT next_due_at FROM person_status WHERE person_id = '{medic}'")
    grid_pid = api.people("grid_code = '140105001001001' AND groups = ''", 1)[0]
    api.platform.status.set_policy(OFFICER, PolicyInput(
        ScopeKind.REGION, "140105001001001", timedelta(hours=24), name="grid daily"))
    assert api.count(
        f"SELECT interval_ms FROM person_status WHERE person_id = '{grid_pid}'") == 86_400_000
    assert api.count(f"SELECT next_due_at FROM person_status WHERE person_id = '{medic}'") \
        == before
    # the audit counts exactly the people who moved: those the grid policy now wins for
    with api.platform.deps.uow(readonly=True) as uow:
        last = uow.audit_log.entries(0, 1_000_000)[-1]
    new_id = api.count("SELECT id FROM policies WHERE scope = '140105001001001'")
    assert last.action == "policy.set"
    assert last.detail["moved"] == api.count(
        f"SELECT count(*) FROM person_status WHERE policy_id = '{new_id}'") > 0
    # a new version of the same policy
    pol = next(p for p in api.platform.status.policies(OFFICER)
               if p.scope == "140105001001001")
    v2 = api.platform.status.set_policy(OFFICER, PolicyInput(
        ScopeKind.REGION, "140105001001001", timedelta(hours=48), id=pol.id))
    assert v2.version == 2
    assert api.count(
        f"SELECT interval_ms FROM person_status WHERE person_id = '{grid_pid}'") == 172_800_000


def test_exempt_person_is_not_overdue(api: Api) -> None:
    pid = api.people(limit=1)[0]
    api.platform.status.exempt(OFFICER, pid, "bedridden", api.clock.now() + timedelta(days=30))
    api.clock.advance(timedelta(hours=100))
    api.platform.status.sweep(SYSTEM)
    assert _status(api, pid) == ("green", ("exempt",))


def test_override_needs_two_different_officers(api: Api) -> None:
    pid = api.people(limit=1)[0]
    until = api.clock.now() + timedelta(days=3)
    oid = api.platform.status.request_override(OFFICER, pid, Colour.RED, "close contact",
                                               "传染病防治法 第39条", until)
    assert _status(api, pid)[0] == "green"  # nothing yet
    with pytest.raises(RuleViolation):
        api.platform.status.decide_override(OFFICER, oid, approve=True)
    sampler = Principal("s", "sampler", Role.SAMPLER, api.city.sites["140105"])
    with pytest.raises(PermissionDenied):
        api.platform.status.decide_override(sampler, oid, approve=True)
    with pytest.raises(PermissionDenied):
        api.platform.status.request_override(sampler, pid, Colour.GREEN, "x", "y", until)
    api.platform.status.decide_override(OFFICER2, oid, approve=True)
    assert _status(api, pid) == ("red", ("manual_override",))
    assert _materialised(api, pid) == "red"
    api.clock.advance(timedelta(days=3, minutes=1))
    api.platform.status.sweep(SYSTEM)
    assert _materialised(api, pid) == "green"


def test_arrival_is_yellow_until_a_negative_test(api: Api) -> None:
    pid = api.people(limit=1)[0]
    landing = Principal("l", "landing", Role.SAMPLER, api.city.sites["first_landing"])
    api.platform.status.register_arrival(landing, pid, api.city.sites["first_landing"],
                                         "4403", "medium", api.clock.now())
    assert _status(api, pid) == ("yellow", ("arrival_pending",))
    due = api.count(f"SELECT next_due_at FROM person_status WHERE person_id = '{pid}'")
    assert due - int(api.clock.now().timestamp() * 1000) == 24 * 3_600_000
    st = Station(api.city.sites["first_landing"], api.clock)
    t = next(barcodes(8000))
    r = api.client.post("/scans/batch", headers=api.h("landing"), json={
        "events": st.fill(t, [api.code(pid)], mode=1)})
    assert r.json()["rejected"] == 0 and r.json()["results"][0]["tube"]["priority"] is True
    # second test due 72 h after arrival
    due2 = api.count(f"SELECT next_due_at FROM person_status WHERE person_id = '{pid}'")
    assert due2 - due == 48 * 3_600_000
    box = next(boxes(8000))
    api.client.post("/scans/batch", headers=api.h("landing"), json={"events": [
        st.ev("box_tube", box_code=box, barcode=t), st.ev("seal_box", box_code=box)]})
    api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
        "event_id": st.ev("x")["event_id"], "lab_id": api.city.labs["lab1"],
        "at": api.clock.now().isoformat(), "tube_barcodes": [t]})
    api.client.post(f"/labs/{api.city.labs['lab1']}/results", headers=api.h("lab"),
                    json={"results": [{"barcode": t, "result": "negative"}]})
    assert _status(api, pid) == ("green", ("up_to_date",))
    assert _materialised(api, pid) == "green"
    # a later test: awaiting its result, the arrival stays cleared (it came back as
    # arrival_pending until that result)
    api.clock.advance(timedelta(hours=2))
    t2 = next(barcodes(8001))
    r = api.client.post("/scans/batch", headers=api.h("landing"), json={
        "events": st.fill(t2, [api.code(pid)], mode=1)})
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text
    assert _status(api, pid) == ("green", ("awaiting_result",))
    assert _materialised(api, pid) == "green"


def test_positive_pool_makes_members_yellow_and_a_rule_change_is_versioned(api: Api) -> None:
    pids = api.people(limit=5)
    st = Station(api.city.sites["140105"], api.clock)
    t = next(barcodes(9000))
    api.client.post("/scans/batch", headers=api.h("sampler"),
                    json={"events": st.fill(t, [api.code(p) for p in pids], mode=5)})
    box = next(boxes(9000))
    api.client.post("/scans/batch", headers=api.h("sampler"), json={"events": [
        st.ev("box_tube", box_code=box, barcode=t), st.ev("seal_box", box_code=box)]})
    api.client.post(f"/boxes/{box}/receive", headers=api.h("lab"), json={
        "event_id": st.ev("x")["event_id"], "lab_id": api.city.labs["lab1"],
        "at": api.clock.now().isoformat(), "counted": 1})
    api.client.post(f"/labs/{api.city.labs['lab1']}/results", headers=api.h("lab"),
                    json={"results": [{"barcode": t, "result": "positive"}]})
    assert all(_materialised(api, p) == "yellow" for p in pids)
    rule = api.platform.status.change_rule(SYSTEM, "R-RECALL", colour=Colour.POPUP)
    assert rule.version == 2
    assert all(_materialised(api, p) == "popup" for p in pids)
    assert api.count("SELECT count(*) FROM audit_log WHERE action = 'rule.change'") == 1


def test_a_pass_states_the_engine_status_and_expires_when_it_would_change(api: Api) -> None:
    from hesuan.domain.passes import PassColour

    pid = api.people(limit=1)[0]
    api.clock.advance(timedelta(hours=97))  # due at 72 h + 24 h grace: overdue
    now = api.clock.now()
    cur = api.platform.status.current(pid)
    assert cur is not None and cur.colour is PassColour.YELLOW and "overdue" in cur.reasons
    assert cur.valid_until == now + timedelta(hours=24)
    fresh = api.people(limit=2)[1]
    api.clock.set(now - timedelta(hours=90))
    ok = api.platform.status.current(fresh)
    assert ok is not None and ok.colour is PassColour.GREEN
    # valid until the due time + grace (72 h + 24 h from the round's start), at most 24 h
    assert ok.valid_until == api.clock.now() + timedelta(hours=24)
