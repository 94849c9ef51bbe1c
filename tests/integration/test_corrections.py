"""Corrections and cancellations of released results on both backends: requested by a lab user
with a reason, approved by a second one, only then applied — the fan-out reversed or updated
(statuses as the engine decides them, recalls cancelled or opened, passes revoked, the pool's
investigation), every member of the tube told once, both results kept in the result log — and
every refusal leaving nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.corrections_store import SqlCorrections
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.corrections import CorrectionKind, CorrectionStatus
from hesuan.domain.errors import HesuanError, NotFound, PermissionDenied, RuleViolation
from hesuan.domain.results import Result
from hesuan.services.lab import ResultInput
from hesuan.sim.example import seed_example_city
from tests.integration.lab_bench import (
    ADMIN,
    NEG,
    NEGATIVE_CONTROL,
    POS,
    POSITIVE_CONTROL,
    Bench,
    plate_file,
    refused,
)

CONTROLS = {"A1": POSITIVE_CONTROL, "A2": NEGATIVE_CONTROL}
C, X = CorrectionKind.CORRECTION, CorrectionKind.CANCELLATION
OFFICER = Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401")


@pytest.fixture
def bench(platform: Platform, clock: FixedClock) -> Iterator[Bench]:
    yield Bench(platform, clock, seed_example_city(platform, people=120))



def _released(b: Bench, cts: dict[str, dict[str, float | None]], mode: int = 1) -> None:
    """The tubes (barcode → Ct values) on a plate built by user 1, imported by user 2 and
    released by user 3."""
    plate, wells = b.plate(b.lab_user(1), list(cts))
    b.p.runs.import_run(b.lab_user(2), plate.id, "run.csv", plate_file(CONTROLS, wells, cts))
    b.p.runs.release(b.lab_user(3), plate.id)


def _statuses(b: Bench, barcode: str) -> set[tuple[str, str, str]]:
    """(test state, colour, reasons) of each member of the tube."""
    return {(r[0], r[1], r[2]) for r in b.rows(
        "SELECT ps.test_state, ps.colour, ps.reasons FROM person_status ps JOIN samples s ON "
        "s.person_id = ps.person_id JOIN tubes t ON t.id = s.tube_id WHERE t.barcode = :b",
        b=barcode)}


def _decided_by_the_engine(b: Bench, barcode: str) -> None:
    """Each member's stored status is the one the engine decides afresh from their facts."""
    def stored() -> list[tuple[str, str, str, object]]:
        return sorted((r[0], r[1], r[2], r[3]) for r in b.rows(
            "SELECT ps.person_id, ps.colour, ps.reasons, ps.status_valid_until FROM "
            "person_status ps JOIN samples s ON s.person_id = ps.person_id JOIN tubes t ON "
            "t.id = s.tube_id WHERE t.barcode = :b", b=barcode))

    before = stored()
    b.p.status.recompute_all(ADMIN)
    assert stored() == before


def _sms(b: Bench, barcode: str) -> list[tuple[str, str]]:
    return sorted((r[0], r[1]) for r in b.rows(
        "SELECT o.person_id, o.template FROM outbox o JOIN tubes t ON t.id = o.tube_id "
        "WHERE t.barcode = :b", b=barcode))


def _audited(b: Bench, action: str) -> int:
    return int(b.scalar("SELECT count(*) FROM audit_log WHERE action = :a", a=action))


