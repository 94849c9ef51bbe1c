"""Test helpers: an API client logged in per role, and station-event builders."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.sim.example import DEMO_PASSWORD, ExampleCity

__all__ = ["Api", "Station", "barcodes", "boxes"]


def barcodes(start: int = 1) -> Iterator[str]:
    from hesuan.domain.sampling import make_tube_barcode

    n = start
    while True:
        yield make_tube_barcode(n)
        n += 1


def boxes(start: int = 1) -> Iterator[str]:
    from hesuan.domain.sampling import make_box_code

    n = start
    while True:
        yield make_box_code(n)
        n += 1


@dataclass
class Api:
    client: TestClient
    platform: Platform
    city: ExampleCity
    clock: FixedClock
    _tokens: dict[str, str] = field(default_factory=dict)

    def h(self, user: str) -> dict[str, str]:
        if user not in self._tokens:
            r = self.client.post("/auth/token", json={"username": user,
                                                      "password": DEMO_PASSWORD})
            assert r.status_code == 200, r.text
            self._tokens[user] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[user]}"}

    def people(self, where: str = "groups = ''", limit: int = 100) -> list[str]:
        with self.platform.deps.uow(readonly=True) as uow:
            rows = uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
                f"SELECT id FROM people WHERE {where} ORDER BY id LIMIT {limit}").all()
        return [r[0] for r in rows]

    def code(self, person_id: str) -> str:
        return self.platform.deps.codes.sign(person_id)

    def count(self, sql: str) -> Any:
        with self.platform.deps.uow(readonly=True) as uow:
            return uow.conn.exec_driver_sql(sql).scalar()  # type: ignore[attr-defined]


@dataclass
class Station:
    site_id: str
    clock: FixedClock

    def ev(self, kind: str, at: datetime | None = None, **kw: Any) -> dict[str, Any]:
        return {"event_id": str(uuid.uuid4()), "kind": kind, "site_id": self.site_id,
                "at": (at or self.clock.now()).isoformat(), **kw}

    def fill(self, barcode: str, codes: list[str], mode: int = 10) -> list[dict[str, Any]]:
        return [self.ev("open_tube", barcode=barcode, mode=mode)] + [
            self.ev("sample", barcode=barcode, code=c) for c in codes]
