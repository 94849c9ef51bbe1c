"""A results file applied in chunks, several at once on PostgreSQL (``result_chunks_at_once``,
each chunk its own transaction on its own connection), ends as one chunk after the other
would: every tube's last word holds, a correction in the chunk after its result is applied
after it, duplicates and unknown tubes are answered in row order. SQLite applies one chunk
at a time. And a deadlock the database breaks between two transactions leaves the loser as a
``WriteRace``, which the services retry, with nothing of it written."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.services.lab import ResultInput, ResultOutcome
from hesuan.services.ports import WriteRace
from hesuan.sim.example import seed_example_city
from tests.helpers import received_pools

POOL = 5
TUBES = 12


def _received_round(p: Platform, clock: FixedClock) -> tuple[str, list[str]]:
    """``TUBES`` pools of ``POOL`` sampled, boxed and received by the city's lab: the lab's id
    and the tubes' barcodes."""
    city = seed_example_city(p, people=TUBES * POOL * 2 + 20)
    with p.deps.uow(readonly=True) as uow:
        plain = [r[0] for r in uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT id FROM people WHERE groups = '' ORDER BY id").all()]
    lab_id = city.labs["lab1"]
    tubes = [make_tube_barcode(5000 + i) for i in range(TUBES)]
    received_pools(p, clock, lab_id, city.sites["140105"], plain, tubes, POOL, make_box_code(55))
    return lab_id, tubes


def test_a_file_applied_in_chunks_at_once_ends_as_one_chunk_after_the_other(
        platform: Platform, clock: FixedClock, backend: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    p = platform
    lab_id, t = _received_round(p, clock)
    lab = Principal("u-l", "lab", Role.LAB, lab_id)
    unknown = make_tube_barcode(99_999)
    rows = (
        # chunk 1: tubes 0-3
        [{"barcode": t[0], "result": "negative"}, {"barcode": t[1], "result": "negative"},
         {"barcode": t[2], "result": "positive", "ct_ORF1ab": "30.1"},
         {"barcode": t[3], "result": "negative"}]
        # chunk 2: tube 3's correction (a request: a second lab user applies it), which must
        # wait for chunk 1
        + [{"barcode": t[3], "result": "positive", "correction_reason": "re-run: a late Ct"},
           {"barcode": t[4], "result": "negative"}, {"barcode": t[5], "result": "invalid"},
           {"barcode": unknown, "result": "negative"}]
        # chunk 3: nothing of chunk 2's, applied beside it on PostgreSQL
        + [{"barcode": t[i], "result": "negative"} for i in range(6, 10)]
        # chunk 4: the last two tubes, and tube 0 again (a duplicate)
        + [{"barcode": t[10], "result": "negative"}, {"barcode": t[0], "result": "negative"},
           {"barcode": t[11], "result": "negative"}])
    record, lock = p.lab.record, threading.Lock()
    spans: dict[str, tuple[float, float]] = {}
    running, most = [0], [0]

    def timed(actor: Principal, lab_id: str, items: list[ResultInput]) -> list[ResultOutcome]:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        start = time.perf_counter()
        if items[0].barcode in (t[0], t[3]):  # chunks 1 and 2 are slow uploads
            time.sleep(0.3)
        try:
            return record(actor, lab_id, items)
        finally:
            with lock:
                running[0] -= 1
                spans[items[0].barcode] = (start, time.perf_counter())

    monkeypatch.setattr(p.lab, "record", timed)
    report, total = p.lab.import_rows(lab, lab_id, rows, chunk=4)

    assert total == len(rows)
    assert [(o.row, o.barcode, o.status, o.reason) for o in report] == [
        (6, t[3], "correction_requested", None), (9, unknown, "rejected", "unknown_tube"),
        (15, t[0], "duplicate", None)]
    chunk1, chunk2, chunk3 = spans[t[0]], spans[t[3]], spans[t[6]]
    assert chunk2[0] >= chunk1[1], "the correction's chunk started before its tube's result"
    if backend == "postgres":
        assert most[0] == 2 and chunk3[0] < chunk2[1], "chunks 2 and 3 were not applied at once"
    else:
        assert most[0] == 1
    with p.deps.uow(readonly=True) as uow:
        c: Any = uow.conn  # type: ignore[attr-defined]
        results = dict(c.execute(text("SELECT barcode, result FROM tubes WHERE barcode IN "
                                      "(SELECT barcode FROM tubes WHERE lab_id = :lab)"),
                                 {"lab": lab_id}).all())
        assert results == {b: ("positive" if i == 2 else "invalid" if i == 5
                               else "negative") for i, b in enumerate(t)}
        assert c.execute(text("SELECT count(*) FROM result_log")).scalar_one() == TUBES
        states: dict[str, set[str]] = {}
        for barcode, state in c.execute(text(
                "SELECT t.barcode, ps.test_state FROM tubes t JOIN samples s ON s.tube_id = t.id "
                "JOIN person_status ps ON ps.person_id = s.person_id")):
            states.setdefault(barcode, set()).add(state)
        assert states == {b: {"pending_retest" if i in (2, 5) else "negative"}
                          for i, b in enumerate(t)}
        # tube 3's correction waits for its second person
        assert c.execute(text(
            "SELECT r.status, r.result FROM result_corrections r JOIN tubes t ON "
            "t.id = r.tube_id WHERE t.barcode = :b"), {"b": t[3]}).all() == [
            ("pending", "positive")]


@pytest.mark.postgres
def test_a_deadlock_leaves_the_rolled_back_unit_of_work_as_a_write_race(
        platform: Platform, backend: str) -> None:
    if backend != "postgres":
        pytest.skip("SQLite has one writer: its transactions never deadlock")
    p = platform
    city = seed_example_city(p, people=20)
    a, b = sorted(city.sites.values())[:2]
    gate = threading.Barrier(2)
    raised: dict[int, BaseException] = {}

    def update(k: int, first: str, then: str) -> None:
        try:
            with p.deps.uow() as uow:
                c: Any = uow.conn  # type: ignore[attr-defined]
                c.execute(text("UPDATE sites SET name = name || :k WHERE id = :id"),
                          {"k": str(k), "id": first})
                gate.wait(10)
                c.execute(text("UPDATE sites SET name = name || :k WHERE id = :id"),
                          {"k": str(k), "id": then})
                uow.commit()
        except BaseException as exc:
            raised[k] = exc

    threads = [threading.Thread(target=update, args=(1, a, b)),
               threading.Thread(target=update, args=(2, b, a))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not any(th.is_alive() for th in threads)
    assert len(raised) == 1, raised
    [(loser, exc)] = raised.items()
    assert isinstance(exc, WriteRace), repr(exc)
    with p.deps.uow(readonly=True) as uow:
        names = [r[0] for r in uow.conn.execute(  # type: ignore[attr-defined]
            text("SELECT name FROM sites WHERE id IN (:a, :b)"), {"a": a, "b": b})]
    # the winner's two updates are there, nothing of the loser's
    assert all(n.endswith(str(3 - loser)) for n in names), names
