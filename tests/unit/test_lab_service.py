"""The lab service's rules on the fake unit of work (no database): results reach every member
of every tube; a positive pool recalls its members and queues their SMS, an invalid tube
recalls its members, a re-sample resolves its recall and the pool's investigation closes;
corrections, unknown and unreceived tubes, and who may post results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import NotFound, PermissionDenied
from hesuan.domain.local_time import short
from hesuan.domain.results import Result
from hesuan.services.lab import FanOutCounts, LabService, ResultInput, ResultOutcome
from hesuan.services.ports import UnitOfWork, WriteRace
from hesuan.services.sampling import SamplingService
from hesuan.services.sampling_ports import TubeResult
from hesuan.services.status import StatusService
from hesuan.services.status_ports import IssuedPass
from tests.fakes import World, make_world
from tests.fakes.database import PassRecord

OFFICER = Principal("u-o1", "officer", Role.HEALTH_OFFICER, "1401")


@pytest.fixture
def w() -> World:
    return make_world()


def lab_user(w: World) -> Principal:
    return Principal("u-lab", "lab", Role.LAB, w.lab)


def sample(w: World, *tubes: list[str], mode: int = 5) -> list[str]:
    """Each list of people sampled into a tube of ``mode`` and sealed; the barcodes."""
    svc = SamplingService(w.deps, StatusService(w.deps))
    barcodes, events = [], []
    for people in tubes:
        b, ev = w.tube(people, mode)
        barcodes.append(b)
        events += ev
    out = svc.submit(Principal("u-s", "sampler", Role.SAMPLER, w.site), events)
    assert {o.status for o in out} == {"accepted"}, out
    return barcodes


def receive(w: World, barcodes: list[str], lab: str | None = None) -> None:
    """The tubes as the lab's receipt of their box leaves them."""
    for t in w.t.tubes.values():
        if t.barcode in barcodes:
            t.status, t.lab_id, t.received_at = "received", lab or w.lab, w.clock.now()


def record(w: World, *items: ResultInput, actor: Principal | None = None,
           lab: str | None = None) -> list[str]:
    svc = LabService(w.deps, StatusService(w.deps))
    out: list[ResultOutcome] = svc.record(actor or lab_user(w), lab or w.lab, list(items))
    return [o.status if o.reason is None else f"{o.status}:{o.reason}" for o in out]


def correct(w: World, barcode: str, result: str, reason: str) -> None:
    """The tube's released result corrected as a second lab user's approval applies it
    (``CorrectionService.approve``: the fan-out, with the result it corrects); the direct path
    only asks for it (tests/integration/test_corrections.py)."""
    svc = LabService(w.deps, StatusService(w.deps))
    t = next(t for t in w.t.tubes.values() if t.barcode == barcode)
    assert t.result is not None
    with w.deps.uow() as uow:
        svc.fan_out(uow, w.lab, [TubeResult(t.id, Result(result), None, w.deps.new_id(),
                                            Result(t.result), reason)], "u-lab-2", w.clock.now())
        uow.commit()


def audit(w: World) -> dict[str, object]:
    return dict([a for a in w.t.audit if a.action == "results.record"][-1].detail)


def test_negatives_reach_every_member_and_decide_their_status(w: World) -> None:
    pool, alone = w.people(5), w.person()
    barcodes = sample(w, pool, [alone])
    receive(w, barcodes)
    w.clock.advance(timedelta(hours=5))
    assert record(w, *(ResultInput(b, "阴性") for b in barcodes)) == ["accepted"] * 2
    now = w.clock.now()
    for p in [*pool, alone]:
        s = w.status(p)
        assert (s.test_state, s.last_result, s.last_result_at) == ("negative", "negative", now)
        assert (s.colour, s.reasons, s.status_at) == ("green", "up_to_date", now)
        assert not s.stale(now)
    assert {t.status for t in w.t.tubes.values()} == {"resulted"}
    assert {t.notified_at for t in w.t.tubes.values()} == {now}
    assert len(w.t.result_log) == 2 and not w.t.recalls and not w.t.outbox
    assert audit(w) == {"accepted": 2, "corrections_requested": 0, "rejected": 0,
                        "people_notified": 6,
                        "recalls_opened": 0, "recalls_resolved": 0, "pools_closed": 0,
                        "statuses_decided": 6}


