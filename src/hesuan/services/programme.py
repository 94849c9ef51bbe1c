"""The end of the programme (``domain/programme.py``): one health officer of the whole city asks
for the close, a different one approves it; approval exports the final aggregates, destroys every
row of personal data in one transaction, destroys the pass keys and the data key (no copy of the
ciphertext, backups included, can be read after it), checkpoints the audit chain and writes the
destruction certificate signed by the pass root key (docs/RETENTION.md).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hesuan.domain.access import Action, Principal, Target, authorize
from hesuan.domain.errors import Conflict, InvalidInput, NotFound
from hesuan.domain.programme import (
    DESTROYED,
    DESTROYED_ACCOUNTS,
    Certificate,
    ClosureStatus,
    DataKeyState,
    canonical,
    check_approver,
    check_pending,
    digest,
)
from hesuan.services.audit import AuditService
from hesuan.services.auth import SYSTEM
from hesuan.services.context import Deps
from hesuan.services.ports import UnitOfWork
from hesuan.services.retention_ports import (
    CertificateSigner,
    ClosureRow,
    DataKey,
    ProgrammeFiles,
    StoreCompactor,
)

__all__ = ["ClosedProgramme", "ProgrammeService"]


@dataclass(frozen=True, slots=True)
class ClosedProgramme:
    closure_id: str
    document: dict[str, Any]  # the certificate's content, as signed
    aggregates_file: str  # the exported final aggregates (JSON), in the programme folder
    certificate_file: str  # the signed certificate (COSE_Sign1), in the programme folder


class ProgrammeService:
    def __init__(self, deps: Deps, audit: AuditService, signer: CertificateSigner,
                 files: ProgrammeFiles, compactor: StoreCompactor, data_key: DataKey) -> None:
        self._d = deps
        self._data_key = data_key
        self._audit = audit
        self._signer = signer
        self._files = files
        self._compactor = compactor

    def request_close(self, actor: Principal, reason: str) -> str:
        """First officer of two: ask to end the programme. Nothing changes until a different
        health officer of the city approves."""
        if not reason.strip():
            raise InvalidInput("a reason is required", code="missing_field", field="reason")
        now = self._d.clock.now()
        cid = self._d.new_id()
        with self._d.uow() as uow:
            authorize(actor, Action.REQUEST_PROGRAMME_CLOSE, self._city(uow), field="reason")
            if any(c.status == ClosureStatus.CLOSED for c in uow.programme.closures()):
                raise Conflict("the programme is already closed", code="programme_closed",
                               field="reason")
            uow.programme.add_closure(ClosureRow(cid, ClosureStatus.REQUESTED.value,
                                                 reason.strip()[:500], actor.username, now))
            uow.audit_log.append(now, actor.username, "programme.request", f"closure:{cid}",
                                 {"reason": reason.strip()[:500]})
            uow.commit()
        return cid

    def reject_close(self, actor: Principal, closure_id: str) -> None:
        """A second officer declines the close; nothing is destroyed."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            self._pending(uow, actor, closure_id)
            uow.programme.decide_closure(closure_id, ClosureStatus.REJECTED.value,
                                         actor.username, now)
            uow.audit_log.append(now, actor.username, "programme.reject",
                                 f"closure:{closure_id}", {})
            uow.commit()

    def approve_close(self, actor: Principal, closure_id: str) -> ClosedProgramme:
        """Second officer of two: end the programme. The final aggregates are counted and
        exported, then every row of personal data is destroyed (one transaction); then the pass
        keys and the data key; the store's files are rewritten without the deleted rows; the
        audit chain is checkpointed, and the certificate signed and written."""
        now = self._d.clock.now()
        with self._d.uow(readonly=True) as uow:
            self._pending(uow, actor, closure_id)
        # nothing is destroyed that could not be certified: the root key is there, and the
        # audit chain holds (a checkpoint of a broken chain is refused)
        self._signer.check()
        self._audit.checkpoint(SYSTEM)
        with self._d.uow() as uow:
            row = self._pending(uow, actor, closure_id)
            uow.retention.aggregate_samples(None)  # every sample left, before any is deleted
            export = canonical({
                "v": 1, "kind": "hesuan.final-aggregates", "closure": closure_id,
                "exported_at": now.isoformat(),
                "days": [asdict(a) for a in uow.retention.aggregates()]})
            aggregates_file = self._files.write(f"final-aggregates-{closure_id}.json", export)
            uow.retention.mark_recall_resamples(None)  # what prevalence reads of the tubes
            destroyed = dict(uow.programme.destroy(list(DESTROYED)))
            destroyed["users"] = uow.programme.destroy_accounts(list(DESTROYED_ACCOUNTS))
            uow.programme.decide_closure(closure_id, ClosureStatus.CLOSED.value,
                                         actor.username, now)
            uow.audit_log.append(now, actor.username, "programme.close",
                                 f"closure:{closure_id}",
                                 {"destroyed": destroyed, "aggregates_sha256": digest(export)})
            uow.commit()
        # (``users``: the residents' accounts deleted from it)
        not_compacted = self._compactor.compact([*DESTROYED, "users"])
        keys = self._signer.destroy_signing_keys()
        data_keys = self._data_key.destroy()
        checkpoint = self._audit.checkpoint(SYSTEM)
        if checkpoint is None:  # the close's own entry moved the head: never the case
            raise RuntimeError("the audit chain was not checkpointed after the close")
        certificate = Certificate(
            closure_id, row.requested_by, actor.username, row.requested_at, now, destroyed,
            (*keys, *data_keys, "root.key"), digest(export), checkpoint.seq, checkpoint.head,
            checkpoint.at, not_compacted,
            data_key=(DataKeyState.LEGACY if self._data_key.legacy
                      else DataKeyState.DESTROYED if data_keys else DataKeyState.MISSING))
        signed = self._signer.sign(certificate.canonical())
        self._signer.destroy_root_key()
        certificate_file = self._files.write(f"destruction-certificate-{closure_id}.cose",
                                             signed)
        self._files.write(f"destruction-certificate-{closure_id}.json",
                          certificate.canonical())
        document = certificate.document()
        with self._d.uow() as uow:
            uow.programme.set_certificate(closure_id, document)
            uow.audit_log.append(self._d.clock.now(), actor.username, "programme.certificate",
                                 f"closure:{closure_id}", {"sha256": digest(signed)})
            uow.commit()
        return ClosedProgramme(closure_id, document, aggregates_file, certificate_file)

    def closures(self, actor: Principal) -> list[ClosureRow]:
        authorize(actor, Action.READ_PROGRAMME_CLOSES)
        with self._d.uow(readonly=True) as uow:
            return uow.programme.closures()

    def _city(self, uow: UnitOfWork) -> Target:
        city = uow.programme.city_code()
        if city is None:
            raise NotFound("the platform has no city region", code="unknown_region",
                           field="region")
        return Target(region=city)

    def _pending(self, uow: UnitOfWork, actor: Principal, closure_id: str) -> ClosureRow:
        row = uow.programme.closure(closure_id)
        if row is None:
            raise NotFound("no such close request", code="unknown_closure", field="closure_id")
        authorize(actor, Action.APPROVE_PROGRAMME_CLOSE, self._city(uow), field="closure_id")
        check_pending(row.status)
        check_approver(row.requested_by, actor.username)
        return row
