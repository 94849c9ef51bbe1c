"""In-memory fakes of the storage ports, for service tests without a database (as in
cosmicpython's book): ``FakeDatabase`` (the committed tables), ``FakeUnitOfWork`` and its
factory over it, one fake repository per kind of stored thing (a module per group), ``fake_deps``
(the ``Deps`` services are built with) and ``make_world`` (a small city to test in)."""

from tests.fakes.database import FakeDatabase, Tables
from tests.fakes.deps import fake_deps
from tests.fakes.uow import FakeUnitOfWork, FakeUnitOfWorkFactory
from tests.fakes.world import GRIDS, START, World, make_world

__all__ = ["GRIDS", "START", "FakeDatabase", "FakeUnitOfWork", "FakeUnitOfWorkFactory", "Tables",
           "World", "fake_deps", "make_world"]