def test_a_positive_pool_recalls_its_members_and_queues_their_sms(w: World) -> None:
    pool = w.people(5)
    (barcode,) = sample(w, pool)
    receive(w, [barcode])
    assert record(w, ResultInput(barcode, "positive", {"ORF1ab": 31.5, "N": 30.2})) == [
        "accepted"]
    now = w.clock.now()
    tube = next(iter(w.t.tubes.values()))
    assert (tube.result, tube.ct, tube.investigation) == (
        "positive", {"ORF1ab": 31.5, "N": 30.2}, "open")
    recalls = {r.person_id: r for r in w.t.recalls.values()}
    assert set(recalls) == set(pool)
    for p, r in recalls.items():
        assert (r.reason, r.status, r.pool_tube_id, r.due_at) == (
            "pool_positive", "open", tube.id, now + timedelta(hours=12))
        s = w.status(p)
        assert (s.test_state, s.open_recall_id) == ("pending_retest", r.id)
        assert (s.colour, s.reasons) == ("yellow", "pending_retest")
    sms = sorted(w.t.outbox.values(), key=lambda m: m.person_id)
    assert [(m.person_id, m.template, m.tube_id) for m in sms] == [
        (p, "recall", tube.id) for p in sorted(pool)]
    assert {m.params["due"] for m in sms} == {short(now + timedelta(hours=12))}
    assert audit(w)["recalls_opened"] == 5 and audit(w)["people_notified"] == 5


def test_a_positive_single_tube_makes_its_person_positive_and_revokes_passes(w: World) -> None:
    person = w.person()
    (barcode,) = sample(w, [person], mode=1)
    receive(w, [barcode])
    now = w.clock.now()
    for colour in ("green", "red"):
        w.t.passes[colour] = PassRecord(IssuedPass(colour, person, "k1", colour, now,
                                                   now + timedelta(hours=24)))
    assert record(w, ResultInput(barcode, "positive")) == ["accepted"]
    s = w.status(person)
    assert (s.test_state, s.colour, s.reasons, s.open_recall_id) == (
        "positive", "red", "positive_result", None)
    assert not w.t.recalls
    assert [m.template for m in w.t.outbox.values()] == ["positive"]
    assert w.t.passes["green"].revoke_reason == "positive"
    assert w.t.passes["red"].revoked_at is None  # a red pass stays true
    assert next(iter(w.t.tubes.values())).investigation is None  # a single tube: no pool


def test_an_invalid_tube_recalls_its_members(w: World) -> None:
    pool = w.people(3)
    (barcode,) = sample(w, pool)
    receive(w, [barcode])
    assert record(w, ResultInput(barcode, "无效")) == ["accepted"]
    assert {(r.person_id, r.reason, r.status) for r in w.t.recalls.values()} == {
        (p, "tube_invalid", "open") for p in pool}
    assert {m.template for m in w.t.outbox.values()} == {"invalid"}
    assert {(w.status(p).test_state, w.status(p).colour) for p in pool} == {
        ("pending_retest", "yellow")}
    assert next(iter(w.t.tubes.values())).investigation is None


def _positive_pool(w: World, n: int) -> tuple[list[str], str]:
    pool = w.people(n)
    (barcode,) = sample(w, pool)
    receive(w, [barcode])
    assert record(w, ResultInput(barcode, "positive")) == ["accepted"]
    w.clock.advance(timedelta(hours=2))
    return pool, next(iter(w.t.tubes.values())).id


