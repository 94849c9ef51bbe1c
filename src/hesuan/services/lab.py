"""Testing (检): a lab records results per tube; the results fan out to every member (报).

Accepted only for tubes this lab has received. The same result twice is a no-op, also when the
same results arrive twice at once: each tube is resulted once, by whichever arrives first; a
different result for a resulted tube is a conflict unless sent as a correction with a reason
(audited).
Results for unknown tubes are rejected and kept for reconciliation. The fan-out is set-based in
the store: a 1 M-person results file is a handful of statements, not a loop over people.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hesuan.domain.access import Action, Principal, Target, authorize
from hesuan.domain.errors import HesuanError, InvalidInput, NotFound
from hesuan.domain.results import CT_TARGETS, Result, check_ct
from hesuan.domain.sampling import barcode_key, check_tube_barcode
from hesuan.services.context import Deps
from hesuan.services.status import StatusService

__all__ = ["LabService", "ResultInput", "ResultOutcome", "parse_result_row"]


@dataclass(frozen=True, slots=True)
class ResultInput:
    barcode: str
    result: str
    ct: dict[str, float] | None = None
    correction_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ResultOutcome:
    barcode: str
    status: str  # accepted | corrected | duplicate | rejected
    reason: str | None = None
    message: str | None = None
    row: int | None = None


class LabService:
    def __init__(self, deps: Deps, status: StatusService) -> None:
        self._d = deps
        self._status = status

    def record(self, actor: Principal, lab_id: str,
               items: Sequence[ResultInput]) -> list[ResultOutcome]:
        authorize(actor, Action.RECORD_RESULTS, Target(lab=lab_id), field="lab_id")
        now = self._d.clock.now()
        parsed: list[tuple[int, str, Result, dict[str, float] | None, str | None]] = []
        outcomes: list[ResultOutcome | None] = [None] * len(items)
        stats: dict[str, int] = {}
        with self._d.uow() as uow:
            if uow.places.lab(lab_id) is None:
                raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
            # The batch's tubes, read in one statement and held until the commit: a second
            # upload of the same tubes (a lab retrying a slow upload) waits, then reads them
            # resulted and answers duplicate, on PostgreSQL as on SQLite's one writer.
            # A barcode whose stored form is a stored tube's passed the barcode check when the
            # tube was opened: only the others are checked here (the Luhn check was a fifth of
            # a results file's CPU).
            keys = [barcode_key(it.barcode) for it in items]
            tubes = uow.results.tubes_for_results(keys, for_update=True)
            for i, it in enumerate(items):
                try:
                    barcode = keys[i] if keys[i] in tubes else check_tube_barcode(it.barcode)
                    result = Result.parse(it.result)
                    ct = check_ct(it.ct)
                    reason = (it.correction_reason or "").strip() or None
                except HesuanError as exc:
                    outcomes[i] = ResultOutcome(it.barcode, "rejected", exc.code, exc.message)
                    continue
                parsed.append((i, barcode, result, ct, reason))
            new: list[tuple[str, Result, dict[str, float] | None]] = []
            corrections: list[tuple[str, Result, dict[str, float] | None, str, str]] = []
            rejected_rows: list[dict[str, Any]] = []
            in_batch: dict[str, Result] = {}
            for i, barcode, result, ct, reason in parsed:
                t = tubes.get(barcode)
                if t is None:
                    outcomes[i] = ResultOutcome(barcode, "rejected", "unknown_tube",
                                                "barcode: no tube with this barcode exists")
                    rejected_rows.append({"id": self._d.new_id(), "lab_id": lab_id,
                                          "barcode": barcode, "reason": "unknown_tube",
                                          "actor": actor.user_id, "at": now})
                    continue
                if t.lab_id != lab_id or t.status not in ("received", "resulted"):
                    outcomes[i] = ResultOutcome(barcode, "rejected", "not_received",
                                                "barcode: this lab has not received the tube")
                    continue
                current = in_batch.get(barcode) or (Result(t.result) if t.result else None)
                if current is None:
                    new.append((t.id, result, ct))
                    in_batch[barcode] = result
                    outcomes[i] = ResultOutcome(barcode, "accepted")
                elif current is result and (reason is None or (barcode not in in_batch
                                                               and ct == t.ct)):
                    # a correction that changes nothing (a lab's retry of one) is a duplicate
                    outcomes[i] = ResultOutcome(barcode, "duplicate")
                elif barcode in in_batch:
                    # one result per tube per batch: the fan-out writes each tube once, and a
                    # correction must be its own audited step after the result it corrects
                    outcomes[i] = ResultOutcome(
                        barcode, "rejected", "twice_in_batch",
                        "barcode: this tube already has a result in this batch; send its "
                        "correction in a later one")
                elif reason is None:
                    outcomes[i] = ResultOutcome(
                        barcode, "rejected", "result_conflict",
                        f"result: the tube is already {current}; send a correction with a "
                        f"reason to change it")
                else:
                    corrections.append((t.id, result, ct, reason, current.value))
                    in_batch[barcode] = result
                    outcomes[i] = ResultOutcome(barcode, "corrected")
            if rejected_rows:
                uow.results.reject_results(rejected_rows)
            if new or corrections:
                stats = uow.results.apply_results(lab_id, new, corrections, actor.user_id, now,
                                          self._d.new_id, now + self._d.limits.recall_due)
                # the fan-out decides the plain members itself; the refresh the rest
                stats["statuses_decided"] = (stats.get("statuses_decided", 0)
                                             + self._status.refresh(uow, now, in_results=True))
            uow.audit_log.append(now, actor.username, "results.record", f"lab:{lab_id}",
                      {"accepted": len(new), "corrected": len(corrections),
                       "rejected": sum(1 for o in outcomes if o and o.status == "rejected")}
                      | stats)
            uow.commit()
        return [o for o in outcomes if o is not None]

    def import_rows(self, actor: Principal, lab_id: str, rows: Iterable[Mapping[str, Any]],
                    chunk: int = 20000) -> tuple[list[ResultOutcome], int]:
        """Record results from table rows (CSV/Excel), ``chunk`` rows a transaction.
        Returns the outcomes that were not plain acceptances, and the number of rows."""
        report: list[ResultOutcome] = []
        batch: list[ResultInput] = []
        rownos: list[int] = []
        total = 0

        def flush() -> None:
            for n, o in zip(rownos, self.record(actor, lab_id, batch), strict=True):
                if o.status != "accepted":
                    report.append(ResultOutcome(o.barcode, o.status, o.reason, o.message, n))

        for n, raw in enumerate(rows, start=2):
            total += 1
            try:
                batch.append(parse_result_row(raw))
                rownos.append(n)
            except HesuanError as exc:
                report.append(ResultOutcome(str(raw.get("barcode", "")), "rejected", exc.code,
                                            exc.message, n))
            if len(batch) >= chunk:
                flush()
                batch, rownos = [], []
        if batch:
            flush()
        return report, total


def parse_result_row(raw: Mapping[str, Any]) -> ResultInput:
    """A results-file row: barcode, result, optional ct_ORF1ab / ct_N / ct_E, optional
    correction_reason."""
    barcode = str(raw.get("barcode") or "").strip()
    result = str(raw.get("result") or "").strip()
    if not barcode:
        raise InvalidInput("barcode is required", code="missing_field", field="barcode")
    if not result:
        raise InvalidInput("result is required", code="missing_field", field="result")
    ct: dict[str, float] = {}
    for target in CT_TARGETS:
        v = raw.get(f"ct_{target}")
        if v is None or str(v).strip() == "":
            continue
        try:
            ct[target] = float(v)
        except ValueError:
            raise InvalidInput(f"ct_{target} must be a number", code="bad_ct",
                               field=f"ct_{target}") from None
    reason = str(raw.get("correction_reason") or "").strip() or None
    return ResultInput(barcode, result, ct or None, reason)
