"""The fake unit of work: one transaction over the in-memory ``FakeDatabase`` and the fake
repositories that read and write inside it (the ``UnitOfWork`` port, as cosmicpython's
``FakeUnitOfWork``).

It copies the committed tables when it begins; its repositories work on the copy; ``commit``
puts the copy back and is recorded (``committed``, ``FakeDatabase.commits``). Whatever a unit of
work wrote and did not commit is discarded when it ends: a use case that raises leaves nothing.
The first to commit wins: a unit of work that another one committed under since it began fails
its commit with ``WriteRace``, as a store's unique key does, and the service retries.
Repositories no service under test uses answer ``NotImplementedError``.
"""

from __future__ import annotations

import copy
from functools import cached_property
from types import TracebackType
from typing import Self

from hesuan.services.corrections_ports import CorrectionRepository, RejectionRepository
from hesuan.services.elr_queue_ports import ElrQueueRepository
from hesuan.services.fence_ports import FenceRepository
from hesuan.services.keys_ports import SealedData
from hesuan.services.lab_messages_ports import LabMessageRepository
from hesuan.services.lab_ports import AssayRepository, PlateRepository
from hesuan.services.lab_report_ports import LabReportRepository
from hesuan.services.lanes_ports import LaneRepository
from hesuan.services.outbox_ports import ReportRepository
from hesuan.services.people_ports import UserRepository
from hesuan.services.ports import UnitOfWork, UnitOfWorkFactory, WriteRace
from hesuan.services.retention_ports import RetentionRepository
from hesuan.services.rosters_ports import RosterRepository
from hesuan.services.sampling_ports import BoxRepository
from tests.fakes.base import Scratch, unused
from tests.fakes.database import FakeDatabase, Tables
from tests.fakes.outbox import FakeAlerts, FakeOutbox, FakePasses, FakeVenues
from tests.fakes.people import FakeAuditLog, FakePeople, FakePlaces
from tests.fakes.programme import FakeProgramme
from tests.fakes.results import FakeResults
from tests.fakes.station import FakeStation
from tests.fakes.status import FakeCadence, FakeOverrides, FakeStatuses
from tests.fakes.teams import FakeTeams
from tests.fakes.zones import FakeZones

__all__ = ["FakeUnitOfWork", "FakeUnitOfWorkFactory"]


class FakeUnitOfWork:
    def __init__(self, db: FakeDatabase, readonly: bool = False) -> None:
        self._db = db
        self.readonly = readonly
        self.committed = False
        self._scratch = Scratch()

    # -- transaction -----------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.tables: Tables = copy.deepcopy(self._db.tables)
        self._seen = self._db.commits
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # what was not committed is dropped with the copy; the repositories are not reused
        for name in ("tables", *_REPOSITORIES):
            self.__dict__.pop(name, None)

    def commit(self) -> None:
        if self._db.commits != self._seen:
            raise WriteRace("another unit of work committed first")
        self._db.tables = copy.deepcopy(self.tables)
        self._db.commits += 1
        self._seen = self._db.commits
        self.committed = True

    # -- repositories ----------------------------------------------------------------------

    @cached_property
    def audit_log(self) -> FakeAuditLog:
        return FakeAuditLog(self.tables, self._scratch)

    @cached_property
    def places(self) -> FakePlaces:
        return FakePlaces(self.tables, self._scratch)

    @cached_property
    def people(self) -> FakePeople:
        return FakePeople(self.tables, self._scratch)

    @cached_property
    def station(self) -> FakeStation:
        return FakeStation(self.tables, self._scratch)

    @cached_property
    def results(self) -> FakeResults:
        return FakeResults(self.tables, self._scratch)

    @cached_property
    def outbox(self) -> FakeOutbox:
        return FakeOutbox(self.tables, self._scratch)

    @cached_property
    def alerts(self) -> FakeAlerts:
        return FakeAlerts(self.tables, self._scratch)

    @cached_property
    def cadence(self) -> FakeCadence:
        return FakeCadence(self.tables, self._scratch)

    @cached_property
    def statuses(self) -> FakeStatuses:
        return FakeStatuses(self.tables, self._scratch)

    @cached_property
    def overrides(self) -> FakeOverrides:
        return FakeOverrides(self.tables, self._scratch)

    @cached_property
    def passes(self) -> FakePasses:
        return FakePasses(self.tables, self._scratch)

    @cached_property
    def venues(self) -> FakeVenues:
        return FakeVenues(self.tables, self._scratch)

    @cached_property
    def zones(self) -> FakeZones:
        return FakeZones(self.tables, self._scratch)

    @cached_property
    def teams(self) -> FakeTeams:
        return FakeTeams(self.tables, self._scratch)

    # -- repositories of services not under test -------------------------------------------

    @property
    def users(self) -> UserRepository:
        unused("uow.users")

    @property
    def boxes(self) -> BoxRepository:
        unused("uow.boxes")

    @property
    def assays(self) -> AssayRepository:
        unused("uow.assays")

    @property
    def plates(self) -> PlateRepository:
        unused("uow.plates")

    @property
    def corrections(self) -> CorrectionRepository:
        unused("uow.corrections")

    @property
    def rejections(self) -> RejectionRepository:
        unused("uow.rejections")

    @property
    def lab_messages(self) -> LabMessageRepository:
        unused("uow.lab_messages")

    @property
    def lab_reports(self) -> LabReportRepository:
        unused("uow.lab_reports")

    @property
    def elr_outbox(self) -> ElrQueueRepository:
        unused("uow.elr_outbox")

    @property
    def reports(self) -> ReportRepository:
        unused("uow.reports")

    @property
    def rosters(self) -> RosterRepository:
        unused("uow.rosters")

    @property
    def fence(self) -> FenceRepository:
        unused("uow.fence")

    @property
    def lanes(self) -> LaneRepository:
        unused("uow.lanes")

    @property
    def retention(self) -> RetentionRepository:
        unused("uow.retention")

    @cached_property
    def programme(self) -> FakeProgramme:
        return FakeProgramme(self.tables)

    @property
    def sealed(self) -> SealedData:
        unused("uow.sealed")


_REPOSITORIES = ("audit_log", "places", "people", "station", "results", "outbox", "alerts",
                 "cadence", "statuses", "overrides", "passes", "venues", "zones", "teams",
                 "programme")


class FakeUnitOfWorkFactory:
    """Units of work on one ``FakeDatabase``; keeps the last one made (``last``)."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.last: FakeUnitOfWork | None = None

    def __call__(self, *, readonly: bool = False) -> FakeUnitOfWork:
        self.last = FakeUnitOfWork(self.db, readonly)
        return self.last



# mypy holds the fakes to the ports: a FakeUnitOfWork is a UnitOfWork, its factory a factory
def _as_ports(db: FakeDatabase) -> tuple[UnitOfWork, UnitOfWorkFactory]:
    return FakeUnitOfWork(db), FakeUnitOfWorkFactory(db)