def test_negative_resamples_resolve_the_recalls_and_flag_the_pool_for_review(w: World) -> None:
    pool, pool_tube = _positive_pool(w, 2)
    resamples = sample(w, [pool[0]], [pool[1]], mode=1)
    recall_of = {s.person_id: s.recall_id for s in w.t.samples.values() if s.recall_id}
    assert recall_of == {p: w.status(p).open_recall_id for p in pool}  # each answers its own
    receive(w, resamples)
    assert record(w, ResultInput(resamples[0], "negative")) == ["accepted"]
    assert w.t.tubes[pool_tube].investigation == "open"  # one recall still open
    assert record(w, ResultInput(resamples[1], "negative")) == ["accepted"]
    assert {(r.status, r.outcome) for r in w.t.recalls.values()} == {("resolved", "negative")}
    assert w.t.tubes[pool_tube].investigation == "review"
    assert audit(w)["pools_closed"] == 1 and audit(w)["recalls_resolved"] == 1
    for p in pool:
        s = w.status(p)
        assert (s.test_state, s.open_recall_id, s.colour, s.reasons) == (
            "negative", None, "green", "up_to_date")


def test_a_positive_resample_confirms_the_pool(w: World) -> None:
    pool, pool_tube = _positive_pool(w, 2)
    resamples = sample(w, [pool[0]], [pool[1]], mode=1)
    receive(w, resamples)
    assert record(w, ResultInput(resamples[0], "positive"),
                  ResultInput(resamples[1], "negative")) == ["accepted"] * 2
    outcomes = {r.person_id: (r.status, r.outcome) for r in w.t.recalls.values()}
    assert outcomes == {pool[0]: ("resolved", "positive"), pool[1]: ("resolved", "negative")}
    assert w.t.tubes[pool_tube].investigation == "closed"
    assert (w.status(pool[0]).test_state, w.status(pool[0]).colour) == ("positive", "red")
    assert (w.status(pool[1]).test_state, w.status(pool[1]).colour) == ("negative", "green")


def test_an_invalid_resample_keeps_the_recall_open(w: World) -> None:
    pool, _ = _positive_pool(w, 2)
    (resample,) = sample(w, [pool[0]], mode=1)
    receive(w, [resample])
    assert record(w, ResultInput(resample, "invalid")) == ["accepted"]
    recall = w.t.recalls[w.status(pool[0]).open_recall_id or ""]
    assert (recall.status, recall.person_id) == ("open", pool[0])
    assert len(w.t.recalls) == 2  # no new recall for the invalid re-sample
    assert w.status(pool[0]).colour == "yellow"


def test_a_pooled_negative_does_not_clear_a_recall_it_does_not_answer(w: World) -> None:
    person, other = w.people(2)
    first, second = sample(w, [person], [person, other])  # the second tube after the first
    receive(w, [first, second])
    assert record(w, ResultInput(first, "positive")) == ["accepted"]
    assert record(w, ResultInput(second, "negative")) == ["accepted"]
    s = w.status(person)
    assert (s.test_state, s.colour, s.last_result) == ("pending_retest", "yellow", "negative")
    assert w.t.recalls[s.open_recall_id or ""].status == "open"
    assert (w.status(other).test_state, w.status(other).colour) == ("negative", "green")


def test_one_re_test_answers_the_recalls_of_two_pools(w: World) -> None:
    person, a, b = w.people(3)
    first, second = sample(w, [person, a], [person, b])  # the second tube after the first
    receive(w, [first, second])
    assert record(w, ResultInput(first, "invalid"), ResultInput(second, "positive")) == [
        "accepted"] * 2
    mine = [r for r in w.t.recalls.values() if r.person_id == person]
    assert len(mine) == 2 and {r.status for r in mine} == {"open"}
    w.clock.advance(timedelta(hours=1))
    (resample,) = sample(w, [person], mode=1)
    receive(w, [resample])
    assert record(w, ResultInput(resample, "negative")) == ["accepted"]
    mine = [r for r in w.t.recalls.values() if r.person_id == person]
    assert len(mine) == 2 and {(r.status, r.outcome, r.resolving_tube_id) for r in mine} == {
        ("resolved", "negative", next(t.id for t in w.t.tubes.values() if t.barcode == resample))}
    assert audit(w)["recalls_resolved"] == 2


