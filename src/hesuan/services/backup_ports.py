"""Ports of backups: the copy of the whole database and its restore into a new one
(``adapters/db/backup.py``), and what each reports.

Imports: standard library, ``hesuan.domain.json`` and ``hesuan.services.ports``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from hesuan.domain.json import JsonObject
from hesuan.services.ports import UnitOfWorkFactory

__all__ = ["Backups", "Manifest", "RestoreReport"]


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a copy holds, written beside it (``<copy>.manifest.json``)."""

    backend: str  # sqlite or postgresql
    revision: str | None  # the Alembic revision of the copied schema
    taken_at: str  # ISO 8601, UTC
    tables: dict[str, int]  # rows per table
    bytes: int = 0  # the copy's size


@dataclass(frozen=True, slots=True)
class RestoreReport:
    target: str  # the restored database's URL, password hidden
    tables: dict[str, int]
    #: tables whose rows differ from the manifest: {table: {"manifest": n, "restored": m}}
    differences: dict[str, dict[str, int]] = field(default_factory=dict)
    bytes: int = 0  # the copy's size

    @property
    def matches(self) -> bool:
        return not self.differences

    def as_dict(self) -> JsonObject:
        """The report as the CLI writes it: with ``matches``, without the copy's size."""
        return {"target": self.target, "matches": self.matches, "tables": self.tables,
                "differences": self.differences}


class Backups(Protocol):
    """Copies of the database the platform runs on, and their restore into a new database."""

    def create(self, dest: Path, now: datetime) -> Manifest:
        """Copy the database to ``dest`` (a new file) while it serves, and write the
        manifest beside it (``now``: when the copy is taken)."""
        ...

    def restore(self, copy: Path, target: str) -> RestoreReport:
        """Restore ``copy`` into the new database at the URL ``target`` and count its rows
        against the copy's manifest."""
        ...

    def units(self) -> AbstractContextManager[UnitOfWorkFactory]:
        """Units of work on the database the platform runs on (the one copied); its
        connections closed at the end."""
        ...

    def units_at(self, target: str) -> AbstractContextManager[UnitOfWorkFactory]:
        """Units of work on the database at ``target`` (a restored one), their audit entries
        on the platform's chain; its connections closed at the end."""
        ...
