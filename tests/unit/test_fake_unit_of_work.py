"""The fake unit of work is a transaction: what it commits is seen by the next one, what it
does not commit (a use case that raises) is not, and the first of two to commit wins."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import StoreUnavailable
from hesuan.services.context import write_retrying
from hesuan.services.people_ports import RegionRow
from hesuan.services.ports import UnitOfWork, WriteRace
from hesuan.services.status import StatusService
from tests.fakes import START, FakeDatabase, FakeUnitOfWork, make_world
from tests.fakes.people import FakeAuditLog


def _region(code: str) -> RegionRow:
    return RegionRow(code, "grid", code, code[:12])


def test_what_is_committed_is_seen_and_what_is_not_is_dropped() -> None:
    db = FakeDatabase()
    with FakeUnitOfWork(db) as uow:
        uow.places.upsert_regions([_region("140105001001001")])
        uow.commit()
        uow.places.upsert_regions([_region("140105001001002")])  # after the commit
    assert uow.committed and db.commits == 1
    with FakeUnitOfWork(db) as uow:
        assert uow.places.region("140105001001001") is not None
        assert uow.places.region("140105001001002") is None
    assert not uow.committed and db.commits == 1


def test_a_use_case_that_fails_after_writing_leaves_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An exemption whose audit entry cannot be written is not set: no exemption, no status."""
    w = make_world()
    person = w.person()

    def lost(*args: object) -> None:
        raise StoreUnavailable("the disk is full", retry_after=5)

    monkeypatch.setattr(FakeAuditLog, "append", lost)
    officer = Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401")
    with pytest.raises(StoreUnavailable):
        StatusService(w.deps).exempt(officer, person, "away", START + timedelta(days=3))
    assert not w.t.exemptions
    assert (w.status(person).exempt_until, w.status(person).reasons) == (None, "not_yet_tested")


def test_the_first_of_two_to_commit_wins() -> None:
    db = FakeDatabase()
    first, second = FakeUnitOfWork(db), FakeUnitOfWork(db)
    with first, second:
        first.places.upsert_regions([_region("140105001001001")])
        second.places.upsert_regions([_region("140105001001002")])
        first.commit()
        with pytest.raises(WriteRace):
            second.commit()
    with FakeUnitOfWork(db) as uow:
        assert uow.places.region("140105001001001") is not None
        assert uow.places.region("140105001001002") is None


def test_write_retrying_runs_again_on_a_fresh_copy() -> None:
    w = make_world()
    attempts: list[int] = []

    def racing(uow: UnitOfWork) -> int:
        attempts.append(len(w.t.audit))
        uow.audit_log.append(START + timedelta(seconds=len(attempts)), "a", "try", "x", {})
        if len(attempts) == 1:
            with w.uow() as other:  # another writer commits meanwhile
                other.audit_log.append(START, "b", "meanwhile", "x", {})
                other.commit()
        return len(attempts)

    assert write_retrying(w.deps, racing) == 2
    assert [a.action for a in w.t.audit] == ["meanwhile", "try"]
