"""Group commit of single station events (``SamplingService.submit_one``), on SQLite and
PostgreSQL: many windows scanning at once each get their own right answer, every event is
stored exactly once, a retried event is a duplicate, and one caller's failure is not another's.
The writer's grouping itself is checked deterministically with a blocking write."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import PermissionDenied
from hesuan.services.group_commit import INLINE_MAX, GroupCommit
from hesuan.services.sampling import EventKind, EventOutcome, StationEvent, TubeView
from hesuan.sim.example import ExampleCity, seed_example_city
from tests.helpers import barcodes

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a thread of its own: the browser tests leave an event loop running
    in the main thread, where ``asyncio.run`` refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def city(platform: Platform) -> ExampleCity:
    return seed_example_city(platform, people=120)


def _count(platform: Platform, sql: str) -> int:
    with platform.deps.uow(readonly=True) as uow:
        return int(uow.conn.execute(text(sql)).scalar_one())  # type: ignore[attr-defined]


def _windows_open_tubes(platform: Platform, city: ExampleCity, windows: int, first_barcode: int,
                        ) -> tuple[str, Principal, list[str], list[str]]:
    """A site's sampler, five people a window, and a 10-tube opened at each window."""
    site = city.sites["140106"]
    sampler = Principal("u-s", "s", Role.SAMPLER, site)
    with platform.deps.uow(readonly=True) as uow:
        people = [r[0] for r in uow.conn.execute(  # type: ignore[attr-defined]
            text("SELECT id FROM people WHERE groups = '' ORDER BY id LIMIT :n"),
            {"n": 5 * windows})]
    tubes = [b for _, b in zip(range(windows), barcodes(first_barcode), strict=False)]
    opened = platform.sampling.submit(sampler, [
        StationEvent(str(uuid.uuid4()), EventKind.OPEN_TUBE, site, platform.deps.clock.now(),
                     barcode=b, mode=10) for b in tubes])
    assert {o.status for o in opened} == {"accepted"}
    return site, sampler, people, tubes


def test_concurrent_single_scans_each_stored_once(platform: Platform, city: ExampleCity,
                                                  clock: FixedClock) -> None:
    windows = 8
    site, sampler, people, tubes = _windows_open_tubes(platform, city, windows, 9000)
    now = clock.now()
    # each window samples its five people into its own tube, all windows at once, and every
    # event is sent twice (a station retrying blindly)
    per_window = [people[w::windows] for w in range(windows)]
    events = {w: [StationEvent(str(uuid.uuid4()), EventKind.SAMPLE, site, now,
                               barcode=tubes[w], code=platform.deps.codes.sign(p))
                  for p in per_window[w]] for w in range(windows)}
    groups: list[int] = []
    run = platform.sampling._group._run  # on the event loop (SQLite, turn free) or a thread

    def counting(items: Sequence[tuple[Principal, StationEvent]]) -> list[EventOutcome]:
        out = run(items)  # raises (nothing written) or writes
        groups.append(len(items))
        return out

    platform.sampling._group._run = counting

    async def window(w: int) -> list[EventOutcome]:
        out = []
        for e in events[w]:
            out.append(await platform.sampling.submit_one(sampler, e))
            out.append(await platform.sampling.submit_one(sampler, e))
        return out

    async def all_windows() -> list[list[EventOutcome]]:
        return list(await asyncio.gather(*(window(w) for w in range(windows))))

    results = _run(all_windows())
    for w, outs in enumerate(results):
        assert [o.status for o in outs] == ["accepted", "duplicate"] * len(per_window[w])
        firsts = outs[::2]
        assert [o.event_id for o in firsts] == [e.event_id for e in events[w]]
        # the answer is this caller's own: its tube, counting up as the window fills it
        views = [o.tube if isinstance(o.tube, TubeView) else None for o in firsts]
        assert [t and t.barcode for t in views] == [tubes[w]] * len(firsts)
        assert [t and t.count for t in views] == list(range(1, len(firsts) + 1))
    assert _count(platform, "SELECT count(*) FROM samples") == len(people)
    assert _count(platform, "SELECT count(DISTINCT person_id) FROM samples") == len(people)
    assert _count(platform, "SELECT count(*) FROM person_status "
                            "WHERE test_state = 'sampled'") == len(people)
    # the windows' events went together: far fewer transactions than events
    assert sum(groups) == 2 * len(people)
    assert len(groups) <= 2 * len(people) // windows + 1, groups