def test_a_correction_reverses_a_positive_pool(bench: Bench) -> None:
    b, u1, u2, u3 = bench, bench.lab_user(1), bench.lab_user(2), bench.lab_user(3)
    (pool,) = b.tubes(1, mode=5)
    _released(b, {pool: POS})
    members = b.members(pool)
    assert _statuses(b, pool) == {("pending_retest", "yellow", "pending_retest")}
    assert b.scalar("SELECT count(*) FROM recalls WHERE status = 'open'") == 5
    b.clock.advance(timedelta(hours=1))
    assert b.scalar("SELECT investigation FROM tubes WHERE barcode = :b", b=pool) == "open"
    assert _sms(b, pool) == [(p, "recall") for p in members]
    req = b.p.corrections.request(u1, b.lab_id, pool, C, "plate swap: the pool is the "
                                  "neighbouring well's", "negative")
    assert (req.status, req.previous, req.result) == (
        CorrectionStatus.PENDING, Result.POSITIVE, Result.NEGATIVE)
    # requested only: nothing has changed for anyone
    assert b.scalar("SELECT count(*) FROM recalls WHERE status = 'open'") == 5
    # the requester does not approve their own request
    refused(RuleViolation, "second_person_required", lambda: b.p.corrections.approve(
        u1, req.id))
    out = b.p.corrections.approve(u2, req.id)
    assert out.applied and out.request.status is CorrectionStatus.APPLIED
    assert out.request.decided_by == u2.user_id
    # recalls cancelled, everyone negative and green as the engine decides, investigation gone
    assert {r[0] for r in b.rows("SELECT status FROM recalls")} == {"cancelled"}
    assert _statuses(b, pool) == {("negative", "green", "up_to_date")}
    _decided_by_the_engine(b, pool)
    assert b.scalar("SELECT investigation FROM tubes WHERE barcode = :b", b=pool) is None
    # each member told once more, with the corrected result
    assert _sms(b, pool) == sorted([(p, "recall") for p in members]
                                   + [(p, "corrected_negative") for p in members])
    # the result log keeps both results
    assert b.rows("SELECT l.result, l.previous, l.reason FROM result_log l JOIN tubes t ON "
                  "t.id = l.tube_id WHERE t.barcode = :b ORDER BY l.at", b=pool) == [
        ("positive", None, None),
        ("negative", "positive", "plate swap: the pool is the neighbouring well's")]
    # a second approval changes nothing
    again = b.p.corrections.approve(u3, req.id)
    assert not again.applied and again.request.status is CorrectionStatus.APPLIED
    assert len(_sms(b, pool)) == 10
    assert (_audited(b, "result.correction_request"),
            _audited(b, "result.correction_apply")) == (1, 1)



def test_the_direct_paths_correction_is_a_request_a_second_person_approves(
        bench: Bench) -> None:
    """A released positive pool changed to negative by one lab user on the direct results
    path (the web lab page's form, the API, a results file): its recalls went, with no second
    person, while the corrections page asked for one."""
    b, u1, u2 = bench, bench.lab_user(1), bench.lab_user(2)
    (pool,) = b.tubes(1, mode=5)
    _released(b, {pool: POS})
    (out,) = b.p.lab.record(u1, b.lab_id, [ResultInput(pool, "negative",
                                                       correction_reason="plate swap")])
    assert out.status == "correction_requested" and out.correction_id is not None
    assert b.scalar("SELECT count(*) FROM recalls WHERE status = 'open'") == 5
    assert b.scalar("SELECT result FROM tubes WHERE barcode = :b", b=pool) == "positive"
    # the same upload again: the request stands, nothing else asked
    (again,) = b.p.lab.record(u1, b.lab_id, [ResultInput(pool, "negative",
                                                         correction_reason="plate swap")])
    assert (again.status, again.correction_id) == ("duplicate", out.correction_id)
    # another change while it waits: decide it first
    (other,) = b.p.lab.record(u2, b.lab_id, [ResultInput(pool, "invalid",
                                                         correction_reason="re-read")])
    assert (other.status, other.reason) == ("rejected", "correction_pending")
    # a results file's answer names the request too
    report, _ = b.p.lab.import_rows(u1, b.lab_id, [
        {"barcode": pool, "result": "negative", "correction_reason": "plate swap"}])
    assert [(o.status, o.correction_id, o.row) for o in report] == [
        ("duplicate", out.correction_id, 2)]
    refused(RuleViolation, "second_person_required", lambda: b.p.corrections.approve(
        u1, out.correction_id or ""))
    assert b.p.corrections.approve(u2, out.correction_id or "").applied
    assert {r[0] for r in b.rows("SELECT status FROM recalls")} == {"cancelled"}
    assert (_audited(b, "result.correction_request"),
            _audited(b, "result.correction_apply")) == (1, 1)

