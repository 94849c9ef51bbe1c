"""The status service's rules on the fake unit of work (no database): testing policies and their
precedence, the overdue sweep and its reminders, exemptions, the two-officer override, arrivals
(三天两检), rule changes, and who may read and change a status."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hesuan.domain.access import Principal, Role
from hesuan.domain.cadence import ScopeKind
from hesuan.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RuleViolation
from hesuan.domain.status import Colour, decide
from hesuan.services.lab import LabService, ResultInput
from hesuan.services.sampling import SamplingService
from hesuan.services.status import PolicyInput, StatusService
from hesuan.services.status_ports import VenueCheckRow
from tests.fakes import GRIDS, START, World, make_world

ADMIN = Principal("u-admin", "admin", Role.ADMIN)
OFFICER = Principal("u-o1", "officer", Role.HEALTH_OFFICER, "1401")
OFFICER2 = Principal("u-o2", "officer2", Role.HEALTH_OFFICER, "1401")
YINGZE = Principal("u-o3", "yingze", Role.HEALTH_OFFICER, "140106")


@pytest.fixture
def w() -> World:
    return make_world()


@pytest.fixture
def svc(w: World) -> StatusService:
    return StatusService(w.deps)


def now_status(svc: StatusService, pid: str) -> tuple[str, tuple[str, ...]]:
    s = svc.status_of(OFFICER, pid).status
    return s.colour.value, s.reasons


def materialised(w: World, pid: str) -> tuple[str, str]:
    return w.status(pid).colour, w.status(pid).reasons


def sample(w: World, people: list[str], site: str | None = None) -> None:
    """Each person sampled alone (a single tube), at the site (or a checkpoint)."""
    events = [e for p in people for e in w.tube([p], mode=1, site=site)[1]]
    out = SamplingService(w.deps, StatusService(w.deps)).submit(
        Principal("u-s", "sampler", Role.SAMPLER, site or w.site), events)
    assert {o.status for o in out} == {"accepted"}, out


def test_seeded_policies_give_each_person_a_cadence_by_precedence(
        w: World, svc: StatusService) -> None:
    plain, medic = w.person(), w.person(groups="medical")
    elsewhere = w.person(GRIDS[1])
    assert svc.seed_defaults(ADMIN) == 10
    assert svc.seed_defaults(ADMIN) == 0  # once
    assert (w.status(plain).interval, w.status(plain).next_due_at) == (
        timedelta(hours=72), START + timedelta(hours=72))
    assert (w.status(medic).interval, w.status(medic).next_due_at) == (
        timedelta(hours=24), START + timedelta(hours=24))
    choice = svc.explain_policy(OFFICER, medic)
    assert choice.policy is not None and choice.policy.scope == "medical"
    assert "group policy takes precedence" in choice.explanation
    # a grid's own policy beats its district's, but never a group's
    svc.set_policy(OFFICER, PolicyInput(ScopeKind.REGION, GRIDS[0], timedelta(hours=48),
                                        name="grid"))
    assert [w.status(p).interval for p in (plain, medic, elsewhere)] == [
        timedelta(hours=48), timedelta(hours=24), timedelta(hours=72)]
    assert w.status(plain).next_due_at == START + timedelta(hours=48)
    assert w.t.audit[-1].action == "policy.set" and w.t.audit[-1].detail["moved"] == 1


def test_policies_are_versioned_and_checked(w: World, svc: StatusService) -> None:
    p = svc.set_policy(OFFICER, PolicyInput(ScopeKind.REGION, "140105", timedelta(hours=72)))
    again = svc.set_policy(OFFICER, PolicyInput(ScopeKind.REGION, "140105",
                                                timedelta(hours=48), id=p.id))
    assert (again.id, again.version) == (p.id, 2)
    assert [x.version for x in svc.policies(OFFICER)] == [2]
    with pytest.raises(NotFound) as err:
        svc.set_policy(OFFICER, PolicyInput(ScopeKind.REGION, "140199", timedelta(hours=72)))
    assert err.value.code == "unknown_region"
    with pytest.raises(NotFound):
        svc.set_policy(OFFICER, PolicyInput(ScopeKind.REGION, "140105", timedelta(hours=72),
                                            id="no-such-policy"))
    with pytest.raises(InvalidInput) as bad:
        svc.set_policy(OFFICER, PolicyInput(ScopeKind.REGION, "140105", timedelta(minutes=30)))
    assert bad.value.code == "bad_interval"
    # a group's policy is city-wide: an administrator's, not a district officer's
    with pytest.raises(PermissionDenied):
        svc.set_policy(OFFICER, PolicyInput(ScopeKind.GROUP, "courier", timedelta(hours=24)))
    with pytest.raises(PermissionDenied):
        svc.set_policy(YINGZE, PolicyInput(ScopeKind.REGION, "140105", timedelta(hours=24)))


def test_overdue_person_is_reminded_once_turns_yellow_and_back(
        w: World, svc: StatusService) -> None:
    pid = w.person()
    svc.seed_defaults(ADMIN)
    assert now_status(svc, pid) == ("green", ("not_yet_tested",))
    w.clock.advance(timedelta(hours=61))  # due at 72 h, reminded from 60 h
    assert svc.sweep(ADMIN).reminders == 1
    assert svc.sweep(ADMIN).reminders == 0
    (sms,) = w.t.outbox.values()
    assert (sms.person_id, sms.template) == (pid, "reminder")
    w.clock.advance(timedelta(hours=35))  # 96 h: due + grace
    assert materialised(w, pid)[0] == "green"
    swept = svc.sweep(ADMIN)
    assert swept.recomputed >= 1 and swept.reminders == 0
    assert materialised(w, pid) == ("yellow", "overdue")
    assert now_status(svc, pid) == ("yellow", ("overdue",))
    sample(w, [pid])
    assert materialised(w, pid) == ("green", "awaiting_result")
    assert w.status(pid).next_due_at == w.clock.now() + timedelta(hours=72)


def test_an_exemption_holds_off_overdue_until_revoked(w: World, svc: StatusService) -> None:
    pid = w.person()
    svc.seed_defaults(ADMIN)
    w.clock.advance(timedelta(hours=100))
    svc.sweep(ADMIN)
    assert materialised(w, pid) == ("yellow", "overdue")
    eid = svc.exempt(OFFICER, pid, "bedridden", w.clock.now() + timedelta(days=30), "卧床")
    assert materialised(w, pid) == ("green", "exempt")
    read = svc.status_of(OFFICER, pid)
    assert [e.id for e in read.exemptions] == [eid]
    svc.revoke_exemption(OFFICER, eid)
    assert materialised(w, pid) == ("yellow", "overdue")
    with pytest.raises(NotFound):
        svc.revoke_exemption(OFFICER, eid)  # revoked already
    with pytest.raises(InvalidInput) as bad:
        svc.exempt(OFFICER, pid, "bored", w.clock.now() + timedelta(days=1))
    assert bad.value.code == "bad_reason"
    with pytest.raises(InvalidInput) as bad:
        svc.exempt(OFFICER, pid, "away", w.clock.now() - timedelta(days=1))
    assert bad.value.code == "bad_until"


def test_an_override_needs_a_second_officer(w: World, svc: StatusService) -> None:
    pid = w.person()
    expires = w.clock.now() + timedelta(days=3)
    oid = svc.request_override(OFFICER, pid, Colour.RED, "close contact", "传染病防治法", expires)
    assert materialised(w, pid)[0] == "green"  # nothing changes on a request
    assert [o.id for o in svc.pending_overrides(OFFICER2)] == [oid]
    assert svc.pending_overrides(YINGZE) == []  # not of their district
    with pytest.raises(RuleViolation) as same:
        svc.decide_override(OFFICER, oid, approve=True)
    assert same.value.code == "same_officer"
    with pytest.raises(PermissionDenied):
        svc.decide_override(ADMIN, oid, approve=True)  # an administrator is no health officer
    assert w.t.overrides[oid].status == "requested"
    svc.decide_override(OFFICER2, oid, approve=True)
    assert materialised(w, pid) == ("red", "manual_override")
    assert w.status(pid).rule_id == "R-OVERRIDE"
    with pytest.raises(Conflict):
        svc.decide_override(OFFICER2, oid, approve=False)
    # when it expires, the status is the rules' again
    w.clock.set(expires)
    svc.sweep(ADMIN)
    assert materialised(w, pid) == ("green", "not_yet_tested")


def test_a_rejected_override_changes_nothing(w: World, svc: StatusService) -> None:
    pid = w.person()
    oid = svc.request_override(OFFICER, pid, Colour.YELLOW, "contact", "法",
                               w.clock.now() + timedelta(days=1))
    svc.decide_override(OFFICER2, oid, approve=False)
    assert w.t.overrides[oid].status == "rejected"
    assert now_status(svc, pid) == ("green", ("not_yet_tested",))
    with pytest.raises(InvalidInput) as bad:
        svc.request_override(OFFICER, pid, Colour.RED, "x", "y",
                             w.clock.now() + timedelta(days=15))
    assert bad.value.code == "bad_expiry"


def test_an_override_outranks_every_rule_and_keeps_their_reasons(
        w: World, svc: StatusService) -> None:
    pid = w.person()
    row = w.status(pid)
    row.test_state, row.status_valid_until = "positive", w.clock.now()  # a positive result
    svc.sweep(ADMIN)
    assert materialised(w, pid) == ("red", "positive_result")
    oid = svc.request_override(OFFICER, pid, Colour.GREEN, "false positive confirmed", "法",
                               w.clock.now() + timedelta(days=2))
    svc.decide_override(OFFICER2, oid, approve=True)
    assert materialised(w, pid) == ("green", "manual_override,positive_result")


def test_arrivals_test_three_times_in_three_days(w: World, svc: StatusService) -> None:
    high, medium = w.person(), w.person()
    svc.seed_defaults(ADMIN)
    arrived = w.clock.now()
    svc.register_arrival(OFFICER, high, w.checkpoint, "4403", "high", arrived)
    svc.register_arrival(OFFICER, medium, w.checkpoint, "440305", "medium", arrived)
    assert materialised(w, high) == ("popup", "arrival_pending")
    assert materialised(w, medium) == ("yellow", "arrival_pending")
    assert w.status(high).next_due_at == arrived + timedelta(hours=24)  # first test
    w.clock.advance(timedelta(hours=20))
    sample(w, [high, medium], site=w.checkpoint)
    # sampled within 48 h of arrival: the second test is due 72 h after arrival
    assert w.status(high).next_due_at == arrived + timedelta(hours=72)
    assert materialised(w, high) == ("popup", "arrival_pending")  # until a negative result
    tubes = [t.barcode for t in w.t.tubes.values()]
    for t in w.t.tubes.values():
        t.status, t.lab_id = "received", w.lab
    LabService(w.deps, svc).record(Principal("u-l", "lab", Role.LAB, w.lab), w.lab,
                                   [ResultInput(b, "negative") for b in tubes])
    assert materialised(w, high)[0] == materialised(w, medium)[0] == "green"


def test_arrivals_are_registered_only_at_a_checkpoint(w: World, svc: StatusService) -> None:
    pid = w.person()
    with pytest.raises(RuleViolation) as err:
        svc.register_arrival(OFFICER, pid, w.site, "4403", "high", w.clock.now())
    assert err.value.code == "not_a_checkpoint"
    for risk, origin, code in (("extreme", "4403", "bad_risk"),
                               ("low", "44x", "bad_region_code")):
        with pytest.raises(InvalidInput) as bad:
            svc.register_arrival(OFFICER, pid, w.checkpoint, origin, risk, w.clock.now())
        assert bad.value.code == code
    # staff register arrivals at their own checkpoint only
    staff = Principal("u-c", "checkpoint", Role.SAMPLER, w.checkpoint)
    svc.register_arrival(staff, pid, w.checkpoint, "4403", "low", w.clock.now())
    with pytest.raises(PermissionDenied):
        svc.register_arrival(Principal("u-x", "x", Role.SAMPLER, w.site), pid, w.checkpoint,
                             "4403", "low", w.clock.now())
    assert [a.created_by for a in w.t.arrivals.values()] == ["checkpoint"]
    assert materialised(w, pid) == ("green", "not_yet_tested")  # low risk holds nothing


def test_rule_changes_decide_everyone_again(w: World, svc: StatusService) -> None:
    late, fresh = w.person(), w.person()
    svc.seed_defaults(ADMIN)
    w.clock.advance(timedelta(hours=100))
    sample(w, [fresh])
    svc.sweep(ADMIN)
    assert materialised(w, late) == ("yellow", "overdue")
    svc.change_rule(ADMIN, "R-OVERDUE", colour=Colour.POPUP)
    assert materialised(w, late) == ("popup", "overdue")
    svc.change_rule(ADMIN, "R-OVERDUE", enabled=False)  # in the same instant
    assert materialised(w, late) == ("green", "not_yet_tested")
    assert materialised(w, fresh) == ("green", "awaiting_result")
    overdue = next(r for r in svc.list_rules(ADMIN) if r.id == "R-OVERDUE")
    assert (overdue.version, overdue.enabled, overdue.colour) == (3, False, Colour.POPUP)
    with pytest.raises(NotFound):
        svc.change_rule(ADMIN, "R-NOPE", enabled=False)
    with pytest.raises(PermissionDenied):
        svc.change_rule(OFFICER, "R-OVERDUE", enabled=True)


def test_the_sweep_is_the_administrators_and_leaves_venue_checks_to_retention(
        w: World, svc: StatusService) -> None:
    w.t.venue_checks["c0"] = VenueCheckRow("c0", "v1", w.clock.now() - timedelta(days=15),
                                           "green", True, True, True, True, True, True, "u-v")
    svc.sweep(ADMIN)
    assert list(w.t.venue_checks) == ["c0"]  # expiry is the retention pass's
    assert w.t.audit[-1].action == "sweep"
    with pytest.raises(PermissionDenied):
        svc.sweep(OFFICER)


def test_a_status_is_read_only_in_scope(w: World, svc: StatusService) -> None:
    pid = w.person()
    read = svc.status_of(OFFICER, pid)
    assert read.row is not None
    assert (read.status.colour, read.row.colour, read.exemptions, read.overrides) == (
        Colour.GREEN, "green", [], [])
    resident = Principal("u-r", "resident", Role.RESIDENT, pid)
    assert svc.status_of(resident, pid).status.colour is Colour.GREEN
    with pytest.raises(NotFound) as hidden:
        svc.status_of(YINGZE, pid)  # out of scope: as if there were no such person
    assert hidden.value.code == "unknown_person"
    with pytest.raises(PermissionDenied):
        svc.exempt(YINGZE, pid, "away", w.clock.now() + timedelta(days=1))
    with pytest.raises(PermissionDenied):
        svc.exempt(Principal("u-g", "grid", Role.GRID_WORKER, GRIDS[0]), pid, "away",
                   w.clock.now() + timedelta(days=1))
    assert [a.action for a in w.t.audit] == ["status.read", "status.read"]


def test_every_materialised_status_is_the_engines(w: World, svc: StatusService) -> None:
    people = [*w.people(8), w.person(groups="medical"), w.person(GRIDS[2])]
    svc.seed_defaults(ADMIN)
    svc.exempt(OFFICER, people[0], "infant", w.clock.now() + timedelta(days=3))
    svc.register_arrival(OFFICER, people[1], w.checkpoint, "4403", "high", w.clock.now())
    oid = svc.request_override(OFFICER, people[2], Colour.YELLOW, "contact", "法",
                               w.clock.now() + timedelta(days=2))
    svc.decide_override(OFFICER2, oid, approve=True)
    for hours in (30, 50, 30):
        w.clock.advance(timedelta(hours=hours))
        sample(w, people[3:5])
        svc.sweep(ADMIN)
    svc.recompute_all(ADMIN)
    now = w.clock.now()
    seen = set()
    with w.uow() as uow:
        rules = svc.rules(uow)
        for pid in people:
            facts, row = uow.statuses.facts_of(pid), uow.statuses.status_row(pid)
            assert facts is not None and row is not None
            want = decide(facts, now, rules)
            assert (row.colour, tuple(row.reasons.split(",")), row.rule_id,
                    row.status_valid_until) == (want.colour.value, want.reasons, want.rule_id,
                                                want.valid_until), pid
            seen.add(row.colour)
    assert {"green", "yellow", "popup"} <= seen
