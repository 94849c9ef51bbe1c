"""The SQLite write turn (``adapters.db.store.WriteTurn``): one writer at a time across the
threads of a process and across processes (``serve --workers N`` on one file), re-entrant in
one thread, and the lock file sits beside the database."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from hesuan.adapters.db.engine import BUSY_TIMEOUT_MS, make_engine
from hesuan.adapters.db.store import SqlUnitOfWorkFactory, TurnBusy, WriteTurn
from hesuan.config import Settings
from hesuan.domain.audit import ChainKey

CHAIN = ChainKey(bytes(32))

_TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("busy")
else:
    print("free")
"""


def _other_process_sees(lock_file: Path) -> str:
    return subprocess.run([sys.executable, "-c", _TRY_LOCK, str(lock_file)], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_another_process_waits_for_the_turn(tmp_path: Path) -> None:
    lock_file = tmp_path / "db.sqlite-writer"
    turn = WriteTurn(str(lock_file))
    assert _other_process_sees(lock_file) == "free"
    turn.acquire()
    turn.acquire()  # re-entrant: a nested unit of work in the same thread
    turn.release()
    assert _other_process_sees(lock_file) == "busy"  # still held once
    turn.release()
    assert _other_process_sees(lock_file) == "free"


def test_threads_take_turns(tmp_path: Path) -> None:
    turn = WriteTurn(str(tmp_path / "db.sqlite-writer"))
    inside = 0
    most = 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(50):
            turn.acquire()
            try:
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.0005)
                with guard:
                    inside -= 1
            finally:
                turn.release()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1


def test_the_turn_goes_to_the_writers_in_the_order_they_came(tmp_path: Path) -> None:
    """A writer that gives the turn up and asks for it again at once (the sweep's parts, a
    results file's chunks) went first again, ahead of the writers already waiting: a station's
    write could wait for all its parts. The turn is handed to those waiting, in order."""
    turn = WriteTurn(str(tmp_path / "db.sqlite-writer"))
    order: list[str] = []
    waiting = threading.Semaphore(0)

    def writer(name: str) -> None:
        waiting.release()
        turn.acquire()
        try:
            order.append(name)
        finally:
            turn.release()

    turn.acquire()
    others = []
    for name in ("first", "second"):
        t = threading.Thread(target=writer, args=(name,))
        t.start()
        assert waiting.acquire(timeout=5)
        time.sleep(0.05)  # queued behind the holder
        others.append(t)
    for part in range(3):  # the holder gives the turn up and asks again at once, three times
        turn.release()
        turn.acquire()
        order.append(f"part {part}")
    turn.release()
    for t in others:
        t.join(5)
    assert order == ["first", "second", "part 0", "part 1", "part 2"]