def test_a_negative_corrected_to_positive_recalls_and_revokes(bench: Bench) -> None:
    b, u1, u2 = bench, bench.lab_user(1), bench.lab_user(2)
    single, pool = b.tubes(1)[0], b.tubes(1, mode=5)[0]
    _released(b, {single: NEG, pool: NEG})
    person = b.members(single)[0]
    green = b.p.passes.issue(OFFICER, person)
    assert green
    b.clock.advance(timedelta(hours=1))
    for barcode in (single, pool):
        req = b.p.corrections.request(u1, b.lab_id, barcode, C, "wells read in the wrong "
                                      "order", "positive", {"ORF1ab": 24.0, "N": 25.5})
        b.p.corrections.approve(u2, req.id)
    assert _statuses(b, single) == {("positive", "red", "positive_result")}
    assert _statuses(b, pool) == {("pending_retest", "yellow", "pending_retest")}
    _decided_by_the_engine(b, single)
    _decided_by_the_engine(b, pool)
    assert b.scalar("SELECT count(*) FROM recalls WHERE status = 'open' AND "
                    "reason = 'pool_positive'") == 5
    assert b.scalar("SELECT investigation FROM tubes WHERE barcode = :b", b=pool) == "open"
    assert b.scalar("SELECT ct FROM tubes WHERE barcode = :b", b=single) is not None
    assert _sms(b, single) == [(person, "corrected_positive")]
    assert _sms(b, pool) == [(p, "corrected_recall") for p in b.members(pool)]
    # the pass issued on the negative no longer holds; the next one says red
    assert b.scalar("SELECT revoke_reason FROM passes WHERE person_id = :p", p=person) in (
        "positive", "corrected")
    assert b.scalar("SELECT count(*) FROM passes WHERE person_id = :p AND revoked_at IS NULL",
                    p=person) == 0


def test_a_cancellation_withdraws_the_result_and_recalls_every_member(bench: Bench) -> None:
    b, u1, u2 = bench, bench.lab_user(1), bench.lab_user(2)
    (pool,) = b.tubes(1, mode=5)
    _released(b, {pool: NEG})
    members = b.members(pool)
    b.clock.advance(timedelta(hours=1))
    req = b.p.corrections.request(u2, b.lab_id, pool, X, "the box's temperature log was lost")
    assert req.result is None and req.kind is X
    b.p.corrections.approve(u1, req.id)
    assert b.rows("SELECT status, result FROM tubes WHERE barcode = :b", b=pool) == [
        ("cancelled", None)]
    assert _statuses(b, pool) == {("pending_retest", "yellow", "pending_retest")}
    _decided_by_the_engine(b, pool)
    assert {(r[0], r[1]) for r in b.rows("SELECT reason, status FROM recalls")} == {
        ("result_cancelled", "open")}
    assert _sms(b, pool) == [(p, "result_cancelled") for p in members]
    assert b.rows("SELECT l.result, l.previous FROM result_log l JOIN tubes t ON "
                  "t.id = l.tube_id WHERE t.barcode = :b ORDER BY l.at", b=pool) == [
        ("negative", None), ("cancelled", "negative")]
    # the tube is out of the lab queue and takes no result any more
    assert b.p.plates.queue(u1, b.lab_id).total == 0
    out = b.p.lab.record(u1, b.lab_id, [ResultInput(pool, "negative")])
    assert (out[0].status, out[0].reason) == ("rejected", "result_cancelled")
    refused(RuleViolation, "not_released", lambda: b.p.corrections.request(
        u1, b.lab_id, pool, C, "again", "negative"))


