"""Storage of the messages a lab's own system sent and of each lab's interop setting (the
``LabMessageRepository`` port).

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.services.lab_messages_ports``,
``hesuan.domain``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from hesuan.adapters.db.engine import write_race
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import lab_interop_settings, lab_messages
from hesuan.adapters.db.sql_helpers import member_of, vals
from hesuan.domain.interop import IdSource
from hesuan.domain.lab_codes import Finding
from hesuan.services.lab_messages_ports import (
    InteropSetting,
    LabMessageRow,
    MessageState,
    MessageVia,
    SpecimenLine,
    SpecimenState,
)

__all__ = ["SqlLabMessages"]

_m, _s = lab_messages.c, lab_interop_settings.c

_ROW = (_m.id, _m.lab_id, _m.format, _m.via, _m.sending_facility, _m.control_id, _m.sha256,
        _m.received_by, _m.received_at, _m.state, _m.specimens, _m.ack_code, _m.ack, _m.reason,
        _m.decided_by, _m.decided_at)


def _lines(specimens: tuple[SpecimenLine, ...]) -> list[dict[str, str | None]]:
    return [{"specimen_id": s.specimen_id, "state": s.state.value, "result": s.result,
             "reason": s.reason, "detail": s.detail, "request_id": s.request_id}
            for s in specimens]


def _line(d: dict[str, Any]) -> SpecimenLine:
    return SpecimenLine(d.get("specimen_id"), SpecimenState(d["state"]), d.get("result"),
                        d.get("reason"), d.get("detail"), d.get("request_id"))


def _row(r: Any, raw: bytes = b"") -> LabMessageRow:
    return LabMessageRow(
        r.id, r.lab_id, r.format, MessageVia(r.via), r.sending_facility, r.control_id,
        r.sha256, r.received_by, r.received_at, MessageState(r.state),
        tuple(_line(d) for d in r.specimens or []), r.ack_code, bytes(r.ack), r.reason,
        r.decided_by, r.decided_at, raw)


class SqlLabMessages(SqlRepository):
    """Lab messages and the labs' interop settings."""

    def add(self, row: LabMessageRow) -> None:
        stmt = insert(lab_messages).values(
            id=row.id, lab_id=row.lab_id, format=row.format, via=row.via.value,
            sending_facility=row.sending_facility, control_id=row.control_id,
            sha256=row.sha256, raw=row.raw, received_by=row.received_by,
            received_at=row.received_at, state=row.state.value,
            specimens=_lines(row.specimens), ack_code=row.ack_code, ack=row.ack,
            reason=row.reason, decided_by=row.decided_by, decided_at=row.decided_at)
        try:
            self.conn.execute(stmt)
        except IntegrityError as exc:  # the same message, kept by another transaction first
            if (race := write_race(exc)) is not None:
                raise race from exc
            raise

    def by_control_id(self, lab_id: str, sending_facility: str,
                      control_id: str) -> LabMessageRow | None:
        r = self.conn.execute(select(*_ROW).where(
            _m.lab_id == lab_id, _m.sending_facility == sending_facility,
            _m.control_id == control_id)).first()
        return None if r is None else _row(r)

    def message(self, message_id: str, *, for_update: bool = False) -> LabMessageRow | None:
        stmt = select(*_ROW, _m.raw).where(_m.id == message_id)
        if for_update:
            stmt = stmt.with_for_update()
        r = self.conn.execute(stmt).first()
        return None if r is None else _row(r, bytes(r.raw))

    def lab_messages(self, lab_ids: list[str] | None, state: MessageState | None,
                     limit: int) -> list[LabMessageRow]:
        stmt = select(*_ROW)
        params: dict[str, Any] = {}
        if lab_ids is not None:
            stmt = stmt.where(member_of(_m.lab_id, self._pg))
            params["vals"] = vals(lab_ids, self._pg)
        if state is not None:
            stmt = stmt.where(_m.state == state.value)
        stmt = stmt.order_by(_m.received_at.desc(), _m.id.desc()).limit(limit)
        return [_row(r) for r in self.conn.execute(stmt, params)]

    def update(self, message_id: str, state: MessageState,
               specimens: tuple[SpecimenLine, ...], reason: str | None,
               decided_by: str | None, decided_at: datetime | None) -> None:
        self.conn.execute(update(lab_messages).where(_m.id == message_id).values(
            state=state.value, specimens=_lines(specimens), reason=reason,
            decided_by=decided_by, decided_at=decided_at))

    def setting(self, lab_id: str) -> InteropSetting | None:
        r = self.conn.execute(select(lab_interop_settings).where(_s.lab_id == lab_id)).first()
        if r is None:
            return None
        order = tuple(IdSource(s) for s in r.id_order.split(",") if s)
        return InteropSetting(r.lab_id, order, dict(r.tests or {}),
                              {k: Finding(v) for k, v in (r.values or {}).items()},
                              r.set_by, r.set_at)

    def set_setting(self, setting: InteropSetting) -> None:
        self.conn.execute(delete(lab_interop_settings).where(_s.lab_id == setting.lab_id))
        self.conn.execute(insert(lab_interop_settings).values(
            lab_id=setting.lab_id, id_order=",".join(s.value for s in setting.id_order),
            tests=dict(setting.tests), values={k: v.value for k, v in setting.values.items()},
            set_by=setting.set_by, set_at=setting.set_at))
