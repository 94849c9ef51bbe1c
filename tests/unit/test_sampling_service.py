"""The sampling service's rules on the fake unit of work (no database): a station batch opens,
fills, seals and boxes tubes; replays are duplicates, a reused id with other content is a
conflict; forged codes, a person in two open tubes, another site's events, a batch too large
and the wrong role are refused; a sample clears 未检 at once."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta

import pytest
from pydantic import TypeAdapter

from hesuan.adapters.crypto import HmacCodeSigner
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import InvalidInput, PermissionDenied
from hesuan.domain.sampling import TubeState
from hesuan.domain.status import Colour
from hesuan.services.context import Limits
from hesuan.services.sampling import (
    BoundPerson,
    EventKind,
    EventOutcome,
    LaneTube,
    SampledPerson,
    SamplingService,
    SealedBox,
    StationEvent,
    TubeView,
)
from hesuan.services.status import StatusService
from tests.fakes import World, make_world
from tests.fakes.station import FakeStation

OFFICER = Principal("u-o1", "officer", Role.HEALTH_OFFICER, "1401")
OFFICER2 = Principal("u-o2", "officer2", Role.HEALTH_OFFICER, "1401")


@pytest.fixture
def w() -> World:
    return make_world()


def sampler(w: World) -> Principal:
    return Principal("u-s", "sampler", Role.SAMPLER, w.site)


def submit(w: World, events: list[StationEvent],
           actor: Principal | None = None) -> list[EventOutcome]:
    svc = SamplingService(w.deps, StatusService(w.deps))
    return svc.submit(actor or sampler(w), events)


def statuses(out: list[EventOutcome]) -> list[str]:
    return [o.status if o.reason is None else f"{o.status}:{o.reason}" for o in out]


def test_a_tube_goes_from_open_to_a_sealed_box(w: World) -> None:
    people = w.people(3)
    barcode, events = w.tube(people, mode=10)
    box = w.box_code()
    events += [w.ev(EventKind.BOX_TUBE, barcode=barcode, box_code=box),
               w.ev(EventKind.SEAL_BOX, box_code=box)]
    out = submit(w, events)
    assert statuses(out) == ["accepted"] * 7
    assert out[1].person == SampledPerson(name="张*", recall=False)
    assert out[-1].tube == SealedBox(box_code=box, tube_count=1)
    (tube,) = w.t.tubes.values()
    (stored_box,) = w.t.boxes.values()
    assert (tube.count, tube.status, tube.box_id) == (3, "boxed", stored_box.id)
    assert (stored_box.status, stored_box.tube_count) == ("sealed", 1)
    assert {p for _, p in w.t.samples} == set(people)
    assert w.t.open_slots == {}  # sealed: nobody is in an open tube any more
    assert len(w.t.station_events) == 7
    for p in people:
        s = w.status(p)
        assert (s.test_state, s.colour, s.reasons, s.last_tube_id) == (
            "sampled", "green", "awaiting_result", tube.id)
    (audit,) = [a for a in w.t.audit if a.action == "station.batch"]
    assert audit.detail == {"accepted": 7, "samples": 3}


def test_a_full_tube_seals_itself_and_frees_its_people(w: World) -> None:
    people = w.people(6)
    barcode, events = w.tube(people[:5], mode=5)
    events.append(w.ev(EventKind.SAMPLE, barcode=barcode, code=w.deps.codes.sign(people[5])))
    out = submit(w, events)
    assert statuses(out) == ["accepted"] * 6 + ["rejected:tube_sealed"]
    assert isinstance(out[5].tube, TubeView) and out[5].tube.status == "sealed"
    assert w.t.open_slots == {}
    assert w.status(people[5]).test_state == "none"


def test_a_replayed_batch_is_duplicate_and_changes_nothing(w: World) -> None:
    people = w.people(2)
    _, events = w.tube(people, mode=5)
    assert statuses(submit(w, events)) == ["accepted"] * 4
    before = (dict(w.t.tubes), dict(w.t.samples), len(w.t.station_events))
    # the same ids again, one of them spelled in upper case
    events[1] = StationEvent(events[1].event_id.upper(), events[1].kind, events[1].site_id,
                             events[1].at, barcode=events[1].barcode, code=events[1].code)
    assert statuses(submit(w, events)) == ["duplicate"] * 4
    assert (dict(w.t.tubes), dict(w.t.samples), len(w.t.station_events)) == before


def test_an_id_sent_again_with_other_content_is_a_conflict_raised_once(w: World) -> None:
    first, second = w.people(2)
    barcode, events = w.tube([first], mode=5, seal=False)
    assert statuses(submit(w, events)) == ["accepted"] * 2
    forged = StationEvent(events[1].event_id, EventKind.SAMPLE, w.site, events[1].at,
                          barcode=barcode, code=w.deps.codes.sign(second))
    for _ in range(2):
        assert statuses(submit(w, [forged])) == ["rejected:event_conflict"]
    (alert,) = w.t.alerts.values()
    assert alert.kind == "event_conflict"
    assert alert.detail["event_id"] == events[1].event_id
    assert first not in str(alert.detail) and second not in str(alert.detail)
    assert w.status(second).test_state == "none"


def test_forged_and_altered_codes_are_rejected_and_the_rest_goes_through(w: World) -> None:
    person, other = w.people(2)
    barcode = w.barcode()
    good = w.deps.codes.sign(person)
    altered = good[:-1] + ("A" if good[-1] != "A" else "B")
    foreign = HmacCodeSigner(b"another key" * 3).sign(other)
    out = submit(w, [w.ev(EventKind.OPEN_TUBE, barcode=barcode, mode=5),
                     w.ev(EventKind.SAMPLE, barcode=barcode, code=altered),
                     w.ev(EventKind.SAMPLE, barcode=barcode, code=foreign),
                     w.ev(EventKind.SAMPLE, barcode=barcode)])
    assert statuses(out) == ["accepted", "rejected:forged_code", "rejected:forged_code",
                             "rejected:missing_code"]
    out = submit(w, [w.ev(EventKind.SAMPLE, barcode=barcode, code=good)])
    assert statuses(out) == ["accepted"]
    (tube,) = w.t.tubes.values()
    assert tube.count == 1 and list(w.t.samples) == [(tube.id, person)]


def test_a_person_is_never_in_two_open_tubes(w: World) -> None:
    (person,) = w.people(1)
    a, events = w.tube([person], mode=5, seal=False)
    b, more = w.tube([person], mode=5, seal=False)
    events += [*more, w.ev(EventKind.SAMPLE, barcode=a, code=w.deps.codes.sign(person))]
    assert statuses(submit(w, events)) == ["accepted", "accepted", "accepted",
                                          "rejected:person_in_open_tube",
                                          "rejected:already_in_tube"]
    # once the first tube is sealed, the person may go into the next, in the same batch
    out = submit(w, [w.ev(EventKind.SEAL_TUBE, barcode=a),
                     w.ev(EventKind.SAMPLE, barcode=b, code=w.deps.codes.sign(person))])
    assert statuses(out) == ["accepted", "accepted"]
    assert w.t.open_slots == {person: w.t.tubes[w.status(person).last_tube_id or ""].id}


def test_events_of_another_site_are_refused(w: World) -> None:
    (person,) = w.people(1)
    admin = Principal("u-a", "admin", Role.ADMIN)
    elsewhere, events = w.tube([], mode=1, seal=False, site=w.checkpoint)
    assert statuses(submit(w, events, admin)) == ["accepted"]
    out = submit(w, [
        w.ev(EventKind.OPEN_TUBE, site=w.checkpoint, barcode=w.barcode(), mode=1),
        w.ev(EventKind.OPEN_TUBE, site="no-such-site", barcode=w.barcode(), mode=1),
        w.ev(EventKind.SAMPLE, barcode=elsewhere, code=w.deps.codes.sign(person))])
    assert statuses(out) == ["rejected:wrong_site", "rejected:unknown_site",
                             "rejected:wrong_site"]
    assert len(w.t.tubes) == 1 and not w.t.samples


def test_a_batch_too_large_is_refused_whole(w: World) -> None:
    w = make_world(limits=Limits(batch_max=3))
    _, events = w.tube(w.people(3), mode=5)
    commits = w.db.commits
    with pytest.raises(InvalidInput) as err:
        submit(w, events)
    assert err.value.code == "batch_too_large"
    assert w.db.commits == commits and not w.t.tubes and not w.t.station_events


@pytest.mark.parametrize("role", [Role.COURIER, Role.LAB, Role.RESIDENT, Role.HEALTH_OFFICER])
def test_only_site_staff_and_admins_record_events(w: World, role: Role) -> None:
    _, events = w.tube(w.people(1), mode=1)
    with pytest.raises(PermissionDenied) as err:
        submit(w, events, Principal("u-x", "x", role, w.site))
    assert err.value.code == "wrong_role"
    assert not w.t.tubes and not w.t.station_events


def test_single_tubes_at_a_first_landing_point_and_for_key_groups(w: World) -> None:
    medic = w.person(groups="medical")
    at_checkpoint = Principal("u-c", "checkpoint", Role.SAMPLER, w.checkpoint)
    out = submit(w, [w.ev(EventKind.OPEN_TUBE, site=w.checkpoint, barcode=w.barcode(), mode=5)],
                 at_checkpoint)
    assert statuses(out) == ["rejected:site_requires_single_tube"]
    _, pooled = w.tube([medic], mode=10, seal=False)
    single, alone = w.tube([medic], mode=1)
    out = submit(w, pooled + alone)
    assert statuses(out) == ["accepted", "rejected:single_tube_required", "accepted",
                             "accepted"]
    tube = next(t for t in w.t.tubes.values() if t.barcode == single)
    assert tube.priority and tube.status == "sealed"


def test_a_sample_decides_each_status_plain_or_special(w: World) -> None:
    """The station write decides the plain person itself; the exempt and the overridden are
    decided by the engine in the same batch."""
    plain, exempt, overridden = w.people(3)
    status = StatusService(w.deps)
    now = w.clock.now()
    status.exempt(OFFICER, exempt, "infant", now + timedelta(days=10))
    oid = status.request_override(OFFICER, overridden, Colour.YELLOW, "close contact",
                                  "传染病防治法 第三十九条", now + timedelta(days=3))
    status.decide_override(OFFICER2, oid, approve=True)
    w.clock.advance(timedelta(minutes=5))
    _, events = w.tube([plain, exempt, overridden], mode=5)
    assert statuses(submit(w, events)) == ["accepted"] * 5
    got = {p: (w.status(p).colour, w.status(p).reasons) for p in (plain, exempt, overridden)}
    assert got == {plain: ("green", "awaiting_result"), exempt: ("green", "exempt"),
                   overridden: ("yellow", "manual_override")}
    assert all(w.status(p).status_at == w.clock.now() for p in got)


def test_event_times_must_fit_the_offline_window_and_the_tube(w: World) -> None:
    (person,) = w.people(1)
    now = w.clock.now()
    barcode = w.barcode()
    out = submit(w, [
        w.ev(EventKind.OPEN_TUBE, barcode=w.barcode(), mode=5, at=now - timedelta(days=2)),
        w.ev(EventKind.OPEN_TUBE, barcode=w.barcode(), mode=5, at=now + timedelta(hours=1)),
        w.ev(EventKind.OPEN_TUBE, barcode=barcode, mode=5),
        w.ev(EventKind.SAMPLE, barcode=barcode, code=w.deps.codes.sign(person),
             at=now - timedelta(minutes=1))])
    assert statuses(out) == ["rejected:stale_time", "rejected:future_time", "accepted",
                             "rejected:before_tube_open"]
    assert w.status(person).test_state == "none"


def test_a_box_takes_only_sealed_tubes_of_its_site_once(w: World) -> None:
    people = w.people(2)
    open_tube, events = w.tube(people[:1], mode=5, seal=False)
    sealed, more = w.tube(people[1:], mode=5)
    box = w.box_code()
    out = submit(w, [*events, *more,
                     w.ev(EventKind.BOX_TUBE, barcode=open_tube, box_code=box),
                     w.ev(EventKind.BOX_TUBE, barcode=sealed, box_code=box),
                     w.ev(EventKind.BOX_TUBE, barcode=sealed, box_code=w.box_code()),
                     w.ev(EventKind.SEAL_BOX, box_code=box),
                     w.ev(EventKind.BOX_TUBE, barcode=sealed, box_code=box)])
    assert statuses(out)[5:] == ["rejected:tube_not_sealed", "accepted",
                                 "rejected:tube_in_box", "accepted", "rejected:box_sealed"]
    (b,) = w.t.boxes.values()
    assert (b.code, b.status, b.tube_count) == (box, "sealed", 1)


def test_a_tube_another_station_opened_meanwhile_is_refused_on_the_retry(
        w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two windows open the same barcode at once: the second to commit retries, finds the
    tube opened, and refuses its own opening cleanly (一管一码)."""
    (person,) = w.people(1)
    barcode = w.barcode()
    read = FakeStation.tubes_by_barcode
    raced: list[bool] = []

    def racing(self: FakeStation, barcodes: Iterable[str],
               for_update: bool) -> dict[str, TubeState]:
        tubes = read(self, barcodes, for_update)
        if not raced:  # the other window commits between this batch's read and its commit
            raced.append(True)
            assert statuses(submit(w, [w.ev(EventKind.OPEN_TUBE, barcode=barcode,
                                            mode=5)])) == ["accepted"]
        return tubes

    monkeypatch.setattr(FakeStation, "tubes_by_barcode", racing)
    out = submit(w, [w.ev(EventKind.OPEN_TUBE, barcode=barcode, mode=10),
                     w.ev(EventKind.SAMPLE, barcode=barcode, code=w.deps.codes.sign(person))])
    assert statuses(out) == ["rejected:barcode_used", "accepted"]
    (tube,) = w.t.tubes.values()
    assert (tube.capacity, tube.count) == (5, 1)


def test_each_answer_keeps_its_json_shape() -> None:
    """Stations read these keys: the typed answers serialise as the answers always have."""
    answer = TypeAdapter(EventOutcome)
    tube = json.loads(answer.dump_json(EventOutcome(
        "e", "accepted", tube=TubeView("0090000000017", 3, 10, "open", True),
        person=SampledPerson("张*", False))))
    assert (tube["tube"], tube["person"]) == (
        {"barcode": "0090000000017", "count": 3, "capacity": 10, "status": "open",
         "priority": True}, {"name": "张*", "recall": False})
    box = json.loads(answer.dump_json(EventOutcome("e", "accepted", tube=SealedBox("B1", 2))))
    assert (box["tube"], box["person"]) == ({"box_code": "B1", "tube_count": 2}, None)
    lane = json.loads(answer.dump_json(EventOutcome(
        "e", "accepted", tube=LaneTube("0090000000017", 4, 5, "open"),
        person=BoundPerson("李*"))))
    assert (lane["tube"], lane["person"]) == (
        {"barcode": "0090000000017", "bound": 4, "capacity": 5, "status": "open"},
        {"name": "李*"})