def test_who_may_request_and_decide_and_what_isrefused(bench: Bench) -> None:
    b, u1, u2 = bench, bench.lab_user(1), bench.lab_user(2)
    other = b.lab_user(1, "lab2")
    released, waiting = b.tubes(1)[0], b.tubes(1)[0]
    _released(b, {released: NEG})
    ask = b.p.corrections.request
    refused(PermissionDenied, "wrong_role", lambda: ask(ADMIN, b.lab_id, released, C, "x",
                                                          "positive"))
    refused(PermissionDenied, "wrong_scope", lambda: ask(other, b.lab_id, released, C, "x",
                                                           "positive"))
    refused(HesuanError, "reason_required", lambda: ask(u1, b.lab_id, released, C, " ",
                                                          "positive"))
    refused(RuleViolation, "not_released", lambda: ask(u1, b.lab_id, waiting, C, "x",
                                                         "positive"))
    refused(RuleViolation, "correction_unchanged", lambda: ask(u1, b.lab_id, released, C,
                                                                 "x", "negative"))
    refused(HesuanError, "bad_result", lambda: ask(u1, b.lab_id, released, C, "x", None))
    refused(NotFound, "unknown_correction", lambda: b.p.corrections.approve(u2, "nope"))
    req = ask(u1, b.lab_id, released, C, "re-read", "positive")
    b.clock.advance(timedelta(minutes=5))
    refused(RuleViolation, "correction_pending", lambda: ask(u2, b.lab_id, released, X,
                                                               "other"))
    refused(PermissionDenied, "wrong_scope", lambda: b.p.corrections.approve(other, req.id))
    # the requester withdraws it; it cannot be approved then
    assert b.p.corrections.decline(u1, req.id, "typed the wrong tube").status is \
        CorrectionStatus.DECLINED
    refused(RuleViolation, "correction_declined", lambda: b.p.corrections.approve(u2, req.id))
    # a request made against a result that changed since is not applied (no path changes a
    # released result without an approval now: the store is written to here)
    stale = ask(u1, b.lab_id, released, C, "re-read", "positive")
    with b.p.deps.uow() as uow:
        uow.conn.execute(text(  # type: ignore[attr-defined]
            "UPDATE tubes SET result = 'invalid' WHERE barcode = :b"), {"b": released})
        uow.commit()
    refused(RuleViolation, "result_changed", lambda: b.p.corrections.approve(u2, stale.id))
    assert b.rows("SELECT status FROM result_corrections WHERE id = :i", i=stale.id) == [
        ("pending",)]
    assert b.p.corrections.decline(u2, stale.id).status is CorrectionStatus.DECLINED
    listed = b.p.corrections.corrections(u1, b.lab_id)
    assert [(r.id, r.status) for r in listed] == [(stale.id, CorrectionStatus.DECLINED),
                                                  (req.id, CorrectionStatus.DECLINED)]
    assert _audited(b, "result.correction_decline") == 2
    assert _audited(b, "result.correction_apply") == 0


def test_a_failure_half_way_through_an_approval_leaves_nothing(
        bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    b, u1, u2 = bench, bench.lab_user(1), bench.lab_user(2)
    (pool,) = b.tubes(1, mode=5)
    _released(b, {pool: POS})
    b.clock.advance(timedelta(hours=1))
    before = (_statuses(b, pool), _sms(b, pool), b.rows("SELECT id, status FROM recalls "
                                                        "ORDER BY id"))
    for kind, result in ((C, "negative"), (X, None)):
        req = b.p.corrections.request(u1, b.lab_id, pool, kind, "re-read", result)

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the store failed half-way")

        with monkeypatch.context() as m:
            m.setattr(SqlCorrections, "decide", broken)  # after the fan-out, before the end
            with pytest.raises(RuntimeError):
                b.p.corrections.approve(u2, req.id)
        assert (_statuses(b, pool), _sms(b, pool),
                b.rows("SELECT id, status FROM recalls ORDER BY id")) == before
        assert b.rows("SELECT status, result FROM tubes WHERE barcode = :b", b=pool) == [
            ("resulted", "positive")]
        assert b.scalar("SELECT count(*) FROM result_log") == 1
        assert b.p.corrections.correction(u1, req.id).status is CorrectionStatus.PENDING
        b.p.corrections.decline(u1, req.id)


def test_a_tube_resulted_meanwhile_is_left_by_its_plates_release(bench: Bench) -> None:
    b, u1, u2, u3 = bench, bench.lab_user(1), bench.lab_user(2), bench.lab_user(3)
    meanwhile, other = b.tubes(2)
    plate, wells = b.plate(u1, [meanwhile, other])
    b.p.runs.import_run(u2, plate.id, "run.csv",
                        plate_file(CONTROLS, wells, {meanwhile: POS, other: NEG}))
    assert b.p.lab.record(u1, b.lab_id, [ResultInput(meanwhile, "negative")])[0].status == \
        "accepted"
    out = b.p.runs.release(u3, plate.id)
    assert out.already_resulted == [meanwhile]
    assert out.released == {Result.NEGATIVE: 1, Result.POSITIVE: 0, Result.INVALID: 0}
    # the direct path's result stands; nobody was told a positive
    assert b.rows("SELECT result FROM tubes WHERE barcode = :b", b=meanwhile) == [("negative",)]
    assert b.scalar("SELECT count(*) FROM outbox") == 0
    assert b.scalar("SELECT count(*) FROM result_log") == 2
