"""Electronic lab reports out (docs/INTEROP.md "Out"): queued in the fan-out's transaction,
delivered afterwards, each exactly once.

**Queued** by ``LabService.fan_out`` (the one step both a release and a correction pass
through), set-based: a report per person a result reaches, per format — an ELR is a report on a
person, so a pooled tube (混管) gives one to each of its members, each saying how many samples
the tube held (SPM-13). Keyed by the result-log entry, the person and the format, so a replay
queues nothing new. ``ElrPolicy`` says which results (positives, and corrections of a positive,
or all) and which formats. An approved **cancellation** (``services/corrections.py``, which
does not pass through the fan-out) queues, in its own transaction and by the same rules, a
report per member withdrawing the released result (a withdrawn positive always), under the same
report id so the receiver replaces what it has.

**Delivered** by ``ElrService.deliver`` with the outbox's rules (docs/SMS.md "Exactly once"):
each report is written from storage (the person decrypted only as far as the receiver is
entitled to, ``entitled_person``; never logged), claimed and committed before it is handed to
the transport, and marked sent in the transaction of the next claim. A refusal is retried with
back-off; a report the receiver may have without having said so stays claimed, in doubt — the
transport's own record settles it (a folder: the file is there or not), or an operator does
(``in_doubt``, ``settle``).

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
from hesuan.services.ports import SendInDoubt, SendRecord, UnitOfWork

__all__ = ["ElrDeliveryReport", "ElrPolicy", "ElrService", "ElrWriters", "elr_report"]

_MAX_BACKOFF = timedelta(hours=1)
_SETTLE_BATCH = 1000
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
        self._claim_timeout = claim_timeout

    def deliver(self, actor: Principal, limit: int = 500) -> ElrDeliveryReport:
        authorize(actor, Action.DELIVER_NOTIFICATIONS)
        in_doubt = self._settle_stale_claims()
        now = self._d.clock.now()
        with self._d.uow(readonly=True) as uow:
            batch = uow.elr_outbox.pending(now, limit)
        sent = failed = 0
        handed: ElrKey | None = None  # handed over; its sent mark goes with the next claim
        for queued in batch:
            key = queued.key
            try:
                payload = self._write(key)
            except Exception as exc:  # not written (its data, the extra): retried later
                failed += 1
                self._failed(key, queued.attempts, exc, now)
                continue
            with self._d.uow() as uow:  # one commit a report: the last one's mark, this claim
                at = self._d.clock.now()
                if handed is not None:
                    uow.elr_outbox.sent([handed], at)
                mine = uow.elr_outbox.claim(key, at)
                uow.commit()
            handed = None
            if not mine:  # another process claimed it since the batch was read
                continue
            try:
                self._transport.deliver(key.message_id, ElrFormat(key.format), payload)
            except SendInDoubt as exc:  # the receiver may have it: kept claimed, not resent
                in_doubt += 1
                with self._d.uow() as uow:
                    uow.elr_outbox.in_doubt(key, f"in_doubt: {exc}")
                    uow.commit()
                continue
            except Exception as exc:  # the receiver did not take it: retried later
                failed += 1
                self._failed(key, queued.attempts, exc, now)
                continue
            sent += 1
            handed = key
        if handed is not None:
            with self._d.uow() as uow:
                uow.elr_outbox.sent([handed], self._d.clock.now())
                uow.commit()
        return ElrDeliveryReport(sent, failed, in_doubt)

    def in_doubt(self, actor: Principal, limit: int = 1000) -> list[ElrQueued]:
        """Reports claimed and never confirmed, older than the claim timeout (oldest first)."""
        authorize(actor, Action.DELIVER_NOTIFICATIONS)
        with self._d.uow(readonly=True) as uow:
            return uow.elr_outbox.stale_claims(self._stale_before(), limit)

    def settle(self, actor: Principal, message_ids: Sequence[str], *, taken: bool) -> int:
        """An operator's decision on reports in doubt, by message id, from the receiver's own
        record: it has them (``taken``: marked sent) or it never got them (delivered again by
        the next pass). Only reports in doubt are changed; how many were. Audited."""
        authorize(actor, Action.DELIVER_NOTIFICATIONS)
        wanted = set(message_ids)
        with self._d.uow() as uow:
            before = self._stale_before()
            chosen = [q.key for q in uow.elr_outbox.stale_claims(before, 1_000_000)
                      if q.key.message_id in wanted]
            now = self._d.clock.now()
            if taken:
                uow.elr_outbox.sent(chosen, now)
                n = len(chosen)
            else:
                n = uow.elr_outbox.release(chosen, before)
            uow.audit_log.append(now, actor.username, "elr.settle", "elr_outbox",
                                 {"decision": "sent" if taken else "resend",
                                  "messages": [k.message_id for k in chosen]})
            uow.commit()
        return n

    def _stale_before(self) -> datetime:
        return self._d.clock.now() - self._claim_timeout

    def _write(self, key: ElrKey) -> bytes:
        with self._d.uow(readonly=True) as uow:
            src = uow.elr_outbox.source(key)
        if src is None:
            raise LookupError("the result or the person is gone")
        report = elr_report(key, src, self._route, self._d.vault.decrypt)
        return self._writers[ElrFormat(key.format)](report)

    def _settle_stale_claims(self) -> int:
        """Settle what crashed deliveries left in doubt, by the transport's own record when it
        keeps one: taken → marked sent; never taken → released, delivered in this run. The
        count of those still in doubt."""
        before = self._stale_before()
        with self._d.uow(readonly=True) as uow:
            stale = [q.key for q in uow.elr_outbox.stale_claims(before, _SETTLE_BATCH)]
        if not stale:
            return 0
        if not isinstance(self._transport, SendRecord):
            return len(stale)
        taken = self._transport.took([k.message_id for k in stale])
        with self._d.uow() as uow:
            uow.elr_outbox.sent([k for k in stale if k.message_id in taken],
                                self._d.clock.now())
            uow.elr_outbox.release([k for k in stale if k.message_id not in taken], before)
            uow.commit()
        return 0

    def _failed(self, key: ElrKey, attempts: int, exc: Exception, now: datetime) -> None:
        backoff = min(timedelta(seconds=30 * 2 ** attempts), _MAX_BACKOFF)
        # the error's kind and code only: a message could carry the person's data
        error = exc.code if isinstance(exc, HesuanError) else type(exc).__name__
        if isinstance(exc, ElrRefused):
            error = f"{error}: {exc}"
        with self._d.uow() as uow:
            uow.elr_outbox.failed(key, error, now + backoff)
            uow.commit()
