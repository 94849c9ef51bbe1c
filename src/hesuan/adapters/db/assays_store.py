"""Storage of assay versions (the ``AssayRepository`` port): one row per version, the definition
as a JSON document, one version current.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.services.lab_ports``, ``hesuan.domain``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from hesuan.adapters.db.engine import write_race
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import assays
from hesuan.domain.assays import AssayRef
from hesuan.services.lab_ports import AssayVersionRow

__all__ = ["SqlAssays"]

_a = assays.c
_COLUMNS = (_a.id, _a.version, _a.name, _a.definition, _a.is_current, _a.created_by,
            _a.created_at)


def _row(r: Any) -> AssayVersionRow:
    return AssayVersionRow(r.id, r.version, r.name, r.definition, bool(r.is_current),
                           r.created_by, r.created_at)


class SqlAssays(SqlRepository):
    """Assay versions."""

    def current(self) -> AssayVersionRow | None:
        r = self.conn.execute(select(*_COLUMNS).where(_a.is_current)).first()
        return None if r is None else _row(r)

    def version(self, ref: AssayRef) -> AssayVersionRow | None:
        r = self.conn.execute(select(*_COLUMNS).where(
            _a.id == ref.id, _a.version == ref.version)).first()
        return None if r is None else _row(r)

    def versions(self, assay_id: str | None = None) -> list[AssayVersionRow]:
        stmt = select(*_COLUMNS).order_by(_a.created_at.desc(), _a.id, _a.version.desc())
        if assay_id is not None:
            stmt = stmt.where(_a.id == assay_id)
        return [_row(r) for r in self.conn.execute(stmt)]

    def add(self, row: AssayVersionRow) -> None:
        if row.current:
            self.conn.execute(update(assays).where(_a.is_current).values(is_current=False))
        try:
            self.conn.execute(insert(assays).values(
                id=row.id, version=row.version, name=row.name, definition=dict(row.definition),
                is_current=row.current, created_by=row.created_by, created_at=row.created_at))
        except IntegrityError as exc:  # the same version, or another current, written first
            if (race := write_race(exc)) is not None:
                raise race from exc
            raise
