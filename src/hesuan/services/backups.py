"""Backups: an online copy of the database and its restore into a new one, each audited (the
copy's file name, size and row counts, never a row). A restore writes its entry into the
restored database, on its chain, once the rows are in and counted: the restored log says
where it came from (docs/DEPLOY.md "Backups").

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from pathlib import Path

from hesuan.domain.access import Action, Principal, authorize
from hesuan.domain.json import JsonObject
from hesuan.services.backup_ports import Backups, Manifest, RestoreReport
from hesuan.services.ports import Clock

__all__ = ["BackupService"]


class BackupService:
    def __init__(self, clock: Clock, backups: Backups) -> None:
        self._clock = clock
        self._b = backups

    def create(self, actor: Principal, dest: Path) -> Manifest:
        """Copy the database to ``dest`` while it serves; the audit entry follows the copy
        (the copy holds the log up to the entry before it)."""
        authorize(actor, Action.BACKUP_DATABASE)
        now = self._clock.now()
        manifest = self._b.create(dest, now)
        with self._b.units() as units, units() as uow:
            uow.audit_log.append(now, actor.username, "backup.create", dest.name, {
                "file": dest.name, "bytes": manifest.bytes, "backend": manifest.backend,
                "revision": manifest.revision, "tables": len(manifest.tables),
                "rows": sum(manifest.tables.values())})
            uow.commit()
        return manifest

    def restore(self, actor: Principal, copy: Path, target: str) -> RestoreReport:
        """Restore ``copy`` into the new database ``target``, count its rows against the
        manifest, then audit the restore in the restored database (the counts reported are
        the copy's, without that entry)."""
        authorize(actor, Action.RESTORE_DATABASE)
        report = self._b.restore(copy, target)
        detail: JsonObject = {
            "file": copy.name, "bytes": report.bytes, "tables": len(report.tables),
            "rows": sum(report.tables.values()), "matches": report.matches,
            "differences": sorted(report.differences)}
        with self._b.units_at(target) as units, units() as uow:
            uow.audit_log.append(self._clock.now(), actor.username, "backup.restore",
                                 copy.name, detail)
            uow.commit()
        return report
