"""Rejected specimens on both backends: at receipt (the box opened at the lab) and at the bench
(before a plate, on a plate being built, on a plate past building), each tube out of the lab
queue for good, every member recalled with the reason in plain words (their page, an SMS),
audited; a rejected tube is never placed on a plate nor resulted; every refusal writes
nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import HesuanError, NotFound, PermissionDenied, RuleViolation
from hesuan.domain.plates import Decision
from hesuan.domain.results import Result
from hesuan.domain.sampling import make_tube_barcode
from hesuan.domain.specimens import RejectionCode, RejectionStage
from hesuan.services.lab import ResultInput
from hesuan.services.rejections import RejectionInput
from hesuan.services.status import StatusService
from hesuan.sim.example import seed_example_city
from tests.integration.lab_bench import (
    NEG,
    NEGATIVE_CONTROL,
    POS,
    POSITIVE_CONTROL,
    Bench,
    plate_file,
    refused,
)

CONTROLS = {"A1": POSITIVE_CONTROL, "A2": NEGATIVE_CONTROL}
OFFICER = Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401")


@pytest.fixture
def bench(platform: Platform, clock: FixedClock) -> Iterator[Bench]:
    yield Bench(platform, clock, seed_example_city(platform, people=120))



def _box(b: Bench, barcode: str) -> str:
    return str(b.scalar("SELECT bx.code FROM boxes bx JOIN tubes t ON t.box_id = bx.id "
                        "WHERE t.barcode = :b", b=barcode))


def _recalled(b: Bench, barcode: str) -> set[tuple[str, str, str, str]]:
    """(test state, colour, recall reason, recall status) of each member of the tube."""
    return {(r[0], r[1], r[2], r[3]) for r in b.rows(
        "SELECT ps.test_state, ps.colour, r.reason, r.status FROM person_status ps "
        "JOIN samples s ON s.person_id = ps.person_id JOIN tubes t ON t.id = s.tube_id "
        "JOIN recalls r ON r.id = ps.open_recall_id WHERE t.barcode = :b", b=barcode)}


def test_tubes_rejected_at_receipt_leave_the_queue_and_recall_their_people(
        bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    leaked, kept = b.tubes(2, mode=5, lab=None)
    receipt = b.p.delivery.receive(u1, str(uuid.uuid4()), b.lab_id, _box(b, leaked),
                                   b.clock.now(), [leaked, kept],
                                   rejected=[RejectionInput(leaked, "leaked")])
    assert receipt.rejected == [leaked] and not receipt.discrepancy
    assert b.rows("SELECT barcode, status FROM tubes ORDER BY barcode") == sorted(
        [(leaked, "rejected"), (kept, "received")])
    assert [i.tube.barcode for i in b.p.plates.queue(u1, b.lab_id).items] == [kept]
    assert _recalled(b, leaked) == {("pending_retest", "yellow", "tube_rejected", "open")}
    sms = b.rows("SELECT o.template, o.params FROM outbox o JOIN tubes t ON t.id = o.tube_id "
                 "WHERE t.barcode = :b", b=leaked)
    assert len(sms) == 5 and {r[0] for r in sms} == {"rejected"}
    params = sms[0][1] if isinstance(sms[0][1], dict) else json.loads(sms[0][1])
    assert (params["code"], params["why_zh"]) == ("leaked", RejectionCode.LEAKED.words("zh"))
    # the member's page shows the reason
    person = b.members(leaked)[0]
    history = b.p.people.history(OFFICER, person)
    assert [(r.reason, r.status, r.detail) for r in history.recalls] == [
        ("tube_rejected", "open", "leaked")]
    row = b.p.rejections.rejections(u1, b.lab_id)[0]
    assert (row.barcode, row.code, row.stage, row.rejected_by) == (
        leaked, RejectionCode.LEAKED, RejectionStage.RECEIPT, u1.user_id)
    assert b.scalar("SELECT count(*) FROM audit_log WHERE action = 'specimen.reject'") == 1
    # never placed on a plate nor resulted
    plate, _ = b.plate(u1, [], ready=False)
    refused(RuleViolation, "tube_rejected",
             lambda: b.p.plates.place_tube(u1, plate.id, "B1", leaked))
    out = b.p.lab.record(u1, b.lab_id, [ResultInput(leaked, "negative")])
    assert (out[0].status, out[0].reason) == ("rejected", "tube_rejected")
    refused(RuleViolation, "tube_rejected", lambda: b.p.rejections.reject(
        u1, b.lab_id, RejectionInput(leaked, "contaminated")))


def test_a_refused_rejection_refuses_the_receipt(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    (tube,) = b.tubes(1, lab=None)
    (elsewhere,) = b.tubes(1, lab="lab2")
    box = _box(b, tube)
    receive = b.p.delivery.receive
    refused(HesuanError, "bad_rejection_code", lambda: receive(
        u1, str(uuid.uuid4()), b.lab_id, box, b.clock.now(), [tube],
        rejected=[RejectionInput(tube, "dropped")]))
    refused(RuleViolation, "not_in_box", lambda: receive(
        u1, str(uuid.uuid4()), b.lab_id, box, b.clock.now(), [tube],
        rejected=[RejectionInput(elsewhere, "leaked")]))
    # nor a tube this lab received in another box (it was rejected through this receipt)
    (received,) = b.tubes(1)
    refused(RuleViolation, "not_in_box", lambda: receive(
        u1, str(uuid.uuid4()), b.lab_id, box, b.clock.now(), [tube],
        rejected=[RejectionInput(received, "leaked")]))
    assert b.scalar("SELECT status FROM tubes WHERE barcode = :b", b=received) == "received"
    assert b.scalar("SELECT status FROM boxes WHERE code = :c", c=box) == "in_transit"
    assert b.scalar("SELECT status FROM tubes WHERE barcode = :b", b=tube) == "boxed"
    assert b.scalar("SELECT count(*) FROM specimen_rejections") == 0
    assert b.scalar("SELECT count(*) FROM recalls") == 0


def test_a_tube_rejected_at_the_bench_before_and_on_a_plate(bench: Bench) -> None:
    b, u1, u2, u3 = bench, bench.lab_user(1), bench.lab_user(2), bench.lab_user(3)
    free, building, ready, kept = b.tubes(4)
    reject = b.p.rejections.reject
    row = reject(u2, b.lab_id, RejectionInput(free, "insufficient_volume", "200 µl"))
    assert (row.stage, row.note, row.plate_id) == (RejectionStage.BENCH, "200 µl", None)
    # on a plate being built: the tube's well is emptied
    open_plate, wells = b.plate(u1, [building], ready=False)
    row = reject(u2, b.lab_id, RejectionInput(building, "label_unreadable"))
    assert row.plate_id == open_plate.id
    assert wells[building] not in {w.well for w in b.p.plates.plate(u1, open_plate.id).wells}
    # on a ready plate: it stays in its well; the run is imported; the release leaves it
    plate, wells = b.plate(u1, [ready, kept])
    reject(u2, b.lab_id, RejectionInput(ready, "contaminated"))
    b.p.runs.import_run(u2, plate.id, "run.csv",
                        plate_file(CONTROLS, wells, {ready: NEG, kept: NEG}))
    out = b.p.runs.release(u3, plate.id)
    assert out.released[Result.NEGATIVE] == 1 and ready in out.already_resulted
    assert b.rows("SELECT barcode, status, result FROM tubes ORDER BY barcode") == sorted([
        (free, "rejected", None), (building, "rejected", None), (ready, "rejected", None),
        (kept, "resulted", "negative")])
    assert {r[0] for r in b.rows(
        "SELECT w.decision FROM well_results w JOIN tubes t ON t.id = w.tube_id "
        "WHERE t.barcode = :b", b=ready)} == {Decision.RELEASE.value}
    assert b.scalar("SELECT count(*) FROM well_results WHERE result_log_id IS NOT NULL") == 1
    assert b.scalar("SELECT count(*) FROM recalls WHERE reason = 'tube_rejected'") == 3
    assert b.scalar("SELECT count(*) FROM audit_log WHERE action = 'specimen.reject'") == 3


def test_who_may_reject_and_which_tubes(bench: Bench) -> None:
    b, u1 = bench, bench.lab_user(1)
    (resulted, mine) = b.tubes(2)
    (theirs,) = b.tubes(1, lab="lab2")
    b.p.lab.record(u1, b.lab_id, [ResultInput(resulted, "negative")])
    reject = b.p.rejections.reject
    refused(RuleViolation, "tube_resulted", lambda: reject(
        u1, b.lab_id, RejectionInput(resulted, "leaked")))
    refused(RuleViolation, "not_received", lambda: reject(
        u1, b.lab_id, RejectionInput(theirs, "leaked")))
    refused(NotFound, "unknown_tube", lambda: reject(
        u1, b.lab_id, RejectionInput(make_tube_barcode(987_654), "leaked")))
    refused(HesuanError, "note_required", lambda: reject(
        u1, b.lab_id, RejectionInput(mine, "other")))
    refused(PermissionDenied, "wrong_scope", lambda: reject(
        b.lab_user(1, "lab2"), b.lab_id, RejectionInput(mine, "leaked")))
    refused(PermissionDenied, "wrong_role", lambda: reject(
        OFFICER, b.lab_id, RejectionInput(mine, "leaked")))
    assert b.scalar("SELECT count(*) FROM specimen_rejections") == 0
    assert b.scalar("SELECT count(*) FROM outbox") == 0


def test_a_failure_half_way_through_a_rejection_leaves_nothing(
        bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    b, u1 = bench, bench.lab_user(1)
    (tube,) = b.tubes(1, mode=5)
    plate, _ = b.plate(u1, [tube], ready=False)

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("the store failed half-way")

    with monkeypatch.context() as m:
        m.setattr(StatusService, "refresh", broken)  # after the tube, its well, the recalls
        with pytest.raises(RuntimeError):
            b.p.rejections.reject(u1, b.lab_id, RejectionInput(tube, "leaked"))
    assert b.scalar("SELECT status FROM tubes WHERE barcode = :b", b=tube) == "received"
    assert len(b.p.plates.plate(u1, plate.id).wells) == 3
    assert (b.scalar("SELECT count(*) FROM specimen_rejections"),
            b.scalar("SELECT count(*) FROM recalls"), b.scalar("SELECT count(*) FROM outbox"),
            b.scalar("SELECT count(*) FROM audit_log WHERE action = 'specimen.reject'")) == (
        0, 0, 0, 0)


def test_a_failed_plates_tube_whose_sample_is_used_up_is_recalled(bench: Bench) -> None:
    """A failed control sends every tube of the plate back for a re-run of the same sample;
    where none of a tube's sample is left, the lab marks it exhausted (rejected at the bench
    as ``sample_exhausted``) and its people are recalled instead."""
    b, u1, u2 = bench, bench.lab_user(1), bench.lab_user(2)
    used_up, kept = b.tubes(2)
    plate, wells = b.plate(u1, [used_up, kept])
    data = plate_file(CONTROLS, wells, {used_up: NEG, kept: NEG}, nc=POS)
    assert not b.p.runs.import_run(u1, plate.id, "run.csv", data).qc_passed
    row = b.p.rejections.reject(u2, b.lab_id, RejectionInput(used_up, "sample_exhausted"))
    assert row.code is RejectionCode.SAMPLE_EXHAUSTED
    assert {r[2:] for r in _recalled(b, used_up)} == {("tube_rejected", "open")}
    assert b.rows("SELECT barcode, status FROM tubes ORDER BY barcode") == sorted([
        (used_up, "rejected"), (kept, "received")])
    assert RejectionCode.SAMPLE_EXHAUSTED.words("zh") == "样本已用尽，无法复检"


def test_a_rejected_tube_revokes_its_peoples_green_passes(bench: Bench) -> None:
    """A tube rejected recalls its people (yellow, pending a re-test): their green passes
    went on verifying as valid (only a result's fan-out revoked passes)."""
    b = bench
    person = b.person()
    (tube,) = b.tubes(1, members=[[person]])
    admin = Principal("u-admin", "admin", Role.ADMIN)
    text = b.p.passes.issue(admin, person)
    assert b.p.passes.verify(admin, text).valid
    b.p.rejections.reject(b.lab_user(1), b.lab_id, RejectionInput(tube, "leaked"))
    assert b.rows("SELECT revoke_reason FROM passes WHERE person_id = :p",
                  p=person) == [("rejected",)]