def test_groups_written_at_once_store_each_event_once(platform: Platform, city: ExampleCity,
                                                     clock: FixedClock, backend: str) -> None:
    """Several groups in flight at once (PostgreSQL), each event sent twice at the same
    moment so that its two copies are in two of them: the first copy is accepted, the other a
    duplicate, whichever transaction commits first. SQLite writes one group at a time."""
    g = platform.sampling._group
    assert g._at_once == (3 if backend == "postgres" else 1)  # the composition root's choice
    windows = 4
    site, sampler, people, tubes = _windows_open_tubes(platform, city, windows, 9500)
    now = clock.now()
    # two events a group, a second group beside the first as soon as two wait
    g._max, g._deep = 2, 2
    run = g._run
    lock = threading.Lock()
    inside = [0]
    most = [0]
    two_inside = threading.Event()

    def overlapping(items: Sequence[tuple[Principal, StationEvent]]) -> list[EventOutcome]:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            if inside[0] >= 2:
                two_inside.set()
        try:
            if g._at_once > 1:  # the first group waits for another to be in flight with it
                assert two_inside.wait(10)
            return run(items)
        finally:
            with lock:
                inside[0] -= 1

    g._run = overlapping
    per_window = [people[w::windows] for w in range(windows)]

    async def scan_round(k: int) -> list[EventOutcome]:
        events = [StationEvent(str(uuid.uuid4()), EventKind.SAMPLE, site, now,
                               barcode=tubes[w], code=platform.deps.codes.sign(per_window[w][k]))
                  for w in range(windows)]
        # every window's event, then every window's event again: the copies land in
        # different groups, written at the same time
        return list(await asyncio.gather(*(platform.sampling.submit_one(sampler, e)
                                           for e in events + events)))

    async def five_rounds() -> list[list[EventOutcome]]:
        return [await scan_round(k) for k in range(5)]

    for k, outs in enumerate(_run(five_rounds())):
        for w in range(windows):
            first, again = outs[w], outs[w + windows]
            assert first.event_id == again.event_id
            assert sorted([first.status, again.status]) == ["accepted", "duplicate"]
            accepted = first if first.status == "accepted" else again
            assert isinstance(accepted.tube, TubeView)
            assert (accepted.tube.barcode, accepted.tube.count) == (tubes[w], k + 1)
    if backend == "sqlite":
        assert most[0] == 1
    else:
        assert most[0] >= 2
    assert _count(platform, "SELECT count(*) FROM samples") == len(people)
    assert _count(platform, "SELECT count(DISTINCT person_id) FROM samples") == len(people)
    assert _count(platform, "SELECT count(*) FROM station_events "
                            "WHERE kind = 'sample'") == len(people)


def test_single_scan_needs_a_station_role(platform: Platform, city: ExampleCity,
                                          clock: FixedClock) -> None:
    courier = Principal("u-c", "c", Role.COURIER, None)
    with pytest.raises(PermissionDenied):
        _run(platform.sampling.submit_one(courier, StationEvent(
            str(uuid.uuid4()), EventKind.OPEN_TUBE, city.sites["140106"], clock.now(),
            barcode=next(barcodes(9100)), mode=10)))


# -- the writer, deterministically ---------------------------------------------------------

_SAMPLER = Principal("u-s", "s", Role.SAMPLER, "site")


def _item(n: int) -> tuple[Principal, StationEvent]:
    from datetime import UTC, datetime

    return _SAMPLER, StationEvent(f"e{n}", EventKind.SEAL_TUBE, "site", datetime.now(UTC))