def test_repeats_conflicts_and_corrections(w: World) -> None:
    pool = w.people(3)
    (barcode,) = sample(w, pool)
    receive(w, [barcode])
    assert record(w, ResultInput(barcode, "negative")) == ["accepted"]
    assert record(w, ResultInput(barcode, "negative")) == ["duplicate"]
    assert record(w, ResultInput(barcode, "positive")) == ["rejected:result_conflict"]
    assert not w.t.recalls
    correct(w, barcode, "positive", "plate swap")
    assert {r.status for r in w.t.recalls.values()} == {"open"} and len(w.t.recalls) == 3
    # corrected back: the recalls the positive opened are cancelled, the members negative
    correct(w, barcode, "negative", "re-read")
    assert {r.status for r in w.t.recalls.values()} == {"cancelled"}
    assert {(w.status(p).test_state, w.status(p).open_recall_id, w.status(p).colour)
            for p in pool} == {("negative", None, "green")}
    assert [(e.result, e.previous, e.reason) for e in w.t.result_log] == [
        ("negative", None, None), ("positive", "negative", "plate swap"),
        ("negative", "positive", "re-read")]


def test_unknown_unreceived_and_malformed_rows_are_rejected(w: World) -> None:
    other_lab = w.deps.new_id()
    mine, sealed, theirs = sample(w, [w.person()], [w.person()], [w.person()])
    receive(w, [mine])
    receive(w, [theirs], lab=other_lab)
    unknown = w.barcode()
    out = record(w, ResultInput(unknown, "negative"), ResultInput(unknown, "negative"),
                 ResultInput(sealed, "negative"), ResultInput(theirs, "negative"),
                 ResultInput("12345", "negative"), ResultInput(mine, "maybe"),
                 ResultInput(mine, "negative", {"N": 99.0}),
                 ResultInput(mine, "negative"), ResultInput(mine, "positive"))
    assert out == ["rejected:unknown_tube", "rejected:unknown_tube", "rejected:not_received",
                   "rejected:not_received", "rejected:bad_barcode", "rejected:bad_result",
                   "rejected:bad_ct", "accepted", "rejected:twice_in_batch"]
    assert [(r.barcode, r.reason) for r in w.t.rejected_results.values()] == [
        (unknown, "unknown_tube")]
    assert [t.status for t in w.t.tubes.values()] == ["resulted", "sealed", "received"]


def test_only_the_receiving_lab_posts_results(w: World) -> None:
    (barcode,) = sample(w, [w.person()])
    receive(w, [barcode])
    commits = w.db.commits
    other = Principal("u-l2", "lab2", Role.LAB, "another-lab")
    with pytest.raises(PermissionDenied) as denied:
        record(w, ResultInput(barcode, "negative"), actor=other)
    assert denied.value.code == "wrong_scope"
    with pytest.raises(PermissionDenied) as denied:
        record(w, ResultInput(barcode, "negative"),
               actor=Principal("u-s", "sampler", Role.SAMPLER, w.site))
    assert denied.value.code == "wrong_role"
    with pytest.raises(NotFound) as missing:
        record(w, ResultInput(barcode, "negative"), actor=Principal("u-a", "admin", Role.ADMIN),
               lab="no-such-lab")
    assert missing.value.code == "unknown_lab"
    assert w.db.commits == commits and not w.t.result_log


def test_a_negative_for_an_exempt_member_is_decided_by_the_engine(w: World) -> None:
    exempt, plain = w.people(2)
    StatusService(w.deps).exempt(OFFICER, exempt, "away", w.clock.now() + timedelta(days=5))
    (barcode,) = sample(w, [exempt, plain])
    receive(w, [barcode])
    assert record(w, ResultInput(barcode, "negative")) == ["accepted"]
    assert (w.status(exempt).colour, w.status(exempt).reasons) == ("green", "exempt")
    assert (w.status(plain).colour, w.status(plain).reasons) == ("green", "up_to_date")
    assert not w.status(exempt).stale(w.clock.now())
    assert audit(w)["statuses_decided"] == 2


