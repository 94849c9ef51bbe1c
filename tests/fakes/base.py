"""What every fake repository is built on: the unit of work's tables, its scratch (the SQL
adapter's temporary tables), and the one answer of a method no service under test calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NoReturn

from hesuan.domain.results import Result
from hesuan.services.sampling_ports import TubeResult
from tests.fakes.database import Tables

__all__ = ["FakeRepository", "GatheredMember", "Scratch", "unused"]


@dataclass(frozen=True, slots=True)
class GatheredMember:
    """A member of a tube of the staged results batch (``tmp_members``): ``plain`` when the
    fan-out decides their status itself."""

    person_id: str
    tube_id: str
    recall_id: str | None
    sampled_at: datetime
    result: Result
    plain: bool


@dataclass(slots=True)
class Scratch:
    """A unit of work's scratch: the staged results batch and its gathered members."""

    staged: list[TubeResult] = field(default_factory=list)
    members: list[GatheredMember] = field(default_factory=list)

    def staged_tube_ids(self) -> set[str]:
        return {r.tube_id for r in self.staged}


class FakeRepository:
    """One kind of stored thing, read and written in a unit of work's copy of the tables."""

    def __init__(self, t: Tables, scratch: Scratch) -> None:
        self.t = t
        self.scratch = scratch


def unused(method: str) -> NoReturn:
    """A port method the services under test never call: the fake says so rather than guess."""
    raise NotImplementedError(f"{method}: not faked (no service under test calls it); "
                              "implement it in tests/fakes when a test needs it")
