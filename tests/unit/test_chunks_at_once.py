"""``apply_in_order``: a long file's chunks applied several at once, answers in the chunks'
order, a chunk naming a key of one being applied held until that one has finished, and a
failure that stops the file without leaving a chunk running behind the caller."""

from __future__ import annotations

import threading
import time

import pytest

from hesuan.services.chunks_at_once import apply_in_order


class Recorder:
    """``apply`` for the tests: each chunk sleeps its given time; when each started and
    ended, and how many ran at once. ``waits_for`` holds a chunk from finishing until another
    has started, so that a test's overlap does not hang on how fast a thread is scheduled."""

    def __init__(self, waits_for: dict[str, str] | None = None) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.spans: dict[str, tuple[float, float]] = {}
        self.threads: set[str] = set()
        self.waits_for = waits_for or {}
        self.started = {name: threading.Event() for name in self.waits_for.values()}

    def __call__(self, chunk: tuple[str, float]) -> str:
        name, seconds = chunk
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        if name in self.started:
            self.started[name].set()
        start = time.perf_counter()
        time.sleep(seconds)
        if name in self.waits_for:
            assert self.started[self.waits_for[name]].wait(timeout=10)
        with self.lock:
            self.running -= 1
            self.spans[name] = (start, time.perf_counter())
        if name.startswith("fail"):
            raise RuntimeError(name)
        return name


def chunks(*spec: tuple[str, str, float]) -> list[tuple[frozenset[str], tuple[str, float]]]:
    """(name, keys joined by ",", seconds) per chunk."""
    return [(frozenset(keys.split(",")), (name, s)) for name, keys, s in spec]


def test_answers_come_in_the_chunks_order_though_a_later_one_finishes_first() -> None:
    r = Recorder(waits_for={"a": "b"})
    out = list(apply_in_order(chunks(("a", "1", 0.2), ("b", "2", 0.01), ("c", "3", 0.01),
                                     ("d", "4", 0.01)), r, at_once=2))
    assert out == ["a", "b", "c", "d"]
    assert r.most == 2
    assert r.spans["b"][1] < r.spans["a"][1]  # b was applied while a ran


def test_no_more_than_at_once_run_together() -> None:
    r = Recorder(waits_for={"c0": "c2", "c1": "c2"})
    out = list(apply_in_order(chunks(*[(f"c{i}", str(i), 0.03) for i in range(9)]), r,
                              at_once=3))
    assert out == [f"c{i}" for i in range(9)]
    assert r.most == 3


def test_a_chunk_naming_a_key_of_one_being_applied_starts_after_it_finished() -> None:
    r = Recorder()
    # b names tube 7, which a (slow) names too; c names nothing of theirs
    out = list(apply_in_order(chunks(("a", "1,7", 0.15), ("b", "7,8", 0.01), ("c", "9", 0.01)),
                              r, at_once=2))
    assert out == ["a", "b", "c"]
    assert r.spans["b"][0] >= r.spans["a"][1]


def test_one_at_once_applies_in_turn_on_the_callers_thread() -> None:
    r = Recorder()
    out = list(apply_in_order(chunks(("a", "1", 0.01), ("b", "2", 0.01)), r, at_once=1))
    assert out == ["a", "b"]
    assert r.most == 1 and r.threads == {threading.current_thread().name}


def test_a_failure_starts_no_further_chunk_and_lets_the_started_ones_finish() -> None:
    r = Recorder(waits_for={"fail-b": "c"})
    got: list[str] = []
    with pytest.raises(RuntimeError, match="fail-b"):
        for answer in apply_in_order(chunks(("a", "1", 0.01), ("fail-b", "2", 0.01),
                                            ("c", "3", 0.2), ("d", "4", 0.01)), r, at_once=2):
            got.append(answer)
    assert got == ["a"]
    # c started beside b before b's failure was read: it finished before the raise
    assert "c" in r.spans and r.running == 0
    assert "d" not in r.spans


def test_a_caller_that_stops_reading_leaves_no_chunk_running() -> None:
    r = Recorder(waits_for={"a": "b"})
    answers = apply_in_order(chunks(("a", "1", 0.01), ("b", "2", 0.2), ("c", "3", 0.01)), r,
                             at_once=2)
    assert next(answers) == "a"
    answers.close()
    assert r.running == 0 and "b" in r.spans and "c" not in r.spans


def test_at_once_must_be_at_least_one() -> None:
    with pytest.raises(ValueError):
        list(apply_in_order([], str, at_once=0))
