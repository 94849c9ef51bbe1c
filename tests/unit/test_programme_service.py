"""Asking to close the programme, on the fake unit of work: only a health officer of the whole
city asks; the officer who asked never decides; a decided request is not decided again; a
declined one destroys nothing. (Approval, which destroys, runs on both backends:
tests/integration/test_programme_close.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RuleViolation
from hesuan.services.programme import ProgrammeService
from tests.fakes import World, make_world

ADMIN = Principal("u-admin", "admin", Role.ADMIN)
OFFICER = Principal("u-o1", "officer", Role.HEALTH_OFFICER, "1401")
OFFICER2 = Principal("u-o2", "officer2", Role.HEALTH_OFFICER, "1401")
DISTRICT = Principal("u-o3", "officer3", Role.HEALTH_OFFICER, "140105")


class _Unused:
    """The audit checkpoints, the signer, the folder, the compactor and the data key: approval
    is not under test here."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"{name} called: nothing may be signed, written or destroyed")


@pytest.fixture
def w() -> World:
    return make_world()


@pytest.fixture
def svc(w: World) -> ProgrammeService:
    never: Any = _Unused()
    return ProgrammeService(w.deps, never, never, never, never, never)


def test_only_a_city_officer_asks(w: World, svc: ProgrammeService) -> None:
    for who in (ADMIN, DISTRICT):
        with pytest.raises(PermissionDenied):
            svc.request_close(who, "the programme ends")
    with pytest.raises(InvalidInput):
        svc.request_close(OFFICER, "  ")
    cid = svc.request_close(OFFICER, "the programme ends")
    assert w.t.closures[cid].status == "requested"
    assert w.t.closures[cid].requested_by == "officer"
    assert w.t.audit[-1].action == "programme.request"


def test_the_officer_who_asked_never_decides(w: World, svc: ProgrammeService) -> None:
    cid = svc.request_close(OFFICER, "the programme ends")
    with pytest.raises(RuleViolation) as same:
        svc.approve_close(OFFICER, cid)
    assert same.value.code == "same_officer"
    with pytest.raises(RuleViolation):
        svc.reject_close(OFFICER, cid)
    with pytest.raises(PermissionDenied):
        svc.approve_close(ADMIN, cid)
    with pytest.raises(NotFound):
        svc.approve_close(OFFICER2, "nope")
    assert w.t.closures[cid].status == "requested"


def test_a_declined_close_is_decided_once(w: World, svc: ProgrammeService) -> None:
    cid = svc.request_close(OFFICER, "the programme ends")
    svc.reject_close(OFFICER2, cid)
    assert (w.t.closures[cid].status, w.t.closures[cid].decided_by) == ("rejected", "officer2")
    with pytest.raises(Conflict):
        svc.approve_close(OFFICER2, cid)
    assert [c.id for c in svc.closures(ADMIN)] == [cid]
