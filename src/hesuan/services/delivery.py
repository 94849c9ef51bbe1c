"""Delivery (送): a courier takes a sealed box; a lab receives it and counts its tubes.

Chain of custody (样本交接): every hand-over is a recorded event with its time and who did it;
the courier may confirm the box's count of tubes as its label says, and another count than the
box's record is refused, so that the box is put right at its site.
At receipt the lab scans the tubes it finds (or gives a count); tubes missing from the box or
extra to it are a discrepancy recorded on the box and shown in reconciliation. The lab may
reject tubes of the box it cannot test (leaked, label unreadable, ...: ``RejectionService``) in
the receipt itself: a rejection that is refused refuses the receipt, nothing written. A box
refused at its hand-over is put right at its site: reopened (its record's stray tubes taken
out), packed and sealed again. Each call is idempotent by the client's event id.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from hesuan.domain.access import Action, Principal, Target, authorize
from hesuan.domain.errors import Conflict, InvalidInput, NotFound, RuleViolation
from hesuan.domain.event_ids import canonical_event_id, content_digest
from hesuan.domain.sampling import (
    AT_NO_LAB,
    check_box_code,
    check_event_time,
    check_not_before,
    check_tube_barcode,
)
from hesuan.domain.specimens import RejectionCode, RejectionStage, check_declared_missing
from hesuan.services.context import Deps
from hesuan.services.outbox_ports import AlertRow
from hesuan.services.ports import UnitOfWork
from hesuan.services.rejections import RejectionInput, RejectionService, parse_rejections
from hesuan.services.sampling_ports import BoxReceipt, BoxRecord, StationEventRow

__all__ = ["DeliveryService", "Receipt", "Reopened"]


@dataclass(frozen=True, slots=True)
class Receipt:
    box_code: str
    expected: int
    received: int
    missing: list[str]
    extra: list[str]
    discrepancy: bool
    duplicate: bool = False
    #: received with no courier's hand-over on record: the box's chain of custody is broken,
    #: and an alert (``custody_break``) is raised for the health officers
    custody_break: bool = False
    #: the tubes the lab rejected at receipt (their people recalled)
    rejected: list[str] = field(default_factory=list)
    #: tubes of the platform found in the box though another box's record (or none) holds
    #: them: received as this lab's
    received_extra: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Reopened:
    box_code: str
    tubes: int  # the tubes it holds now
    taken_out: list[str]
    duplicate: bool = False


class DeliveryService:
    def __init__(self, deps: Deps, rejections: RejectionService | None = None) -> None:
        self._d = deps
        self._rejections = rejections

    def hand_over(self, actor: Principal, event_id: str, box_code: str, at: datetime, *,
                  counted: int | None = None) -> bool:
        """Courier scans a sealed box out of its site, confirming its count of tubes (the
        label's: ``counted``) when given. Returns False for a replayed event."""
        code = check_box_code(box_code)
        event_id = canonical_event_id(event_id)
        now = self._d.clock.now()
        digest = content_digest("handover", code)
        with self._d.uow() as uow:
            box = _site_box(uow, actor, Action.HAND_OVER_BOX, code)
            if _seen(uow, event_id, digest):
                return False
            if box.status != "sealed":
                raise _not_ready(uow, box, "collected")
            check_event_time(at, now, self._d.limits.offline_window)
            check_not_before(at, box.sealed_at, "box_sealed")
            if counted is not None and counted != box.tube_count:
                # counts are reconciled at each hand-over: the box is put right at its site
                raise RuleViolation(
                    f"counted: {counted} tubes counted, the box was sealed with "
                    f"{box.tube_count}: check the box at the site before it leaves",
                    code="count_mismatch", field="counted")
            uow.boxes.hand_over_box(box.id, actor.user_id, at)
            uow.station.record_event(StationEventRow(event_id, "handover", box.site_id,
                                                     actor.user_id, at, now, digest))
            uow.audit_log.append(now, actor.username, "box.handover", f"box:{code}",
                                 {} if counted is None else {"counted": counted})
            uow.commit()
        return True

    def reopen(self, actor: Principal, event_id: str, box_code: str, at: datetime, *,
               take_out: Sequence[str] = ()) -> Reopened:
        """The site opens its sealed box again to put it right (a count refused at the
        hand-over, a tube scanned into it that is not in it): its seal and count cleared, the
        tubes ``take_out`` out of its record, sealed and waiting for a box again. The site then
        packs and seals it as any box (``box_tube``, ``seal_box``). Only a box still at its
        site is reopened: sealed, not collected."""
        code = check_box_code(box_code)
        event_id = canonical_event_id(event_id)
        out = sorted({check_tube_barcode(x) for x in take_out})
        now = self._d.clock.now()
        digest = content_digest("reopen", code, *out)
        with self._d.uow() as uow:
            box = _site_box(uow, actor, Action.RECORD_STATION_EVENTS, code)
            packed = {bc: tid for tid, bc in uow.boxes.box_tubes(box.id)}
            if _seen(uow, event_id, digest):
                return Reopened(code, len(packed), out, duplicate=True)
            if box.status != "sealed":
                raise _not_ready(uow, box, "reopened")
            check_event_time(at, now, self._d.limits.offline_window)
            check_not_before(at, box.sealed_at, "box_sealed")
            if outside := [bc for bc in out if bc not in packed]:
                raise RuleViolation(f"take_out: tube {outside[0]} is not in box {code}",
                                    code="not_in_box", field="take_out")
            uow.boxes.reopen_box(box.id, [packed[bc] for bc in out])
            uow.station.record_event(StationEventRow(event_id, "reopen_box", box.site_id,
                                                     actor.user_id, at, now, digest))
            uow.audit_log.append(now, actor.username, "box.reopen", f"box:{code}",
                                 {"sealed_with": box.tube_count, "taken_out": out})
            uow.commit()
        return Reopened(code, len(packed) - len(out), out)

    def receive(self, actor: Principal, event_id: str, lab_id: str, box_code: str,
                at: datetime, tube_barcodes: Sequence[str] | None = None,
                counted: int | None = None,
                rejected: Sequence[RejectionInput] = ()) -> Receipt:
        """Lab scans a box in and reconciles its tubes against what was packed; ``rejected``:
        tubes of the box it cannot test, each with the code of the reason."""
        authorize(actor, Action.RECEIVE_BOX, Target(lab=lab_id), field="lab_id")
        code = check_box_code(box_code)
        event_id = canonical_event_id(event_id)
        if tube_barcodes is None and counted is None:
            raise InvalidInput("give tube_barcodes (scanned) or counted (number of tubes)",
                               code="missing_count", field="tube_barcodes")
        scanned = [check_tube_barcode(x) for x in tube_barcodes] if tube_barcodes else []
        refused = parse_rejections(rejected)
        if refused:
            assert self._rejections is not None, "rejections at receipt need the service"
            authorize(actor, Action.REJECT_SPECIMEN, Target(lab=lab_id), field="lab_id")
        now = self._d.clock.now()
        digest = content_digest("receive", lab_id, code)
        with self._d.uow() as uow:
            if uow.places.lab(lab_id) is None:
                raise NotFound("lab_id: no such lab", code="unknown_lab", field="lab_id")
            box = uow.boxes.box_by_code(code, for_update=True)
            if box is None:
                raise NotFound("box_code: no such box", code="unknown_box", field="box_code")
            if _seen(uow, event_id, digest):
                # the extras this lab holds as its own: those the receipt received
                strays = sorted(t.barcode for t in uow.results.tubes_for_results(
                    box.extra or []).values() if t.lab_id == box.lab_id)
                return _receipt(box, duplicate=True, received_extra=strays)
            if box.status not in ("sealed", "in_transit"):
                raise _not_ready(uow, box, "received")
            check_event_time(at, now, self._d.limits.offline_window)
            if box.handed_over_at is not None:
                check_not_before(at, box.handed_over_at, "handed_over")
            else:
                check_not_before(at, box.sealed_at, "box_sealed")
            packed = dict((bc, tid) for tid, bc in uow.boxes.box_tubes(box.id))
            outside = sorted({r.barcode for r in refused} - set(packed))
            if outside:  # a receipt rejects its own box's tubes only
                raise RuleViolation(f"rejected: tube {outside[0]} is not in box {code}",
                                    code="not_in_box", field="rejected")
            if tube_barcodes is not None:
                seen = set(scanned)
                missing = sorted(set(packed) - seen)
                extra = sorted(seen - set(packed))
                received_ids = [packed[bc] for bc in packed if bc in seen]
                count = len(seen)
            else:
                assert counted is not None
                if counted != len(packed):  # which tubes came is unknown: they are scanned
                    raise RuleViolation(
                        f"counted: {counted} tubes counted, the box holds {len(packed)}: scan "
                        "its tubes (tube_barcodes) so that the missing ones are known",
                        code="count_mismatch", field="counted")
                missing, extra, count = [], [], counted
                received_ids = list(packed.values())
            for r in refused:
                check_declared_missing(r.code, r.barcode, RejectionStage.RECEIPT, missing)
            # the tubes found beyond the box's record and those declared missing, in one read: a
            # tube of the platform at no lab yet is here (received as this lab's, so that it is
            # tested); one declared missing is this lab's to answer, never received (rejected
            # as missing below), unless it reached a lab already (found in another box: not
            # lost)
            declared = [r.barcode for r in refused if r.code is RejectionCode.MISSING]
            named = (uow.results.tubes_for_results([*extra, *declared], for_update=True)
                     if extra or declared else {})
            strays = [bc for bc in extra if bc in named and named[bc].status in AT_NO_LAB]
            for bc in declared:
                if (t := named[bc]).status not in AT_NO_LAB:
                    raise RuleViolation(f"rejected: tube {bc} is not lost: it was received "
                                        f"already ({t.status})", code="not_missing",
                                        field="rejected")
            received_ids += [named[bc].id for bc in strays]
            discrepancy = bool(missing or extra or count != len(packed))
            # a box no courier handed over is still received, never turned away with its
            # samples, but the break in its chain of custody is raised for follow-up
            custody_break = box.status == "sealed"
            if custody_break:
                uow.alerts.add(AlertRow(id=self._d.new_id(), kind="custody_break",
                                        subject_id=box.id, raised_at=now,
                                        detail={"box_code": code, "site_id": box.site_id,
                                                "lab_id": lab_id, "received_at": at.isoformat(),
                                                "received_by": actor.username}))
            uow.boxes.receive_box(box.id, BoxReceipt(lab_id, at, count, missing, extra,
                                                     discrepancy))
            uow.boxes.mark_tubes_received(received_ids, lab_id, at)
            uow.boxes.mark_tubes_missing([packed[bc] for bc in declared], lab_id)
            if refused:
                assert self._rejections is not None
                self._rejections.reject_in(uow, actor, lab_id, refused, RejectionStage.RECEIPT,
                                           now)
            uow.station.record_event(StationEventRow(event_id, "receive", box.site_id,
                                                     actor.user_id, at, now, digest))
            uow.audit_log.append(now, actor.username, "box.receive", f"box:{code}",
                      {"expected": len(packed), "received": count, "missing": len(missing),
                       "extra": len(extra), "received_extra": len(strays),
                       "custody_break": custody_break})
            uow.commit()
        return Receipt(code, len(packed), count, missing, extra, discrepancy,
                       custody_break=custody_break, rejected=[r.barcode for r in refused],
                       received_extra=strays)


def _site_box(uow: UnitOfWork, actor: Principal, action: Action, code: str) -> BoxRecord:
    """The box, read for update, if ``actor`` may do ``action`` at its site."""
    box = uow.boxes.box_by_code(code, for_update=True)
    if box is None:
        raise NotFound("box_code: no such box", code="unknown_box", field="box_code")
    authorize(actor, action, Target(site=box.site_id), field="box_code")
    return box


def _seen(uow: UnitOfWork, event_id: str, digest: str) -> bool:
    """Whether the delivery event was taken before (a replay: nothing more to do); one taken
    for another box (a form's id kept for the next box) is a conflict, not a replay."""
    known = uow.station.known_events([event_id])
    if event_id not in known:
        return False
    if known[event_id] not in (None, digest):  # None: an event kept without its content
        raise Conflict("event_id: this id was taken before for another box; the first stands "
                       "(scan the box again for a new id)", code="event_conflict",
                       field="event_id")
    return True


def _not_ready(uow: UnitOfWork, box: BoxRecord, step: str) -> RuleViolation:
    """Why ``box`` cannot be ``step`` (collected, received, reopened): not sealed yet, or already
    collected (by whom, when) or received (by which lab, when)."""
    detail = {"status": box.status}
    if box.status == "in_transit" and box.handed_over_at is not None:
        courier = box.courier_id or ""
        by = uow.users.usernames([courier]).get(courier, "?")
        detail |= {"by": by, "at": box.handed_over_at.isoformat()}
        why = f"it was already collected by {by} at {detail['at']}"
    elif box.status == "received" and box.received_at is not None:
        lab = uow.places.lab(box.lab_id) if box.lab_id else None
        detail |= {"lab": lab.name if lab else "?", "at": box.received_at.isoformat()}
        why = f"it was already received by {detail['lab']} at {detail['at']}"
    else:
        why = "it is not sealed yet"
    lead = {"received": "the box cannot be received",
            "reopened": "a box can be reopened only at its site, sealed and not yet collected",
            }.get(step, "a box can be collected only once sealed and not yet collected")
    return RuleViolation(f"box_code: {lead}: {why} (it is {box.status})",
                         code="box_not_ready", field="box_code", detail=detail)


def _receipt(box: BoxRecord, duplicate: bool, received_extra: list[str]) -> Receipt:
    return Receipt(box.code, box.tube_count or 0, box.received_count or 0,
                   list(box.missing or []), list(box.extra or []),
                   bool(box.discrepancy), duplicate,
                   custody_break=box.handed_over_at is None, received_extra=received_extra)
