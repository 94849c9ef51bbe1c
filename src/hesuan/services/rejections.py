"""Rejected specimens (不合格样本): a lab refuses a tube it cannot test, when the courier's box is
opened (``DeliveryService.receive``) or at the bench, with a code from the domain's list
(``hesuan.domain.specimens``).

The tube leaves the lab queue for good (``rejected``: never placed on a plate nor resulted); a
plate being built that holds it has the tube's well emptied, and a plate past building keeps the
tube in its well, its release leaving the tube as it is. Every member of the tube is recalled for
a new single-tube sample (``tube_rejected``), told once by SMS with the reason in plain words,
and sees the reason on their page. Each rejection is audited.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hesuan.domain.access import Action, Principal, Target, authorize
from hesuan.domain.errors import NotFound
from hesuan.domain.json import JsonObject
from hesuan.domain.results import RecallReason
from hesuan.domain.runs import PlateStatus
from hesuan.domain.sampling import barcode_key, check_tube_barcode
from hesuan.domain.specimens import (
    RejectionCode,
    RejectionStage,
    check_declared_missing,
    check_rejectable,
    parse_rejection,
)
from hesuan.services.context import Deps
from hesuan.services.corrections_ports import RejectionRow
from hesuan.services.lab import recall_without_result
from hesuan.services.ports import UnitOfWork
from hesuan.services.status import StatusService

__all__ = ["CheckedRejection", "RejectionInput", "RejectionService", "parse_rejections"]

#: Rejections listed at most by one read.
MAX_LISTED = 500


@dataclass(frozen=True, slots=True)
class RejectionInput:
    """A tube to reject: its barcode, the code of the reason, and a note (required with
    ``other``)."""

    barcode: str
    code: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class CheckedRejection:
    barcode: str
    code: RejectionCode
    note: str | None


def parse_rejections(items: Sequence[RejectionInput]) -> list[CheckedRejection]:
    """Each rejection's barcode, code and note checked (before anything is read)."""
    out = []
    for it in items:
        code, note = parse_rejection(it.code, it.note)
        out.append(CheckedRejection(check_tube_barcode(it.barcode), code, note))
    return out


class RejectionService:
    def __init__(self, deps: Deps, status: StatusService) -> None:
        self._d = deps
        self._status = status

    def reject(self, actor: Principal, lab_id: str, item: RejectionInput) -> RejectionRow:
        """Reject a tube at the bench: the lab received it and has not released its result."""
        authorize(actor, Action.REJECT_SPECIMEN, Target(lab=lab_id), field="lab_id")
        checked = parse_rejections([item])
        now = self._d.clock.now()
        with self._d.uow() as uow:
            if uow.places.lab(lab_id) is None:
                raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
            (row,) = self.reject_in(uow, actor, lab_id, checked, RejectionStage.BENCH, now)
            uow.commit()
        return row

    def reject_in(self, uow: UnitOfWork, actor: Principal, lab_id: str,
                  items: Sequence[CheckedRejection], stage: RejectionStage,
                  now: datetime) -> list[RejectionRow]:
        """Reject tubes ``lab_id`` has received, within the caller's unit of work (a box's
        receipt rejects its tubes in the receipt's transaction): one refused tube refuses
        all, nothing written. Audited, each tube."""
        if not items:
            return []
        tubes = uow.results.tubes_for_results([it.barcode for it in items], for_update=True)
        rows: list[RejectionRow] = []
        for it in items:
            if stage is not RejectionStage.RECEIPT:  # the receipt checks it against its box
                check_declared_missing(it.code, it.barcode, stage, ())
            t = tubes.get(barcode_key(it.barcode))
            if t is None:
                raise NotFound("barcode: no tube with this barcode exists", code="unknown_tube",
                               field="barcode")
            check_rejectable(t.status, t.lab_id == lab_id, it.code)
            plate_id = self._off_the_bench(uow, t.barcode, t.id)
            rows.append(RejectionRow(t.id, lab_id, it.code, stage, it.note, plate_id,
                                     actor.user_id, now, t.barcode))
        uow.rejections.add(rows)
        members = uow.results.tube_members(r.tube_id for r in rows)
        params: dict[str, JsonObject] = {
            r.tube_id: {"code": r.code.value, "why_zh": r.code.words("zh"),
                        "why_en": r.code.words("en")} for r in rows}
        recall_without_result(uow, self._d, members, RecallReason.TUBE_REJECTED, "rejected",
                              {r.tube_id: f"rejected:{r.tube_id}" for r in rows}, params, now)
        recalled = list({m.person_id for m in members})
        self._status.refresh(uow, now, person_ids=recalled)
        # pending a re-test now (yellow): their green passes are untrue (a red one stays)
        uow.passes.revoke_passes(recalled, now, "rejected", keep_red=True)
        people = {r.tube_id: 0 for r in rows}
        for m in members:
            people[m.tube_id] += 1
        for r in rows:
            uow.audit_log.append(now, actor.username, "specimen.reject", f"tube:{r.barcode}", {
                "lab_id": lab_id, "code": r.code.value, "stage": r.stage.value, "note": r.note,
                "plate_id": r.plate_id, "people_recalled": people[r.tube_id]})
        return rows

    @staticmethod
    def _off_the_bench(uow: UnitOfWork, barcode: str, tube_id: str) -> str | None:
        """The plate that holds the tube, if one does; a plate being built lets it go (its
        well emptied), a ready or imported one keeps it in its well, never to release it."""
        bench = uow.plates.bench_tube(barcode, for_update=True)
        if bench is None or bench.plate_id is None:
            return None
        plate = uow.plates.plate(bench.plate_id, for_update=True)
        if plate is not None and plate.status is PlateStatus.BUILDING:
            for w in uow.plates.wells(plate.id):
                if w.tube_id == tube_id:
                    uow.plates.remove_well(plate.id, w.well)
        return bench.plate_id

    def rejections(self, actor: Principal, lab_id: str, limit: int = 100) -> list[RejectionRow]:
        """A lab's rejected specimens, newest first."""
        authorize(actor, Action.READ_LAB_QUEUE, Target(lab=lab_id), field="lab_id")
        with self._d.uow(readonly=True) as uow:
            return uow.rejections.lab_rejections(lab_id, max(1, min(limit, MAX_LISTED)))
