"""The SQLite write turn (``adapters.db.store.WriteTurn``): one writer at a time across the
threads of a process and across processes (``serve --workers N`` on one file), re-entrant in
one thread, and the lock file sits beside the database."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine

from hesuan.adapters.db.store import SqlUnitOfWorkFactory, WriteTurn

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


def test_the_lock_file_is_beside_a_file_database(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    factory = SqlUnitOfWorkFactory(engine)
    with factory() as _:
        assert _other_process_sees(tmp_path / "h.db-writer") == "busy"
    assert _other_process_sees(tmp_path / "h.db-writer") == "free"
    engine.dispose()
