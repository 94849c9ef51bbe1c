"""The driver's own cursor for hot statements (``adapters.db.sql_helpers``), on both backends: it
runs inside the unit of work's transaction, binds a membership list as one parameter, returns
values as stored, and raises SQLAlchemy's exception classes so that callers' handling holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from hesuan.adapters.db import sql_helpers
from hesuan.adapters.db.schema import boxes, sites, station_events, tubes
from hesuan.bootstrap import Platform
from hesuan.services.sampling_ports import NewTubeRow, TubeChangeRow

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


_stamp = st.one_of(st.none(), st.integers(0, 10**6).map(
    lambda s: datetime(2022, 8, 29, tzinfo=UTC) + timedelta(seconds=s)))
_tube_row = st.builds(
    lambda n, count, priority, status, first, sealed, box: NewTubeRow(
        f"t{n}", f"{n:012d}", "S1", None, 10, count, priority, status,
        datetime(2022, 8, 29, tzinfo=UTC), "u1", first, sealed, box),
    st.integers(0, 5), st.integers(0, 10), st.booleans(), st.sampled_from(["open", "sealed"]),
    _stamp, _stamp, st.one_of(st.none(), st.sampled_from(["B1", "B2"])))
_tube_change = st.builds(
    lambda n, count, priority, status, first, sealed, box: TubeChangeRow(
        count, priority, status, first, sealed, box, f"t{n}"),
    st.integers(0, 5), st.integers(0, 10), st.booleans(), st.sampled_from(["open", "sealed"]),
    _stamp, _stamp, st.one_of(st.none(), st.sampled_from(["B1", "B2"])))


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(new=st.lists(_tube_row, max_size=12, unique_by=lambda r: r.id),
       changes=st.lists(_tube_change, max_size=12),
       kept=st.sampled_from([frozenset(), frozenset({"sealed_at", "box_id"})]))
def test_bulk_writes_leave_what_one_row_at_a_time_leaves(
        platform: Platform, new: list[NewTubeRow], changes: list[TubeChangeRow],
        kept: frozenset[str]) -> None:
    """``insert_many`` and ``update_many`` (one statement of arrays on PostgreSQL, the driver's
    executemany on SQLite) leave the table as SQLAlchemy's INSERT and UPDATE of each row in
    turn do: timestamps, NULLs, an id updated twice in one call, the columns kept if None."""
    def moved(prefix: str, r: Any) -> Any:
        return r._replace(id=prefix + r.id, **({"barcode": prefix + r.barcode[1:]}
                                               if hasattr(r, "barcode") else {}))

    t = tubes.c
    with platform.deps.uow() as uow:
        conn = uow.conn  # type: ignore[attr-defined]
        at = datetime(2022, 8, 29, tzinfo=UTC)
        conn.execute(insert(sites).values(id="S1", name="S1", kind="fixed", region_code="140105",
                                          opening_hours="08:00-20:00", windows=2,
                                          status="open", created_at=at))
        conn.execute(insert(boxes), [{"id": b, "code": b, "site_id": "S1", "status": "open",
                                      "opened_at": at} for b in ("B1", "B2")])
        for r in new:  # the reference: one statement a row, through SQLAlchemy
            conn.execute(insert(tubes).values(moved("a", r)._asdict()))
        for change in changes:
            row = moved("a", change)._asdict()
            conn.execute(update(tubes).where(t.id == row.pop("id")).values(
                {k: (func.coalesce(literal(v, t[k].type), t[k]) if k in kept else v)
                 for k, v in row.items()}))
        sql_helpers.insert_many(conn, tubes, [moved("b", r) for r in new])
        sql_helpers.update_many(conn, tubes, [moved("b", r) for r in changes], kept)

        def stored(prefix: str) -> list[tuple[Any, ...]]:
            rows = conn.execute(select(tubes).where(t.id.like(prefix + "%"))).all()
            return sorted((r.id[1:], r.barcode[1:], *r[2:]) for r in rows)

        assert stored("b") == stored("a")
