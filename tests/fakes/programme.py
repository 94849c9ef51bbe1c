"""The fake ``ProgrammeRepository``: requests to close the programme, kept in the fake tables.
Destroying personal data is the SQL adapter's (tests/integration/test_programme_close.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from hesuan.domain.json import JsonObject
from hesuan.services.retention_ports import ClosureRow
from tests.fakes.base import unused
from tests.fakes.database import Tables

__all__ = ["FakeProgramme"]


class FakeProgramme:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    def city_code(self) -> str | None:
        return min((r.code for r in self.t.regions.values() if r.level == "city"), default=None)

    def add_closure(self, row: ClosureRow) -> None:
        self.t.closures[row.id] = row

    def closure(self, closure_id: str) -> ClosureRow | None:
        return self.t.closures.get(closure_id)

    def closures(self) -> list[ClosureRow]:
        return sorted(self.t.closures.values(), key=lambda c: c.requested_at, reverse=True)

    def closed(self) -> bool:
        return any(c.status == "closed" for c in self.t.closures.values())

    def decide_closure(self, closure_id: str, status: str, decided_by: str,
                       decided_at: datetime) -> None:
        self.t.closures[closure_id] = dataclasses.replace(
            self.t.closures[closure_id], status=status, decided_by=decided_by,
            decided_at=decided_at)

    def set_certificate(self, closure_id: str, certificate: JsonObject) -> None:
        self.t.closures[closure_id] = dataclasses.replace(
            self.t.closures[closure_id], certificate=certificate)

    def destroy(self, tables: Sequence[str]) -> Mapping[str, int]:
        unused("programme.destroy")

    def destroy_accounts(self, roles: Sequence[str]) -> int:
        unused("programme.destroy_accounts")