class _FirstHeld:
    """A writer's ``run`` that records each group's ids and holds the first group in flight
    until ``release`` is set."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.first_inside, self.release = threading.Event(), threading.Event()

    def __call__(self, items: Sequence[tuple[Principal, StationEvent]]) -> list[EventOutcome]:
        self.groups.append([e.event_id for _, e in items])
        if len(self.groups) == 1:
            self.first_inside.set()
            assert self.release.wait(10)
        return [EventOutcome(e.event_id, "accepted") for _, e in items]

    async def lead(self, gc: GroupCommit[Any, EventOutcome], behind: int,
                   ) -> tuple[asyncio.Future[EventOutcome], list[asyncio.Future[EventOutcome]]]:
        """``e0`` submitted and, once its group is in flight, ``e1`` … ``e{behind}``."""
        lead = asyncio.ensure_future(gc.submit(_item(0)))
        while not self.first_inside.is_set():
            await asyncio.sleep(0.001)
        return lead, [asyncio.ensure_future(gc.submit(_item(n))) for n in range(1, behind + 1)]


def test_events_arriving_during_a_write_go_together_into_the_next() -> None:
    run = _FirstHeld()
    gc = GroupCommit(run, max_events=3)

    async def scenario() -> list[EventOutcome]:
        lead, others = await run.lead(gc, 5)
        await asyncio.sleep(0.01)
        run.release.set()
        return list(await asyncio.gather(lead, *others))

    outs = _run(scenario())
    assert [o.event_id for o in outs] == [f"e{n}" for n in range(6)]
    # the first alone; the five that queued meanwhile, at most three a transaction
    assert run.groups == [["e0"], ["e1", "e2", "e3"], ["e4", "e5"]]


def test_a_deep_queue_is_written_beside_the_group_in_flight() -> None:
    run = _FirstHeld()
    gc = GroupCommit(run, max_events=1000, at_once=2, deep_queue=4)

    async def scenario() -> list[EventOutcome]:
        lead, others = await run.lead(gc, 4)
        # four wait: a second writer takes them while the first group is still in flight
        done = await asyncio.wait_for(asyncio.gather(*others), 10)
        assert not lead.done()
        run.release.set()
        return [await lead, *done]

    outs = _run(scenario())
    assert [o.event_id for o in outs] == [f"e{n}" for n in range(5)]
    assert run.groups == [["e0"], ["e1", "e2", "e3", "e4"]]
    assert not gc._writers and not gc._queue


def test_a_shallow_queue_waits_for_the_group_in_flight() -> None:
    run = _FirstHeld()
    gc = GroupCommit(run, max_events=1000, at_once=2, deep_queue=4)

    async def scenario() -> list[EventOutcome]:
        lead, others = await run.lead(gc, 3)
        await asyncio.sleep(0.05)
        assert run.groups == [["e0"]]  # three wait: not worth a second group
        run.release.set()
        return list(await asyncio.gather(lead, *others))

    assert [o.event_id for o in _run(scenario())] == [f"e{n}" for n in range(4)]
    assert run.groups == [["e0"], ["e1", "e2", "e3"]]


def test_no_more_groups_in_flight_than_at_once() -> None:
    inside: list[int] = [0]
    most: list[int] = [0]
    lock = threading.Lock()
    calls: list[int] = []

    def run(items: Sequence[tuple[Principal, StationEvent]]) -> list[EventOutcome]:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            calls.append(len(items))
        threading.Event().wait(0.05)  # long enough that the three overlap on a busy machine
        with lock:
            inside[0] -= 1
        return [EventOutcome(e.event_id, "accepted") for _, e in items]

    gc = GroupCommit(run, max_events=2, at_once=3, deep_queue=2)

    async def scenario() -> list[EventOutcome]:
        return list(await asyncio.gather(*(gc.submit(_item(n)) for n in range(40))))

    assert [o.event_id for o in _run(scenario())] == [f"e{n}" for n in range(40)]
    assert sum(calls) == 40 and max(calls) == 2
    assert most[0] == 3  # three at once, never four
    assert not gc._writers and not gc._queue


def test_a_failing_group_is_written_one_by_one() -> None:
    calls: list[int] = []
    first_inside, release = threading.Event(), threading.Event()

    def run(items: Sequence[tuple[Principal, StationEvent]]) -> list[EventOutcome]:
        calls.append(len(items))
        if len(calls) == 1:
            first_inside.set()
            assert release.wait(10)
        if any(e.event_id == "e2" for _, e in items):
            raise RuntimeError("disk full")
        return [EventOutcome(e.event_id, "accepted") for _, e in items]

    gc = GroupCommit(run, max_events=1000)

    async def scenario() -> list[EventOutcome | BaseException]:
        lead = asyncio.ensure_future(gc.submit(_item(0)))
        while not first_inside.is_set():
            await asyncio.sleep(0.001)
        others = [asyncio.ensure_future(gc.submit(_item(n))) for n in (1, 2, 3)]
        await asyncio.sleep(0.01)
        release.set()
        return list(await asyncio.gather(lead, *others, return_exceptions=True))

    outs = _run(scenario())
    assert [getattr(o, "status", None) for o in outs] == ["accepted", "accepted", None,
                                                           "accepted"]
    assert isinstance(outs[2], RuntimeError) and "disk full" in str(outs[2])
    assert calls == [1, 3, 1, 1, 1]  # the first alone, the group of three, then each alone
    assert not gc._writers and not gc._queue


def test_a_caller_going_away_does_not_stop_the_others() -> None:
    release = threading.Event()
    written: list[str] = []

    def run(items: Sequence[tuple[Principal, StationEvent]]) -> list[EventOutcome]:
        assert release.wait(10)
        written.extend(e.event_id for _, e in items)
        return [EventOutcome(e.event_id, "accepted") for _, e in items]

    gc = GroupCommit(run, max_events=1000)

    async def scenario() -> EventOutcome:
        first = asyncio.ensure_future(gc.submit(_item(0)))
        second = asyncio.ensure_future(gc.submit(_item(1)))
        await asyncio.sleep(0.01)
        first.cancel()  # the client hung up while its write was running
        release.set()
        return await second

    assert _run(scenario()).event_id == "e1"
    assert written == ["e0", "e1"]  # the departed caller's event was still written


class _Turn:
    """An ``InlineWrites`` whose write turn is free or busy."""

    def __init__(self, free: bool) -> None:
        self.free = free
        self.asked = 0

    @contextmanager
    def turn(self) -> Iterator[bool]:
        self.asked += 1
        yield self.free


def _where(loop_thread: list[int]) -> str:
    return "loop" if threading.get_ident() == loop_thread[0] else "thread"


def test_a_small_group_is_written_on_the_event_loop_when_the_turn_is_free() -> None:
    where: list[str] = []
    loop_thread: list[int] = []

    def run(items: Sequence[tuple[Principal, StationEvent]]) -> list[EventOutcome]:
        where.append(_where(loop_thread))
        return [EventOutcome(e.event_id, "accepted") for _, e in items]

    gc = GroupCommit(run, max_events=1000, inline=_Turn(free=True))

    async def scenario() -> list[EventOutcome]:
        loop_thread.append(threading.get_ident())
        return list(await asyncio.gather(*(gc.submit(_item(n)) for n in range(3))))

    assert [o.event_id for o in _run(scenario())] == ["e0", "e1", "e2"]
    assert where == ["loop"]  # one group, three callers, no thread


def test_a_busy_turn_or_a_large_group_goes_to_a_thread() -> None:
    calls: list[tuple[str, int]] = []
    loop_thread: list[int] = []

    def run(items: Sequence[tuple[Principal, StationEvent]]) -> list[EventOutcome]:
        calls.append((_where(loop_thread), len(items)))
        return [EventOutcome(e.event_id, "accepted") for _, e in items]

    busy = _Turn(free=False)
    gc = GroupCommit(run, max_events=1000, inline=busy)

    async def scenario(n: int) -> list[EventOutcome]:
        loop_thread[:] = [threading.get_ident()]
        return list(await asyncio.gather(*(gc.submit(_item(k)) for k in range(n))))

    assert [o.status for o in _run(scenario(2))] == ["accepted"] * 2
    assert calls == [("thread", 2)] and busy.asked == 1  # asked at once, written on a thread
    calls.clear()
    free = gc._inline = _Turn(free=True)
    big = INLINE_MAX + 1
    assert len(_run(scenario(big))) == big
    assert calls == [("thread", big)]  # too large to hold the event loop for: not tried
    assert free.asked == 0


def test_a_group_failing_on_the_loop_is_written_on_a_thread_one_by_one() -> None:
    calls: list[tuple[str, int]] = []
    loop_thread: list[int] = []

    def run(items: Sequence[tuple[Principal, StationEvent]]) -> list[EventOutcome]:
        calls.append((where := _where(loop_thread), len(items)))
        if where == "loop" or any(e.event_id == "e1" for _, e in items):
            raise RuntimeError("disk full")
        return [EventOutcome(e.event_id, "accepted") for _, e in items]

    gc = GroupCommit(run, max_events=1000, inline=_Turn(free=True))

    async def scenario() -> list[EventOutcome | BaseException]:
        loop_thread.append(threading.get_ident())
        return list(await asyncio.gather(*(gc.submit(_item(n)) for n in range(3)),
                                         return_exceptions=True))

    outs = _run(scenario())
    assert [getattr(o, "status", None) for o in outs] == ["accepted", None, "accepted"]
    assert calls == [("loop", 3), ("thread", 3), ("thread", 1), ("thread", 1), ("thread", 1)]
