"""The driver's own cursor for hot statements (``adapters.db.sql_helpers``), on both backends: it
runs inside the unit of work's transaction, binds a membership list as one parameter, returns
values as stored, and raises SQLAlchemy's exception classes so that callers' handling holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hesuan.adapters.db import sql_helpers
from hesuan.adapters.db.schema import station_events
from hesuan.bootstrap import Platform

_INSERT = ("INSERT INTO station_events (event_id, kind, site_id, actor, client_at, "
           "received_at) VALUES (:e, 'sample', 'S1', 'u1', :at, :at)")


def test_reads_and_writes_share_the_transaction(platform: Platform) -> None:
    pg = platform.engine.dialect.name == "postgresql"
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(3)]
    with platform.deps.uow() as uow:
        conn = uow.conn  # type: ignore[attr-defined]
        sql_helpers.executemany(conn, _INSERT, [{"e": e, "at": 1_700_000_000_000 + i}
                                           for i, e in enumerate(ids)])
        sql = ("SELECT event_id, client_at FROM station_events WHERE "
               + sql_helpers.one_of("event_id", pg) + " ORDER BY event_id")
        # seen before the commit: the same transaction as the unit of work
        assert sql_helpers.fetch(conn, sql, {"vals": sql_helpers.vals([*ids[1:], "missing"],
                                                                      pg)}) == [
            (ids[1], 1_700_000_000_001), (ids[2], 1_700_000_000_002)]
        assert sql_helpers.fetch(conn, sql, {"vals": sql_helpers.vals([], pg)}) == []
        assert sql_helpers.execute(conn, "UPDATE station_events SET actor = :a WHERE "
                              + sql_helpers.one_of("event_id", pg),
                              {"a": "u2", "vals": sql_helpers.vals(ids[:2], pg)}) == 2
    # not committed: rolled back with the unit of work
    with platform.deps.uow(readonly=True) as uow:
        assert sql_helpers.fetch(uow.conn, "SELECT count(*) FROM station_events", {}) == [(0,)]  # type: ignore[attr-defined]


def test_driver_errors_are_sqlalchemy_errors(platform: Platform) -> None:
    with platform.deps.uow() as uow:
        conn = uow.conn  # type: ignore[attr-defined]
        row = {"e": "00000000-0000-4000-8000-000000000001", "at": 1}
        sql_helpers.execute(conn, _INSERT, row)
        with pytest.raises(IntegrityError):
            sql_helpers.execute(conn, _INSERT, row)


def test_a_second_list_and_lists_of_bytes(platform: Platform) -> None:
    """A second list in one statement binds under its own name (``one_of``/``member_of``
    ``name=``); keyed hashes (bytes, which JSON cannot carry) are read by the same methods."""
    pg = platform.engine.dialect.name == "postgresql"
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(3)]
    with platform.deps.uow() as uow:
        conn = uow.conn  # type: ignore[attr-defined]
        sql_helpers.executemany(conn, _INSERT, [{"e": e, "at": 1_700_000_000_000 + i}
                                           for i, e in enumerate(ids)])
        sql_helpers.executemany(conn, "UPDATE station_events SET actor = :a WHERE event_id = :e",
                                [{"a": f"u{i}", "e": e} for i, e in enumerate(ids)])
        sql = ("SELECT event_id FROM station_events WHERE " + sql_helpers.one_of("event_id", pg)
               + " AND " + sql_helpers.one_of("actor", pg, name="actors") + " ORDER BY event_id")
        assert sql_helpers.fetch(conn, sql, {"vals": sql_helpers.vals(ids[:2], pg),
                                             "actors": sql_helpers.vals(["u1", "u2"], pg)}) == [
            (ids[1],)]
        e = station_events.c
        stmt = (select(e.event_id).where(sql_helpers.member_of(e.actor, pg, name="actors"))
                .order_by(e.event_id))
        assert conn.execute(stmt, {"actors": sql_helpers.vals(["u0", "u2"], pg)}).all() == [
            (ids[0],), (ids[2],)]
        at = datetime(2022, 8, 29, tzinfo=UTC)
        uow.users.add_sign_in_failure([b"k1", b"k2"], at, at - timedelta(days=1))
        uow.users.add_sign_in_failure([b"k1"], at + timedelta(minutes=1), at - timedelta(days=1))
        assert uow.users.sign_in_failures([b"k2", b"k1", b"k3"], at - timedelta(hours=1)) == {
            b"k1": [at, at + timedelta(minutes=1)], b"k2": [at], b"k3": []}
        assert uow.users.sign_in_failures([b"k1"], at) == {b"k1": [at + timedelta(minutes=1)]}
