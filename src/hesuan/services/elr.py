"""Electronic lab reports out (docs/INTEROP.md "Out"): queued in the fan-out's transaction,
delivered afterwards, each exactly once.

**Queued** by ``LabService.fan_out`` (the one step both a release and a correction pass
through), set-based: a report per person a result reaches, per format — an ELR is a report on a
person, so a pooled tube (混管) gives one to each of its members, each saying how many samples
the tube held (SPM-13). Keyed by the result-log entry, the person and the format, so a replay
queues nothing new. ``ElrPolicy`` says which results (positives, and corrections of what was
sent, or all) and which formats. An approved **cancellation** (``services/corrections.py``, which
does not pass through the fan-out) queues, in its own transaction and by the same rules, a
report per member withdrawing the released result (a withdrawn positive always), under the same
report id so the receiver replaces what it has.

**Delivered** by ``ElrService.deliver`` through the outbox's loop (``services/handover.py``,
docs/SMS.md "Exactly once"):
each report is written from storage (the person decrypted only as far as the receiver is
entitled to, ``entitled_person``; never logged), claimed and committed before it is handed to
the transport, and marked sent in the transaction of the next claim. A refusal is retried with
back-off; a report the receiver may have without having said so stays claimed, in doubt — the
transport's own record settles it (a folder: the file is there or not), or an operator does
(``in_doubt``, ``settle``). A report whose result or person is gone is closed unsent.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hesuan.domain.access import Action, Principal, authorize
from hesuan.domain.errors import HesuanError
from hesuan.domain.people import IdKind
from hesuan.domain.results import Result
from hesuan.domain.sampling import TubeStatus
from hesuan.services.assays import read_assay
from hesuan.services.context import Deps
from hesuan.services.elr_ports import (
    CtValue,
    District,
    ElrAssay,
    ElrCorrection,
    ElrReport,
    ElrRoute,
    ElrWithdrawal,
    Identity,
    Organization,
    entitled_person,
)
from hesuan.services.elr_queue_ports import (
    ElrFormat,
    ElrKey,
    ElrQueued,
    ElrRefused,
    ElrSource,
    ElrTransport,
)
from hesuan.services.handover import HandOver, Unsendable
from hesuan.services.ports import UnitOfWork

__all__ = ["ElrDeliveryReport", "ElrPolicy", "ElrService", "ElrWriters", "elr_report"]

#: The assay of a result a lab sent without a plate (its own assay, not named to us).
_LAB_ASSAY = ElrAssay("lab-reported", "SARS-CoV-2 RNA (the lab's own assay)")


@dataclass(frozen=True, slots=True)
class ElrPolicy:
    """Which results are reported, in which formats."""

    formats: tuple[ElrFormat, ...]
    positives_only: bool = True

    def queue(self, uow: UnitOfWork, now: datetime) -> int:
        """The fan-out's step: a report per format for each person of the staged batch."""
        return uow.elr_outbox.queue([f.value for f in self.formats], self.positives_only, now)

    def queue_withdrawals(self, uow: UnitOfWork, log_ids: Sequence[str], now: datetime) -> int:
        """A cancellation's step: a report per format for each member of the tube of each
        result-log entry ``log_ids`` that withdraws a released result."""
        return uow.elr_outbox.queue_withdrawals(log_ids, [f.value for f in self.formats],
                                                self.positives_only, now)


#: The writers of each format (``adapters/elr``: ``to_hl7_oru``, ``to_fhir_bundle``).
ElrWriters = dict[ElrFormat, Callable[[ElrReport], bytes]]


@dataclass(frozen=True, slots=True)
class ElrDeliveryReport:
    sent: int
    failed: int
    in_doubt: int = 0
    closed: int = 0  # closed unsent: the result or the person is gone


def _digest(*parts: str) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]


