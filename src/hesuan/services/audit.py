"""The audit log's use cases: signed checkpoints of its chain, and the check of the chain
against its key and its latest checkpoint (the rules: ``domain/audit.py``).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from hesuan.domain.access import Action, Principal, authorize
from hesuan.domain.audit import AuditReport, ChainCheck, ChainKey, Checkpoint, judge, verify_chain
from hesuan.domain.errors import RuleViolation
from hesuan.domain.instants import iso_utc
from hesuan.services.context import Deps
from hesuan.services.ports import AuditCheckpoints, UnitOfWork

__all__ = ["AuditService"]

#: Entries read a page at a time: memory stays flat on a log of millions.
PAGE = 5000


def _latest(checkpoints: list[Checkpoint]) -> Checkpoint | None:
    return max(checkpoints, key=lambda c: (c.seq, c.at), default=None)


class AuditService:
    def __init__(self, deps: Deps, chain: ChainKey, checkpoints: AuditCheckpoints) -> None:
        self._d = deps
        self._chain = chain
        self._checkpoints = checkpoints

    def _replay(self, uow: UnitOfWork, start: ChainCheck, legacy_upto: int) -> ChainCheck:
        check = start
        while check.broken_at is None:
            page = uow.audit_log.entries(check.seq, PAGE)
            if not page:
                break
            check = verify_chain(page, self._chain, check, legacy_upto)
        return check

    @staticmethod
    def _hash_at(uow: UnitOfWork, seq: int) -> str | None:
        rows = uow.audit_log.entries(seq - 1, 1)
        return rows[0].hash if rows and rows[0].seq == seq else None

    def verify(self, actor: Principal) -> AuditReport:
        """Replay the whole chain with the key, and hold it against the latest checkpoint
        whose signature is valid."""
        authorize(actor, Action.VERIFY_AUDIT)
        valid, bad = self._checkpoints.read()
        latest = _latest(valid)
        with self._d.uow(readonly=True) as uow:
            legacy_upto = uow.audit_log.legacy_upto()
            head = uow.audit_log.head()
            check = self._replay(uow, ChainCheck(), legacy_upto)
            at_checkpoint = self._hash_at(uow, latest.seq) if latest is not None else None
        head_seq = head[0] if head is not None else 0
        return AuditReport(
            verdict=judge(check, head_seq, at_checkpoint, latest, tuple(bad)),
            entries=check.seq, head_seq=head_seq, legacy_entries=min(legacy_upto, head_seq),
            first_broken_seq=check.broken_at, checkpoint=latest, bad_checkpoints=tuple(bad))

    def checkpoint(self, actor: Principal) -> Checkpoint | None:
        """Sign the log's head and keep it outside the database. Only a chain that holds is
        signed: the entries since the latest valid checkpoint are replayed first (all of them
        the first time), and the checkpoint's own entry must still carry its hash. None when
        the log is empty or its head has not moved since the latest checkpoint."""
        authorize(actor, Action.VERIFY_AUDIT)
        latest = _latest(self._checkpoints.read()[0])
        with self._d.uow(readonly=True) as uow:
            head = uow.audit_log.head()
            if head is None or (latest is not None and (latest.seq, latest.head) == head):
                return None
            start = ChainCheck()
            if latest is not None:
                if head[0] < latest.seq:
                    raise RuleViolation(
                        f"the audit log ends at entry {head[0]}, before its checkpoint at "
                        f"entry {latest.seq}: run `hesuan audit verify`", code="audit_truncated")
                if self._hash_at(uow, latest.seq) != latest.head:
                    raise RuleViolation(
                        f"audit entry {latest.seq} is not the one its checkpoint signed: run "
                        "`hesuan audit verify`", code="audit_rewritten")
                start = ChainCheck(latest.seq, latest.head)
            check = self._replay(uow, start, uow.audit_log.legacy_upto())
        if check.broken_at is not None:
            raise RuleViolation(f"the audit chain is broken at entry {check.broken_at}: run "
                                "`hesuan audit verify`", code="audit_broken")
        checkpoint = Checkpoint(check.seq, check.hash, iso_utc(self._d.clock.now()))
        self._checkpoints.write(checkpoint)
        return checkpoint
