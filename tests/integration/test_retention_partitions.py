"""History that expires by month, on PostgreSQL's monthly partitions (docs/RETENTION.md), and the
same counts on SQLite, which deletes rows: a month wholly past its cutoff whose every row has
expired goes by dropping its partitions; a month with a row still needed keeps its partition and
loses only the expired rows; a pass leaves the next months' partitions made, moving their rows
out of the default partition; a pass that cannot lock the tables deletes instead."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, insert, text

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db import partitions
from hesuan.adapters.db.schema import result_log, samples, station_events, tubes
from hesuan.bootstrap import Platform
from hesuan.domain.event_ids import time_ordered_id
from hesuan.domain.retention import RetentionReport
from hesuan.services.auth import SYSTEM
from hesuan.sim.example import seed_example_city
from tests.helpers import barcodes

JUNE, JULY = datetime(2022, 6, 10, tzinfo=UTC), datetime(2022, 7, 20, tzinfo=UTC)
#: The pass's instant: the cutoffs (30 days) fall on 2022-08-16, after July's end
PASS_AT = datetime(2022, 9, 15, tzinfo=UTC)


def server_id(at: datetime) -> str:
    """An id as the server makes them (``bootstrap.new_id``), made at ``at``."""
    return f"{int(at.timestamp() * 1000):012x}{os.urandom(10).hex()}"


def v7(at: datetime) -> str:
    return time_ordered_id(at, int.from_bytes(os.urandom(9)) >> 2)


def v4() -> str:
    """A UUIDv4 whose leading bits name no month a partition covers."""
    return "f" + str(uuid.uuid4())[1:]


class World:
    """Rows of June and July: what expires, what is still needed."""

    def __init__(self, p: Platform) -> None:
        city = seed_example_city(p, people=12)
        self.site = city.sites["140105"]
        with p.engine.connect() as c:
            self.people = list(c.execute(text("SELECT id FROM people ORDER BY id")).scalars())
        self._barcodes = barcodes(7100)

    def tube(self, c: Connection, opened: datetime, people: list[str],
             resulted: datetime | None) -> str:
        tid = server_id(opened)
        c.execute(insert(tubes).values(
            id=tid, barcode=next(self._barcodes), site_id=self.site, capacity=10,
            count=len(people), priority=False, status="resulted" if resulted else "sealed",
            opened_at=opened, result="negative" if resulted else None, resulted_at=resulted))
        for pid in people:
            c.execute(insert(samples).values(tube_id=tid, person_id=pid, event_id=v7(opened),
                                             sampled_at=opened + timedelta(minutes=1)))
        if resulted is not None:
            c.execute(insert(result_log).values(
                id=server_id(resulted), tube_id=tid, lab_id="lab", result="negative",
                actor="u", at=resulted))
        return tid

    @staticmethod
    def event(c: Connection, event_id: str, received: datetime) -> None:
        c.execute(insert(station_events).values(
            event_id=event_id, kind="sample", site_id=None, actor="u", client_at=received,
            received_at=received))


@pytest.fixture
def world(platform: Platform, backend: str, clock: FixedClock) -> Iterator[World]:
    if backend == "postgres":
        with platform.engine.begin() as c:
            partitions.ensure(c, [date(2022, 6, 1), date(2022, 7, 1)])
    w = World(platform)
    people = w.people
    with platform.engine.begin() as c:
        # June: two tubes resulted the next day, their events received then
        for i in range(2):
            w.tube(c, JUNE, people[i * 3:i * 3 + 3], JUNE + timedelta(days=1))
            w.event(c, v7(JUNE), JUNE)
        # July: one tube resulted, one never resulted (still needed: July's samples stay);
        # one event received in July, one with a July id received in August (still needed)
        w.tube(c, JULY, people[6:8], JULY + timedelta(days=1))
        w.tube(c, JULY, people[8:10], None)
        w.event(c, v7(JULY), JULY)
        w.event(c, v7(JULY), datetime(2022, 8, 20, tzinfo=UTC))
        # a station's UUIDv4, in the default partition, received in June
        w.event(c, v4(), JUNE)
    clock.set(PASS_AT)
    yield w


def _count(c: Connection, table: str) -> int:
    return int(c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _children(c: Connection, table: str) -> set[str]:
    return set(c.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:t)"), {"t": table}).scalars())


EXPECTED = RetentionReport(samples=8, aggregated=8, station_events=4)


def test_a_past_month_goes_by_its_partitions_and_a_needed_month_by_its_expired_rows(
        platform: Platform, backend: str, world: World) -> None:
    with platform.engine.connect() as c:
        before = {t: _count(c, t) for t in ("samples", "station_events", "result_log")}
    assert before == {"samples": 10, "station_events": 5, "result_log": 3}

    report = platform.retention.run(SYSTEM)

    assert report == EXPECTED
    with platform.engine.connect() as c:
        assert _count(c, "samples") == 2  # the unresulted July tube's
        assert _count(c, "station_events") == 1  # the July id received in August
        assert _count(c, "result_log") == 3  # kept for good
        held = sum(r.sampled for r in platform.retention.aggregates(SYSTEM))
        detail = c.execute(text("SELECT detail FROM audit_log WHERE action = 'retention.run'"
                                )).scalar_one()
        if backend != "postgres":
            return
        samples_parts = _children(c, "samples")
        events_parts = _children(c, "station_events")
        # June: dropped whole; July: kept, only its expired rows deleted
        assert "samples_p2022_06" not in samples_parts
        assert "station_events_p2022_06" not in events_parts
        assert {"samples_p2022_07", "station_events_p2022_07"} <= samples_parts | events_parts
        assert _count(c, "samples_p2022_07") == 2 and _count(c, "station_events_p2022_07") == 1
        assert _count(c, "station_events_default") == 0
        # the result log keeps its partitions (nothing of it expires)
        assert "result_log_p2022_06" in _children(c, "result_log")
        # the next months' partitions are there
        for t in ("samples", "station_events", "result_log"):
            assert {f"{t}_p2022_09", f"{t}_p2022_10", f"{t}_p2022_11"} <= _children(c, t)
    assert held == 8
    assert (detail if isinstance(detail, dict) else json.loads(detail)) == report.counts()
    assert platform.retention.run(SYSTEM) == RetentionReport()


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=False)
def test_a_pass_that_cannot_lock_the_tables_deletes_instead(
        platform: Platform, world: World) -> None:
    """Another transaction writing station events holds the pass off the lock a drop needs:
    it deletes the expired rows, counts the same, and the June partitions stay, empty."""
    # The months the pass keeps ahead are made first, so that what the blocker holds off is
    # the drop alone (a month to attach would wait for it too: the next test)
    with platform.engine.begin() as c:
        partitions.keep_ahead(c, PASS_AT)
    blocker = platform.engine.connect()
    try:
        blocker.execute(text("LOCK TABLE station_events IN ROW EXCLUSIVE MODE"))
        report = platform.retention.run(SYSTEM)
    finally:
        blocker.rollback()
        blocker.close()
    assert report == EXPECTED
    with platform.engine.connect() as c:
        assert "samples_p2022_06" in _children(c, "samples")
        assert _count(c, "samples_p2022_06") == 0 and _count(c, "station_events_p2022_06") == 0


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=False)
def test_a_pass_leaves_a_month_it_cannot_attach_to_the_next_pass(
        platform: Platform, clock: FixedClock) -> None:
    """A writer's transaction holds station events while a pass wants the coming months'
    partitions: the pass waits at most its lock wait (every reader of the table would queue
    behind it), makes the other tables' months, and the next pass makes the rest."""
    clock.set(datetime(2024, 3, 15, tzinfo=UTC))  # months no other test makes
    reports: list[RetentionReport] = []
    blocker = platform.engine.connect()
    try:
        blocker.execute(text("LOCK TABLE station_events IN ROW EXCLUSIVE MODE"))
        # on a thread, so that a pass waiting for the blocker fails the test, not hangs it
        passing = threading.Thread(target=lambda: reports.append(platform.retention.run(SYSTEM)))
        passing.start()
        passing.join(10)
        still_waiting = passing.is_alive()
    finally:
        blocker.rollback()
        blocker.close()
    passing.join(30)
    assert not still_waiting, "the pass waited for the writer's lock"
    assert reports == [RetentionReport()]
    with platform.engine.connect() as c:
        assert not {p for p in _children(c, "station_events") if p.startswith(
            "station_events_p2024")}
        for t in ("samples", "result_log"):
            assert {f"{t}_p2024_03", f"{t}_p2024_04", f"{t}_p2024_05"} <= _children(c, t)
    assert platform.retention.run(SYSTEM) == RetentionReport()
    with platform.engine.connect() as c:
        assert {"station_events_p2024_03", "station_events_p2024_04",
                "station_events_p2024_05"} <= _children(c, "station_events")


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=False)
def test_a_pass_makes_the_next_months_moving_their_rows_out_of_the_default(
        platform: Platform, clock: FixedClock) -> None:
    """An event whose id is of a month with no partition yet waits in the default partition;
    the pass that makes the month's partition moves it there, and it is still known."""
    clock.set(datetime(2023, 1, 15, tzinfo=UTC))
    ahead = v7(datetime(2023, 3, 5, tzinfo=UTC))
    with platform.engine.begin() as c:
        World.event(c, ahead, clock.now())
        where = c.execute(text("SELECT tableoid::regclass::text FROM station_events "
                               "WHERE event_id = :e"), {"e": ahead}).scalar_one()
    assert where == "station_events_default"
    assert platform.retention.run(SYSTEM) == RetentionReport()
    with platform.engine.connect() as c:
        where = c.execute(text("SELECT tableoid::regclass::text FROM station_events "
                               "WHERE event_id = :e"), {"e": ahead}).scalar_one()
        assert where == "station_events_p2023_03"
        for t in ("samples", "station_events", "result_log"):
            assert {f"{t}_p2023_01", f"{t}_p2023_02", f"{t}_p2023_03"} <= _children(c, t)
    with platform.deps.uow(readonly=True) as uow:
        assert uow.station.known_events([ahead]) == {ahead: None}


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=False)
def test_dropping_a_samples_partition_locks_neither_tubes_nor_people(platform: Platform) -> None:
    """Readers of tubes and people (every scan, every status) go on while a pass that dropped
    a month of samples commits: only the partitioned table itself is locked."""
    may = date(2022, 5, 1)
    with platform.engine.begin() as c:
        partitions.ensure(c, [may])
    with platform.engine.begin() as c:
        [part] = [p for p in partitions.partitions(c, "samples") if p.month == may]
        assert partitions.drop(c, part) == 0
        held = set(c.execute(text(
            "SELECT relation::regclass::text FROM pg_locks WHERE pid = pg_backend_pid() "
            "AND locktype = 'relation' AND mode = 'AccessExclusiveLock'")).scalars())
    assert "samples" in held and not held & {"tubes", "people"}


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=False)
def test_a_pass_leaves_the_partitioned_tables_analysed_as_a_whole(
        platform: Platform, clock: FixedClock) -> None:
    """Autovacuum analyses partitions, never the table they make up, whose statistics the
    planner reads for a join over all of it (a results batch's samples): the pass does."""
    clock.set(datetime(2023, 1, 15, tzinfo=UTC))
    with platform.engine.begin() as c:
        World.event(c, v7(clock.now()), clock.now())
        World.event(c, v4(), clock.now())
    platform.retention.run(SYSTEM)
    with platform.engine.connect() as c:
        analysed = set(c.execute(text(
            "SELECT DISTINCT tablename FROM pg_stats WHERE inherited AND tablename = ANY(:t)"),
            {"t": ["station_events", "samples", "result_log"]}).scalars())
    assert "station_events" in analysed