def elr_report(key: ElrKey, src: ElrSource, route: ElrRoute,
               decrypt: Callable[[bytes], str]) -> ElrReport:
    """The report ``key`` from what storage holds, the person as ``route``'s receiver is
    entitled to know them (decrypted only then)."""
    withdrawal = None
    if src.result == TubeStatus.CANCELLED.value and src.previous is not None:
        # a cancellation: the result it withdraws, and no result in its place
        withdrawal = ElrWithdrawal(Result(src.previous),
                                   src.previous_released_at or src.released_at,
                                   src.reason or "cancelled")
    result = None if withdrawal is not None else Result(src.result)
    identity = None
    if route.disclosure.value == "full":
        identity = Identity(decrypt(src.name_enc), IdKind(src.id_kind), decrypt(src.id_enc),
                            phone=decrypt(src.phone_enc) if src.phone_enc else None,
                            address=src.address or None)
    district = src.grid_code[:6]
    person = entitled_person(route.disclosure, src.person_id,
                             District(district, src.district_name or district), identity)
    # the viral targets' Ct values (the assay's internal control is the lab's own check)
    viral = None if src.assay_definition is None else {
        t.name for t in read_assay(src.assay_definition).viral_targets}
    ct = tuple(CtValue(target, float(value)) for target, value in (src.ct or {}).items()
               if isinstance(value, int | float) and (viral is None or target in viral)
               ) if result is Result.POSITIVE else ()
    correction = None
    if withdrawal is None and src.previous is not None and src.previous != src.result:
        correction = ElrCorrection(Result(src.previous),
                                   src.previous_released_at or src.released_at,
                                   src.reason or "corrected")
    assay = _LAB_ASSAY if src.assay_id is None else ElrAssay(
        f"{src.assay_id}@{src.assay_version}"[:20], src.assay_name or src.assay_id)
    lab = Organization(src.lab_name, src.lab_id, "L",
                       short_name=None if len(src.lab_name) <= 20 else src.lab_id[:20])
    return ElrReport(
        message_id=key.message_id, report_id=f"r-{_digest(src.tube_id, src.person_id)}",
        specimen_id=src.barcode, lab=lab, assay=assay, result=result,
        collected_at=src.collected_at, released_at=src.released_at, person=person,
        route=route, ct=ct, received_at=src.received_at, resulted_at=src.resulted_at,
        pool_size=max(1, src.pool_size), correction=correction, withdrawal=withdrawal)


class ElrService:
    """Delivers the queued electronic lab reports, each handed to the transport once."""

    def __init__(self, deps: Deps, route: ElrRoute, writers: ElrWriters,
                 transport: ElrTransport,
                 claim_timeout: timedelta = timedelta(seconds=60)) -> None:
        self._d = deps
        self._route = route
        self._writers = writers
        self._transport = transport
        self._loop: HandOver[ElrKey] = HandOver(
            deps, lambda uow: uow.elr_outbox,
            lambda uow, before, limit: [q.key for q in uow.elr_outbox.stale_claims(before, limit)],
            lambda key: key.message_id, claim_timeout)

    def deliver(self, actor: Principal, limit: int = 500) -> ElrDeliveryReport:
        authorize(actor, Action.DELIVER_NOTIFICATIONS)
        done = self._loop.run(
            lambda uow, now: uow.elr_outbox.pending(now, limit),
            key=lambda q: q.key, attempts=lambda q: q.attempts,
            write=lambda q: self._write(q.key),
            hand=lambda q, payload: self._transport.deliver(q.key.message_id,
                                                            ElrFormat(q.key.format), payload),
            transport=self._transport, error_text=_error_text)
        return ElrDeliveryReport(done.sent, done.failed, done.in_doubt, done.closed)

    def in_doubt(self, actor: Principal, limit: int = 1000) -> list[ElrQueued]:
        """Reports claimed and never confirmed, older than the claim timeout (oldest first)."""
        authorize(actor, Action.DELIVER_NOTIFICATIONS)
        with self._d.uow(readonly=True) as uow:
            return uow.elr_outbox.stale_claims(self._loop.stale_before(), limit)

    def settle(self, actor: Principal, message_ids: Sequence[str], *, taken: bool) -> int:
        """An operator's decision on reports in doubt, by message id, from the receiver's own
        record: it has them (``taken``: marked sent) or it never got them (delivered again by
        the next pass). Only reports in doubt are changed; how many were. Audited."""
        authorize(actor, Action.DELIVER_NOTIFICATIONS)
        return self._loop.settle(actor.username, message_ids, taken=taken,
                                 audit_action="elr.settle", audit_subject="elr_outbox")

    def _write(self, key: ElrKey) -> bytes:
        with self._d.uow(readonly=True) as uow:
            src = uow.elr_outbox.source(key)
        if src is None:  # nothing left to report on: closed, never retried
            raise Unsendable("gone")
        report = elr_report(key, src, self._route, self._d.vault.decrypt)
        return self._writers[ElrFormat(key.format)](report)


def _error_text(exc: Exception) -> str:
    """The error's kind and code only (a message could carry the person's data), and a
    receiver's refusal in its own words."""
    error = exc.code if isinstance(exc, HesuanError) else type(exc).__name__
    return f"{error}: {exc}" if isinstance(exc, ElrRefused) else error