def test_the_lock_file_is_beside_a_file_database(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    factory = SqlUnitOfWorkFactory(engine, chain=CHAIN)
    with factory() as _:
        assert _other_process_sees(tmp_path / "h.db-writer") == "busy"
    assert _other_process_sees(tmp_path / "h.db-writer") == "free"
    engine.dispose()


_HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


def test_the_turn_is_taken_at_once_or_not_at_all(tmp_path: Path) -> None:
    lock_file = tmp_path / "db.sqlite-writer"
    turn = WriteTurn(str(lock_file))
    # another process holds it: not taken, and nothing is left held
    other = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(lock_file)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        assert turn.acquire(blocking=False) is False
    finally:
        other.communicate("\n", timeout=10)
    assert turn.acquire(blocking=False) is True  # free now
    assert _other_process_sees(lock_file) == "busy"
    assert turn.acquire(blocking=False) is True  # re-entrant in this thread
    turn.release()
    # another thread of this process cannot take it while this one holds it
    seen: list[bool] = []
    t = threading.Thread(target=lambda: seen.append(turn.acquire(blocking=False)))
    t.start()
    t.join()
    assert seen == [False]
    turn.release()
    assert _other_process_sees(lock_file) == "free"


def test_the_inline_turn_is_taken_only_when_it_is_free(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    factory = SqlUnitOfWorkFactory(engine, chain=CHAIN)
    inline = factory.inline
    assert inline is not None  # SQLite, synchronous=NORMAL: no wait for the disk at commit
    assert SqlUnitOfWorkFactory(engine, "FULL", chain=CHAIN).inline is None
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with factory():
            holding.set()
            assert done.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert holding.wait(10)
        with inline.turn() as free:
            assert not free
        with factory(readonly=True):  # a reader never takes the turn
            pass
    finally:
        done.set()
        t.join()
    with inline.turn() as free:  # free again: held until the block ends, across its units
        assert free
        with factory() as uow:
            uow.commit()
        assert _other_process_sees(tmp_path / "h.db-writer") == "busy"
    assert _other_process_sees(tmp_path / "h.db-writer") == "free"
    engine.dispose()


def test_a_write_under_the_inline_turn_does_not_wait_for_sqlites_own_lock(
        tmp_path: Path) -> None:
    """A writer outside the turn (a bulk load, another program) holds SQLite's write lock: a
    unit of work under the inline turn gives up at once instead of waiting out the busy
    timeout."""
    db = tmp_path / "h.db"
    engine = make_engine(Settings(database_url=f"sqlite:///{db}"))
    factory = SqlUnitOfWorkFactory(engine, chain=CHAIN)
    assert factory.inline is not None
    with factory() as uow:
        uow.conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        uow.commit()
    outsider = sqlite3.connect(db, isolation_level=None)
    outsider.execute("BEGIN IMMEDIATE")
    try:
        t0 = time.perf_counter()
        with factory.inline.turn() as free:
            assert free
            with pytest.raises(TurnBusy, match="outside the turn"), factory():
                pass
        assert time.perf_counter() - t0 < 5  # not the 30 s busy timeout
        assert _other_process_sees(tmp_path / "h.db-writer") == "free"  # turn given back
    finally:
        outsider.execute("ROLLBACK")
        outsider.close()
    with factory.inline.turn(), factory() as uow:  # the connection waits as usual again
        assert uow.conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == BUSY_TIMEOUT_MS
        uow.conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        uow.commit()
    with factory() as uow:  # outside the inline turn: waits for SQLite's lock as before
        assert uow.conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == BUSY_TIMEOUT_MS
    engine.dispose()


def test_a_bulk_unit_keeps_its_scratch_in_memory_only_for_its_length(tmp_path: Path) -> None:
    """``for_bulk`` (a results file's fan-out): a writing unit's temporary tables in memory
    while it lasts; its connection goes back to the pool with scratch in files, the tables
    dropped. Other units, and a bulk factory's readers, keep scratch in files. Both factories
    take the same write turn."""
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}", poolclass=StaticPool)
    factory = SqlUnitOfWorkFactory(engine, chain=CHAIN)
    bulk = factory.for_bulk()

    def temp_store(uow: Any) -> int:
        return int(uow.conn.exec_driver_sql("PRAGMA temp_store").scalar_one())

    with factory() as uow:
        assert temp_store(uow) != 2  # not MEMORY (engine.py sets FILE; here the default)
    with bulk() as uow:
        assert temp_store(uow) == 2  # MEMORY
        uow.conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS scratch (x INTEGER)")
        uow.conn.exec_driver_sql("INSERT INTO scratch VALUES (1)")
        assert factory.inline is not None
        with factory.inline.turn() as free:  # the same turn: held by this thread
            assert free
        uow.commit()
    with bulk(readonly=True) as uow:  # the same connection (one in the pool)
        assert temp_store(uow) == 1
        assert uow.conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_temp_master WHERE name = 'scratch'").scalar_one() == 0
    with pytest.raises(RuntimeError), bulk():  # a failed unit is reset too
        raise RuntimeError("boom")
    with factory() as uow:
        assert temp_store(uow) == 1
    engine.dispose()


def test_units_of_two_factories_take_one_write_turn(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    factory = SqlUnitOfWorkFactory(engine, chain=CHAIN)
    bulk = factory.for_bulk()
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with bulk():
            holding.set()
            assert done.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert holding.wait(10)
        assert factory.inline is not None
        with factory.inline.turn() as free:
            assert not free
    finally:
        done.set()
        t.join()
    engine.dispose()
