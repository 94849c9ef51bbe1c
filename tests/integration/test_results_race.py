"""The same results body posted twice at the same moment — a lab retrying a slow upload while
the first is still running — is applied once, on SQLite and PostgreSQL, whatever the
interleaving: per tube one ``accepted`` across the answers and ``duplicate`` for the rest, one
result-log row, one audit entry that accepts it, one open recall per member of a positive pool
and that member's status pointing to it.

A correction posted twice at once is asked for once too: one ``correction_requested``, the rest
``duplicate`` (the same request), one request pending; a second lab user's approval then applies
it once: one more result-log row, the pool's recalls cancelled once.

Each trial posts its own fresh tubes (a positive pool, a negative pool) from ``POSTS`` threads
released together, then a correction of the positive pool the same way. Half the trials leave
the timing to the threads; the other half hold every upload for a moment after it has read its
tubes (a slow upload), so that on a store that does not hold them both read the tubes as they
were before either writes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.results_store import SqlResults
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.services.lab import ResultInput, ResultOutcome
from hesuan.services.sampling_ports import ResultTube
from hesuan.sim.example import seed_example_city
from tests.helpers import received_pools

TRIALS = 20  # per backend
POSTS = 2  # identical posts at once per trial
POOL = 5  # people per tube (mode 5)
SLOW_S = 0.05  # how long a "slow upload" holds after reading its tubes
_slow = threading.local()  # per posting thread: hold after the read


def _round(p: Platform, clock: FixedClock, lab_id: str, site: str,
           people: list[str]) -> list[tuple[str, str]]:
    """Every trial's two tubes (positive pool, negative pool) sampled, sealed (full), boxed and
    received by ``lab_id``; returns (positive barcode, negative barcode) per trial."""
    tubes = [make_tube_barcode(1000 + i) for i in range(2 * TRIALS)]
    received_pools(p, clock, lab_id, site, people, tubes, POOL, make_box_code(77))
    return [(tubes[2 * k], tubes[2 * k + 1]) for k in range(TRIALS)]


def _post_at_once(p: Platform, lab: Principal, lab_id: str, items: list[ResultInput],
                  slow: bool) -> list[list[ResultOutcome]]:
    gate = threading.Barrier(POSTS)
    answers: list[list[ResultOutcome]] = [[] for _ in range(POSTS)]
    errors: list[BaseException] = []

    def post(k: int) -> None:
        _slow.on = slow
        try:
            gate.wait(10)
            answers[k] = p.lab.record(lab, lab_id, items)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(k,)) for k in range(POSTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "a post did not finish within 30 s"
    return answers


def _scalar(p: Platform, sql: str, **params: Any) -> Any:
    with p.deps.uow(readonly=True) as uow:
        return uow.conn.execute(text(sql), params).scalar_one()  # type: ignore[attr-defined]


def test_the_same_results_posted_twice_at_once_are_applied_once(
        platform: Platform, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    p = platform
    city = seed_example_city(p, people=2 * TRIALS * POOL * 12 // 7 + 20)
    with p.deps.uow(readonly=True) as uow:
        plain = [r[0] for r in uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = '' ORDER BY id").all()]
    assert len(plain) >= 2 * TRIALS * POOL
    lab_id = city.labs["lab1"]
    trials = _round(p, clock, lab_id, city.sites["140105"], plain)
    lab = Principal("u-l", "lab", Role.LAB, lab_id)
    second = Principal("u-l2", "lab-second", Role.LAB, lab_id)  # approves the corrections
    read = SqlResults.tubes_for_results

    def slow_read(self: SqlResults, barcodes: Iterable[str],
                  *a: Any, **kw: Any) -> dict[str, ResultTube]:
        tubes = read(self, barcodes, *a, **kw)
        if getattr(_slow, "on", False):
            time.sleep(SLOW_S)
        return tubes

    monkeypatch.setattr(SqlResults, "tubes_for_results", slow_read)
    wrong: Counter[str] = Counter()  # trials with any wrong count, by step and timing
    first: dict[str, str] = {}
    started = time.monotonic()
    for k, (pos, neg) in enumerate(trials):
        timing = "slow" if k % 2 else "natural"
        audited = _scalar(p, "SELECT COALESCE(max(seq), 0) FROM audit_log")
        answers = _post_at_once(p, lab, lab_id, [
            ResultInput(pos, "positive", {"ORF1ab": 28.5, "N": 29.0}),
            # written with blanks around it: found in the same read, answered as stored
            ResultInput(f" {neg} " if k % 4 < 2 else neg, "negative")], timing == "slow")
        problems = _check_results(p, audited, answers, pos, neg)
        if problems:
            wrong[f"results, {timing}"] += 1
            first.setdefault(f"results, {timing}", f"trial {k}: {problems[:4]}")
        clock.advance(timedelta(minutes=1))
        audited = _scalar(p, "SELECT COALESCE(max(seq), 0) FROM audit_log")
        answers = _post_at_once(p, lab, lab_id, [
            ResultInput(pos, "negative", correction_reason="plate re-run: contaminated well")],
            timing == "slow")
        problems = _check_correction(p, audited, answers, pos, second)
        if problems:
            wrong[f"correction, {timing}"] += 1
            first.setdefault(f"correction, {timing}", f"trial {k}: {problems[:4]}")
        clock.advance(timedelta(minutes=1))
    elapsed = time.monotonic() - started
    assert not wrong, f"of {TRIALS} trials, wrong: {dict(wrong)}; {first}"
    assert elapsed < 60


def _members(p: Platform, barcode: str) -> list[Any]:
    """(person, status's open recall, test state, open recalls, the first open recall) of
    every member of a tube."""
    with p.deps.uow(readonly=True) as uow:
        return list(uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT s.person_id, ps.open_recall_id, ps.test_state, "
            " (SELECT count(*) FROM recalls r WHERE r.person_id = s.person_id "
            "  AND r.status = 'open'), "
            " (SELECT min(r.id) FROM recalls r WHERE r.person_id = s.person_id "
            "  AND r.status = 'open') "
            "FROM samples s JOIN tubes t ON t.id = s.tube_id "
            "JOIN person_status ps ON ps.person_id = s.person_id "
            "WHERE t.barcode = :b"), {"b": barcode}).all())


def _answers(answers: list[list[ResultOutcome]], barcode: str, applied: str) -> list[str]:
    got = sorted(o.status for a in answers for o in a if o.barcode == barcode)
    want = sorted([applied] + ["duplicate"] * (POSTS - 1))
    return [] if got == want else [f"{barcode} answered {got}"]


def _log_rows(p: Platform, barcode: str, want: int) -> list[str]:
    n = _scalar(p, "SELECT count(*) FROM result_log r JOIN tubes t ON t.id = r.tube_id "
                   "WHERE t.barcode = :b", b=barcode)
    return [] if n == want else [f"{n} result rows for {barcode}"]


def _audited(p: Platform, after: int, count: str) -> list[int]:
    """The ``count`` of every results audit entry after ``after`` that counts any."""
    with p.deps.uow(readonly=True) as uow:
        return [n for e in uow.audit_log.entries(after, 1000)
                if e.action == "results.record"
                and isinstance(n := e.detail[count], int) and n > 0]


def _check_results(p: Platform, audited: int, answers: list[list[ResultOutcome]],
                   pos: str, neg: str) -> list[str]:
    """What is wrong with one trial's results; empty when they were applied once."""
    problems = (_answers(answers, pos, "accepted") + _answers(answers, neg, "accepted")
                + _log_rows(p, pos, 1) + _log_rows(p, neg, 1))
    rows = _members(p, pos)
    if len(rows) != POOL:
        problems.append(f"{len(rows)} members in the positive pool")
    for pid, open_recall, state, n_open, recall in rows:
        if n_open != 1 or open_recall != recall or state != "pending_retest":
            problems.append(f"member {pid}: {n_open} open recalls, status {state} points to "
                            f"{'it' if open_recall == recall else open_recall}")
    if (accepting := _audited(p, audited, "accepted")) != [2]:
        problems.append(f"audit entries accepting: {accepting}")
    return problems


def _check_correction(p: Platform, audited: int, answers: list[list[ResultOutcome]],
                      pos: str, second: Principal) -> list[str]:
    """What is wrong with one trial's correction; empty when it was asked for once (one
    request; the other answers duplicates of it) and applied once by the second lab user's
    approval."""
    problems = _answers(answers, pos, "correction_requested")
    ids = {o.correction_id for a in answers for o in a if o.barcode == pos}
    if len(ids) != 1 or None in ids:
        problems.append(f"correction ids {ids}")
    if (asked := _audited(p, audited, "corrections_requested")) != [1]:
        problems.append(f"audit entries asking: {asked}")
    pending = _scalar(p, "SELECT count(*) FROM result_corrections r JOIN tubes t ON "
                         "t.id = r.tube_id WHERE t.barcode = :b AND r.status = 'pending'",
                      b=pos)
    if pending != 1 or problems:
        return [*problems, f"{pending} requests pending"]
    p.corrections.approve(second, ids.pop() or "")
    problems += _log_rows(p, pos, 2)
    cancelled = _scalar(p, "SELECT count(*) FROM recalls r JOIN tubes t "
                           "ON t.id = r.pool_tube_id WHERE t.barcode = :b "
                           "AND r.status = 'cancelled'", b=pos)
    if cancelled != POOL:
        problems.append(f"{cancelled} recalls cancelled")
    for pid, open_recall, state, n_open, _ in _members(p, pos):
        if n_open or open_recall is not None or state != "negative":
            problems.append(f"member {pid}: {n_open} open recalls, status {state}")
    return problems