def test_a_correction_tells_every_member_once_with_the_corrected_result(w: World) -> None:
    pool = w.people(3)
    (barcode,) = sample(w, pool)
    receive(w, [barcode])
    assert record(w, ResultInput(barcode, "negative")) == ["accepted"]
    assert not w.t.outbox  # a negative sends nothing
    correct(w, barcode, "positive", "plate swap")
    assert sorted((m.person_id, m.template) for m in w.t.outbox.values()) == [
        (p, "corrected_recall") for p in sorted(pool)]
    correct(w, barcode, "negative", "re-read")
    told = sorted((m.person_id, m.template) for m in w.t.outbox.values())
    assert told == sorted([(p, "corrected_recall") for p in pool]
                          + [(p, "corrected_negative") for p in pool])
    # one message per person per correction, each keyed by its correction's log entry
    logs = [e.id for e in w.t.result_log[1:]]
    assert sorted(w.t.outbox) == sorted(f"corrected:{log}:{p}" for log in logs for p in pool)


def test_a_single_positive_corrected_to_negative_is_negative_again(w: World) -> None:
    person = w.person()
    (barcode,) = sample(w, [person], mode=1)
    receive(w, [barcode])
    assert record(w, ResultInput(barcode, "positive")) == ["accepted"]
    now = w.clock.now()
    w.t.passes["red"] = PassRecord(IssuedPass("red", person, "k1", "red", now,
                                              now + timedelta(hours=24)))
    assert (w.status(person).test_state, w.status(person).colour) == ("positive", "red")
    w.clock.advance(timedelta(hours=1))
    correct(w, barcode, "negative", "wrong well")
    s = w.status(person)
    assert (s.test_state, s.colour, s.reasons, s.last_result) == (
        "negative", "green", "up_to_date", "negative")
    assert w.t.passes["red"].revoke_reason == "corrected"  # asked for again, it is green
    assert [m.template for m in w.t.outbox.values()] == ["positive", "corrected_negative"]


def test_a_results_call_that_loses_a_race_is_retried_whole(w: World) -> None:
    """On PostgreSQL two uploads (or two chunks of one file) can deadlock over the same
    people's status rows; the database rolls one back, which the unit of work raises as a
    ``WriteRace``: that call is run again, and is then applied once."""
    pool = w.people(5)
    barcodes = sample(w, pool)
    receive(w, barcodes)
    w.clock.advance(timedelta(hours=5))
    svc = LabService(w.deps, StatusService(w.deps))
    fan_out, lost = svc.fan_out, list[bool]()

    def loses_once(uow: UnitOfWork, lab_id: str, batch: Sequence[TubeResult], actor_id: str,
                   now: datetime) -> FanOutCounts:
        out = fan_out(uow, lab_id, batch, actor_id, now)
        if not lost:
            lost.append(True)
            raise WriteRace("deadlock_detected: rolled back to end a conflict")
        return out

    svc.fan_out = loses_once  # type: ignore[method-assign]
    out = svc.record(lab_user(w), w.lab, [ResultInput(barcodes[0], "negative")])
    assert [o.status for o in out] == ["accepted"] and lost
    assert len(w.t.result_log) == 1
    assert len([a for a in w.t.audit if a.action == "results.record"]) == 1
    assert {w.status(p).last_result for p in pool} == {"negative"}


def test_a_file_in_chunks_answers_in_row_order(w: World) -> None:
    """Chunks of a file are applied several at once where the store allows it; the rows that
    were not plain acceptances come back in the file's row order, each with its row."""
    barcodes = sample(w, *([p] for p in w.people(6)), mode=1)
    receive(w, barcodes[:5])
    svc = LabService(replace(w.deps, limits=replace(w.deps.limits, result_chunks_at_once=2)),
                     StatusService(w.deps))
    rows = [{"barcode": barcodes[0], "result": "negative"},
            {"barcode": barcodes[1], "result": "maybe"},  # row 3: malformed
            {"barcode": barcodes[0], "result": "negative"},  # row 4: the same again
            {"barcode": barcodes[2], "result": "positive"},
            {"barcode": barcodes[5], "result": "negative"},  # row 6: not received
            {"barcode": "", "result": "negative"},  # row 7: no barcode
            {"barcode": barcodes[3], "result": "negative"}]
    report, total = svc.import_rows(lab_user(w), w.lab, rows, chunk=2)
    assert total == 7
    assert [(o.row, o.status, o.reason) for o in report] == [
        (3, "rejected", "bad_result"), (4, "duplicate", None),
        (6, "rejected", "not_received"), (7, "rejected", "missing_field")]
