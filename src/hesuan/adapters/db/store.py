"""The SQL unit of work: one connection, one transaction, and every storage method the services
use (the ``UnitOfWork`` port). Works on SQLite and PostgreSQL with the same statements.

Hot paths are set-based: station batches and result files are written with ``executemany`` and
``UPDATE ... FROM`` joins against a temporary table, never a loop of per-row loads.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.services.ports``, ``hesuan.domain``.
"""

from __future__ import annotations

import fcntl
import functools
import json
import operator
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Self

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy import update as sa_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError

from hesuan.adapters.db import driver, status_sql
from hesuan.adapters.db.engine import BUSY_TIMEOUT_MS, store_unavailable, write_race
from hesuan.adapters.db.fence_store import FenceStoreMixin
from hesuan.adapters.db.lanes_store import LaneStoreMixin
from hesuan.adapters.db.passes_store import PassStoreMixin
from hesuan.adapters.db.rosters_store import RosterStoreMixin
from hesuan.adapters.db.schema import (
    Timestamp,
    alerts,
    audit_log,
    audit_meta,
    boxes,
    from_ms,
    labs,
    open_slots,
    outbox,
    people,
    person_status,
    recalls,
    regions,
    rejected_results,
    samples,
    sites,
    station_events,
    to_ms,
    tokens,
    tubes,
    users,
)
from hesuan.adapters.db.sign_in_store import SignInStoreMixin
from hesuan.adapters.db.status_store import StatusStoreMixin, _dt, _sql
from hesuan.adapters.db.teams_store import TeamStoreMixin
from hesuan.adapters.db.venues_store import VenueStoreMixin
from hesuan.adapters.db.zones_store import ZoneStoreMixin
from hesuan.domain.access import Principal, Role
from hesuan.domain.audit import GENESIS, AuditEntry, ChainKey
from hesuan.domain.errors import StoreUnavailable
from hesuan.domain.local_time import short
from hesuan.domain.results import RecallReason, Result, member_outcome, pool_outcome
from hesuan.domain.sampling import TubeState, TubeStatus
from hesuan.services.ports import (
    BoxRow,
    InDoubtMessage,
    NewPerson,
    OutboxMessage,
    PersonFactsRow,
    PersonRow,
    ResultTube,
    SiteRow,
    StationWrites,
    TurnBusy,
)

__all__ = ["SqlUnitOfWork", "SqlUnitOfWorkFactory", "WriteTurn"]

#: Keep IN-lists under SQLite's default limit of 32,766 bound variables.
_CHUNK = 10000
_AUDIT_LOCK = 7_411_0001


#: The outbox's per-message statements (docs/SMS.md): claim before the hand-over, mark after.
_OUTBOX_CLAIM = text(
    "UPDATE outbox SET claimed_at = :now WHERE id = :id AND sent_at IS NULL "
    "AND claimed_at IS NULL AND next_attempt_at <= :now")
_OUTBOX_SENT = text("UPDATE outbox SET sent_at = :now, attempts = attempts + 1 WHERE id = :id")
_TUBE_NOTIFIED = text(
    "UPDATE tubes SET notified_at = :now WHERE notified_at IS NULL AND id = "
    "(SELECT tube_id FROM outbox WHERE id = :id) AND NOT EXISTS (SELECT 1 FROM outbox "
    "o WHERE o.tube_id = tubes.id AND o.sent_at IS NULL)")


def _chunks(values: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), n):
        yield values[i : i + n]


def _iso(ms: int | None) -> str | None:
    return None if ms is None else from_ms(ms).isoformat().replace("+00:00", "Z")


class WriteTurn:
    """Whose turn it is to write a SQLite database: one thread of one process at a time.

    SQLite has one writer. Waiting in its busy handler costs idle time, as the handler sleeps
    1, 2, 5, ... 100 ms between retries, so under many writers a write waits far longer than
    it takes. Writers instead queue here and are woken the moment the turn is free:
    threads of this process on a lock, and processes (``serve --workers N`` on one file) on an
    advisory ``flock`` of ``<database>-writer``. Re-entrant in one thread. Writers that do not
    take turns (another program) are still kept out by SQLite's own lock."""

    def __init__(self, lock_file: str | None) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._fd = (os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                    if lock_file else None)

    def acquire(self, blocking: bool = True) -> bool:
        """Take the turn, waiting for it; or, with ``blocking=False``, only if nobody else
        holds it. True if taken."""
        if not self._lock.acquire(blocking):
            return False
        self._depth += 1
        if self._depth == 1 and self._fd is not None:
            try:
                # releases the GIL while it waits
                fcntl.flock(self._fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BaseException as exc:
                self._depth -= 1
                self._lock.release()
                if isinstance(exc, BlockingIOError):
                    return False
                raise
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()


class SqlUnitOfWorkFactory:
    """Units of work on ``engine``; ``chain`` keys the audit entries they append (the key is
    derived from the master secret and never stored in the database)."""

    def __init__(self, engine: Engine, synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
                 *, chain: ChainKey) -> None:
        self.engine = engine
        self._chain = chain
        self._write_lock: WriteTurn | None = None
        if engine.dialect.name == "sqlite":
            db = engine.url.database
            self._write_lock = WriteTurn(f"{db}-writer" if db and db != ":memory:" else None)
        # SQLite in WAL with synchronous=NORMAL does not wait for the disk at commit
        # (the checkpoint does, on a thread of its own); PostgreSQL always waits on the network
        self.local_writes = self._write_lock is not None and synchronous == "NORMAL"

    def __call__(self, *, readonly: bool = False, wait: bool = True,
                 bulk: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, readonly, None if readonly else self._write_lock,
                             wait=wait, bulk=bulk, chain=self._chain)


class SqlUnitOfWork(StatusStoreMixin, PassStoreMixin, VenueStoreMixin, ZoneStoreMixin,
                    RosterStoreMixin, FenceStoreMixin, LaneStoreMixin, TeamStoreMixin,
                    SignInStoreMixin):
    def __init__(self, engine: Engine, readonly: bool,
                 write_lock: WriteTurn | None = None, wait: bool = True,
                 bulk: bool = False, *, chain: ChainKey) -> None:
        self._engine = engine
        self._chain = chain
        self._readonly = readonly
        self._pg = engine.dialect.name == "postgresql"
        self._write_lock = write_lock
        self._wait = wait
        # SQLite keeps temporary tables and sorts in files (engine.py: a sort of every status
        # row in memory would take the server's memory with it); a bulk unit of work's scratch
        # — a results file's temporary tables, the UPDATE ... FROM's own — fits in memory and
        # is a noticeable share of the fan-out's time in files; it is freed when the unit ends
        self._scratch_in_memory = bulk and engine.dialect.name == "sqlite"

    # -- transaction -----------------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._write_lock is not None and not self._write_lock.acquire(self._wait):
            raise TurnBusy("another writer holds the write turn")
        try:
            conn = self._engine.connect()
            self.conn: Connection = conn
            try:
                if self._readonly:
                    conn = self.conn = conn.execution_options(hesuan_readonly=True)
                if self._scratch_in_memory:  # outside a transaction: SQLite refuses it inside
                    self._raw().execute("PRAGMA temp_store=MEMORY")
                self._tx = self._begin(conn)
            except BaseException:
                self._scratch_back_to_files()
                conn.close()
                raise
            self._audit_tail: tuple[int, str] | None = None
            self._audit_rows: list[dict[str, Any]] = []
        except BaseException as exc:
            if self._write_lock is not None:
                self._write_lock.release()
            if (lost := store_unavailable(exc)) is not None:
                raise lost from exc
            raise
        return self

    def _begin(self, conn: Connection) -> Any:
        if self._wait or self._write_lock is None:
            return conn.begin()
        # A write that may not wait (on an event loop) must not wait for SQLite's own lock
        # either, held by a writer that does not take turns (a bulk load, another program):
        # no busy timeout for its BEGIN IMMEDIATE, which then fails at once.
        self._raw().execute("PRAGMA busy_timeout=0")
        try:
            return conn.begin()
        except OperationalError as exc:
            raise TurnBusy(f"SQLite's write lock is held outside the turn: {exc.orig}") from exc
        finally:
            self._raw().execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # The drivers' errors that mean the store cannot write (a full disk, a lost
        # connection: ``engine.store_unavailable``) leave here as the domain's
        # ``StoreUnavailable``, once for every use case: the transaction is rolled back, so
        # nothing of it was written.
        lost = None if exc is None else store_unavailable(exc)
        try:
            if self._tx.is_active:
                self._tx.rollback()
        except Exception as failed:  # the connection that failed the work fails this too
            if (lost := lost or store_unavailable(failed)) is None:
                raise
        finally:
            try:
                self._scratch_back_to_files()
            except Exception as failed:
                if (lost := lost or store_unavailable(failed)) is None:
                    raise
            finally:
                self.conn.close()
                if self._write_lock is not None:
                    self._write_lock.release()
        if lost is not None and not isinstance(exc, StoreUnavailable):  # else: it leaves as is
            raise lost from exc

    def _raw(self) -> Any:
        return self.conn.connection.driver_connection

    def _scratch_back_to_files(self) -> None:
        """A bulk unit's connection goes back to the pool as every other: scratch in files
        (this drops its temporary tables, and frees their memory)."""
        if self._scratch_in_memory:
            self._raw().execute("PRAGMA temp_store=FILE")

    def commit(self) -> None:
        self._flush_audit()
        try:
            self._tx.commit()
        except Exception as exc:
            if (lost := store_unavailable(exc, committing=True)) is not None:
                raise lost from exc
            raise

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert(table) if self._pg else sqlite.insert(table))

    def _in(self, column: Any, values: Iterable[Any], *cols: Any,
            where: Any = None) -> list[Any]:
        vals = list(dict.fromkeys(values))
        out: list[Any] = []
        for part in _chunks(vals):
            if where is None:
                if not self._pg and isinstance(part[0], bytes):  # JSON carries no bytes
                    stmt = _select_in_expanding(column, cols)
                    out.extend(self.conn.execute(stmt, {"vals": part}).all())
                    continue
                out.extend(self.conn.execute(_select_in(column, cols, self._pg),
                                             {"vals": driver.vals(part, self._pg)}).all())
            else:
                stmt = select(*cols).where(column.in_(part)).where(where)
                out.extend(self.conn.execute(stmt).all())
        return out

    # -- audit -----------------------------------------------------------------------------

    def audit(self, at: datetime, actor: str, action: str, subject: str,
              detail: dict[str, Any]) -> None:
        tail = self._audit_tail
        if tail is None:
            if self._pg:  # serialise appends so the chain never forks between transactions
                self.conn.execute(_sql("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK})
            last = driver.fetch(self.conn, _AUDIT_LAST, {})
            tail = (last[0][0], last[0][1]) if last else (0, GENESIS)
        # the chain's end is read once a transaction: no one else appends until it ends (the
        # write turn on SQLite, the advisory lock on PostgreSQL)
        seq, prev = tail[0] + 1, tail[1]
        at_s = at.isoformat()
        h = self._chain.entry_hash(prev, seq, at_s, actor, action, subject, detail)
        # kept until the commit and written then in one statement: a group commit of many
        # sites' windows appends one entry per site, and each INSERT cost a statement
        self._audit_rows.append({"seq": seq, "at": at_s, "actor": actor, "action": action,
                                 "subject": subject, "detail": detail, "prev_hash": prev,
                                 "hash": h})
        self._audit_tail = (seq, h)

    def _flush_audit(self) -> None:
        if self._audit_rows:
            self.conn.execute(_AUDIT_INSERT, self._audit_rows)
            self._audit_rows = []

    def audit_entries(self, after_seq: int, limit: int) -> list[AuditEntry]:
        self._flush_audit()
        rows = self.conn.execute(select(audit_log).where(audit_log.c.seq > after_seq)
                                 .order_by(audit_log.c.seq).limit(limit)).all()
        return [AuditEntry(r.seq, r.at, r.actor, r.action, r.subject, r.detail, r.prev_hash,
                           r.hash) for r in rows]

    def audit_head(self) -> tuple[int, str] | None:
        self._flush_audit()
        last = driver.fetch(self.conn, _AUDIT_LAST, {})
        return (int(last[0][0]), str(last[0][1])) if last else None

    def audit_legacy_upto(self) -> int:
        value = self.conn.execute(select(audit_meta.c.legacy_upto)
                                  .where(audit_meta.c.id == 1)).scalar()
        return int(value or 0)

    # -- users -----------------------------------------------------------------------------

    def add_user(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(users), row)

    def user_by_name(self, username: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(users).where(users.c.username == username)).first()
        return None if r is None else dict(r._mapping)

    def add_token(self, token_hash: str, user_id: str, now: datetime,
                  expires_at: datetime) -> None:
        self.conn.execute(insert(tokens), {"token_hash": token_hash, "user_id": user_id,
                                           "created_at": now, "expires_at": expires_at})

    def delete_token(self, token_hash: str) -> str | None:
        r = self.conn.execute(delete(tokens).where(tokens.c.token_hash == token_hash)
                              .returning(tokens.c.user_id)).first()
        return None if r is None else str(r[0])

    def principal_for_token(self, token_hash: str, now: datetime) -> Principal | None:
        r = self.conn.execute(
            select(users.c.id, users.c.username, users.c.role, users.c.scope)
            .join(tokens, tokens.c.user_id == users.c.id)
            .where(tokens.c.token_hash == token_hash, tokens.c.expires_at > now,
                   users.c.active.is_(True))
        ).first()
        return None if r is None else Principal(r.id, r.username, Role(r.role), r.scope)

    # -- places ----------------------------------------------------------------------------

    def upsert_regions(self, rows: Sequence[dict[str, Any]]) -> None:
        stmt = self._insert(regions)
        stmt = stmt.on_conflict_do_update(
            index_elements=["code"],
            set_={"name": stmt.excluded.name, "level": stmt.excluded.level,
                  "parent_code": stmt.excluded.parent_code})
        for part in _chunks(list(rows), 2000):
            self.conn.execute(stmt, list(part))

    def grid_codes(self) -> set[str]:
        return {r[0] for r in self.conn.execute(
            select(regions.c.code).where(regions.c.level == "grid"))}

    def region(self, code: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(regions).where(regions.c.code == code)).first()
        return None if r is None else dict(r._mapping)

    def add_site(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(sites), row)

    def sites(self, ids: Iterable[str] | None = None) -> list[SiteRow]:
        if ids is None:
            return [SiteRow(*r) for r in driver.fetch(self.conn, _SITES + "ORDER BY name", {})]
        return [SiteRow(*r) for r in driver.fetch_in(self.conn, _SITES_IN[self._pg], ids,
                                                     self._pg)]

    def add_lab(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(labs), row)

    def labs(self) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self.conn.execute(
            select(labs.c.id, labs.c.name, labs.c.region_code, labs.c.daily_capacity)
            .order_by(labs.c.name))]

    def lab(self, lab_id: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(labs).where(labs.c.id == lab_id)).first()
        return None if r is None else dict(r._mapping)

    # -- people ----------------------------------------------------------------------------

    def insert_people(self, rows: Sequence[NewPerson], now: datetime) -> int:
        present = {r[0] for r in self._in(people.c.id_hash, [p.id_hash for p in rows],
                                          people.c.id_hash)}
        fresh: dict[bytes, NewPerson] = {}
        for p in rows:
            if p.id_hash not in present and p.id_hash not in fresh:
                fresh[p.id_hash] = p
        if not fresh:
            return 0
        ts = to_ms(now)
        self.conn.execute(insert(people), [
            {"id": p.id, "id_kind": p.id_kind, "id_hash": p.id_hash, "id_enc": p.id_enc,
             "id_last4": p.id_last4, "name_enc": p.name_enc, "name_masked": p.name_masked,
             "phone_enc": p.phone_enc, "phone_hash": p.phone_hash, "grid_code": p.grid_code,
             "household_id": p.household_id, "address": p.address, "groups": p.groups,
             "birth_year": p.birth_year, "language": p.language, "created_at": ts}
            for p in fresh.values()])
        self.conn.execute(insert(person_status), [
            {"person_id": p.id, "test_state": "none", "updated_at": ts} for p in fresh.values()])
        return len(fresh)

    def person(self, person_id: str) -> PersonRow | None:
        p, s = people.c, person_status.c
        r = self.conn.execute(
            select(p.id, p.id_kind, p.id_enc, p.id_last4, p.name_enc, p.name_masked, p.phone_enc,
                   p.grid_code, p.household_id, p.address, p.groups, p.language, s.test_state,
                   s.last_sampled_at, s.last_result, s.last_result_at, s.last_negative_at,
                   s.open_recall_id, s.next_due_at)
            .join(person_status, s.person_id == p.id).where(p.id == person_id)
        ).first()
        return None if r is None else PersonRow(**r._mapping)

    def people_ids(self, limit: int) -> list[str]:
        return [r[0] for r in self.conn.execute(
            select(people.c.id).order_by(people.c.created_at, people.c.id).limit(limit))]

    def person_id_by_hash(self, id_hash: bytes) -> str | None:
        r = self.conn.execute(select(people.c.id).where(people.c.id_hash == id_hash)).first()
        return None if r is None else str(r[0])

    def person_facts(self, person_ids: Iterable[str]) -> dict[str, PersonFactsRow]:
        return {r[0]: PersonFactsRow(r[1], r[2], r[3], r[4], r[5])
                for r in driver.fetch_in(self.conn, _PERSON_FACTS[self._pg], person_ids,
                                         self._pg)}

    def person_samples(self, person_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            select(samples.c.sampled_at, tubes.c.barcode, tubes.c.capacity, tubes.c.status,
                   tubes.c.result, tubes.c.resulted_at, sites.c.name.label("site"),
                   samples.c.recall_id)
            .join(tubes, tubes.c.id == samples.c.tube_id)
            .join(sites, sites.c.id == tubes.c.site_id)
            .where(samples.c.person_id == person_id).order_by(samples.c.sampled_at.desc())
            .limit(100)).all()
        return [dict(r._mapping) for r in rows]

    def person_recalls(self, person_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            select(recalls.c.id, recalls.c.reason, recalls.c.status, recalls.c.opened_at,
                   recalls.c.due_at, recalls.c.resolved_at, recalls.c.outcome)
            .where(recalls.c.person_id == person_id).order_by(recalls.c.opened_at.desc())
            .limit(50)).all()
        return [dict(r._mapping) for r in rows]

    # -- station events --------------------------------------------------------------------

    def known_events(self, event_ids: Iterable[str]) -> dict[str, str | None]:
        return {r[0]: r[1] for r in driver.fetch_in(self.conn, _KNOWN_EVENTS[self._pg],
                                                    event_ids, self._pg)}

    def record_event(self, row: dict[str, Any]) -> None:
        try:
            self.conn.execute(insert(station_events), row)
        except IntegrityError as exc:
            if (race := write_race(exc)) is not None:
                raise race from exc
            raise

    def tubes_by_barcode(self, barcodes: Iterable[str],
                         for_update: bool) -> dict[str, TubeState]:
        sql = _TUBE_STATES[self._pg] + (" FOR UPDATE" if for_update and self._pg else "")
        return {r[1]: TubeState(r[0], r[1], r[2], r[3], bool(r[4]), TubeStatus(r[5]), r[6],
                                _dt(r[7]), _dt(r[8]), r[9], _dt(r[10]))
                for r in driver.fetch_in(self.conn, sql, barcodes, self._pg)}

    def boxes_by_code(self, codes: Iterable[str], for_update: bool) -> dict[str, BoxRow]:
        out: dict[str, BoxRow] = {}
        for part in _chunks(list(codes)):
            stmt = select(boxes.c.id, boxes.c.code, boxes.c.site_id, boxes.c.status,
                          boxes.c.first_tube_sealed_at).where(boxes.c.code.in_(part))
            if for_update and self._pg:
                stmt = stmt.with_for_update()
            for r in self.conn.execute(stmt):
                out[r.code] = BoxRow(r.id, r.code, r.site_id, r.status, [],
                                     r.first_tube_sealed_at)
        if out:
            by_id = {b.id: b for b in out.values()}
            for tid, bid in self._in(tubes.c.box_id, list(by_id), tubes.c.id, tubes.c.box_id):
                by_id[bid].tube_ids.append(tid)
        return out

    def apply_station_writes(self, w: StationWrites, now: datetime) -> list[str]:
        c = self.conn
        now_ms = to_ms(now)
        try:
            _insert_many(c, station_events, w.events)
            _insert_many(c, tubes, w.new_tubes)
            # a batch can create one box it also seals and one it leaves open: same keys
            _insert_many(c, boxes, [{"tube_count": None, "sealed_at": None,
                                     "discrepancy": False} | r for r in w.new_boxes])
            if w.samples:
                _insert_many(c, samples, w.samples)
                slots = [{"person_id": s["person_id"], "tube_id": s["tube_id"]}
                         for s in w.samples if s["tube_id"] not in w.sealed_tube_ids]
                if slots:
                    _insert_many(c, open_slots, slots)
        except IntegrityError as exc:
            if (race := write_race(exc)) is not None:
                raise race from exc
            raise
        _update_many(c, tubes, w.tube_updates)
        _update_many(c, boxes, w.box_updates)
        if w.sealed_tube_ids:
            driver.execute(c, _FREE_SLOTS[self._pg],
                           {"vals": driver.vals(list(w.sealed_tube_ids), self._pg)})
        if not w.samples:
            return []
        plain_facts = {r[0]: r[1:] for r in driver.fetch_in(
            c, _SAMPLED_FACTS[self._pg], (s["person_id"] for s in w.samples), self._pg)}
        rows: list[tuple[Any, ...]] = []
        left: dict[str, None] = {}
        for s in w.samples:
            pid, at = s["person_id"], to_ms(s["sampled_at"])
            plain, valid_until = False, None
            if (f := plain_facts.get(pid)) is not None:
                interval, grace, due = f
                due = due if interval is None else at + interval
                plain = status_sql.decided_plain(due, grace, now_ms)
                valid_until = status_sql.overdue_at(due, grace)
            if not plain:
                left[pid] = None
            rows.append((at, s["tube_id"], now_ms, pid, plain, valid_until))
        if self._pg:
            driver.executemany(c, _SAMPLED_STATUS, [
                {"at": r[0], "tube": r[1], "now": r[2], "pid": r[3], "plain": r[4], "vu": r[5]}
                for r in rows])
        else:
            driver.cursor(c, _SAMPLED_STATUS_SQLITE, rows, many=True).close()
        return list(left)

    # -- delivery --------------------------------------------------------------------------

    def box_by_code(self, code: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(boxes).where(boxes.c.code == code)).first()
        return None if r is None else dict(r._mapping)

    def update_box(self, box_id: str, values: dict[str, Any]) -> None:
        self.conn.execute(sa_update(boxes).where(boxes.c.id == box_id).values(**values))

    def box_tubes(self, box_id: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.conn.execute(
            select(tubes.c.id, tubes.c.barcode).where(tubes.c.box_id == box_id))]

    def mark_tubes_received(self, tube_ids: Sequence[str], lab_id: str, at: datetime) -> None:
        for part in _chunks(list(tube_ids)):
            self.conn.execute(sa_update(tubes).where(tubes.c.id.in_(part))
                              .values(status="received", lab_id=lab_id, received_at=at))

    # -- results ---------------------------------------------------------------------------

    def tubes_for_results(self, barcodes: Iterable[str],
                          for_update: bool = False) -> dict[str, ResultTube]:
        # The driver's own IN list (SQLite) or ``= ANY`` (PostgreSQL): SQLAlchemy's expanding
        # parameters cost more than the lookup itself on a 20,000-row results chunk.
        vals = list(dict.fromkeys(barcodes))
        cols = "SELECT id, barcode, lab_id, status, capacity, result, ct FROM tubes WHERE "
        rows: list[Any] = []
        if self._pg:
            # for_update: each tube locked until the commit, in one statement and in id order
            # (two uploads sharing tubes never wait on each other in a cycle); a second upload
            # of the same tubes waits here and then reads them as the first left them. NO KEY:
            # the fan-out changes no key, and samples referencing the tube stay insertable.
            lock = " ORDER BY id FOR NO KEY UPDATE" if for_update else ""
            rows = list(self.conn.exec_driver_sql(cols + "barcode = ANY(%(b)s)" + lock,
                                                  {"b": vals}))
        else:
            for part in _chunks(vals):
                marks = ", ".join("?" * len(part))
                rows.extend(self.conn.exec_driver_sql(f"{cols}barcode IN ({marks})",
                                                      tuple(part)).all())
        return {r[1]: ResultTube(r[0], r[1], r[2], r[3], r[4], r[5],
                                 json.loads(r[6]) if isinstance(r[6], str) else r[6])
                for r in rows}

    def reject_results(self, rows: Sequence[dict[str, Any]]) -> None:
        self.conn.execute(self._insert(rejected_results).on_conflict_do_nothing(), list(rows))

    def _fill_tmp_results(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """The results batch into ``tmp_results`` (this connection's temporary table): tube,
        result, Ct (JSON text), the id of its ``result_log`` row, and for corrections the
        previous result and the reason. PostgreSQL: COPY, then ANALYZE so that the planner
        knows the batch is small next to the tables it is joined with."""
        c = self.conn
        c.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_results (tube_id VARCHAR(32) PRIMARY KEY, "
            "result VARCHAR(10) NOT NULL, ct TEXT, log_id VARCHAR(32) NOT NULL, "
            "previous VARCHAR(10), reason TEXT)")
        c.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_members (person_id VARCHAR(32) NOT NULL, "
            "tube_id VARCHAR(32) NOT NULL, recall_id VARCHAR(32), sampled_at BIGINT NOT NULL, "
            "result VARCHAR(10) NOT NULL, plain INTEGER NOT NULL, status_row BIGINT)")
        if not self._pg:
            c.exec_driver_sql("DELETE FROM tmp_results")
            c.exec_driver_sql("DELETE FROM tmp_members")
            c.exec_driver_sql("INSERT INTO tmp_results (tube_id, result, ct, log_id, previous, "
                              "reason) VALUES (?, ?, ?, ?, ?, ?)", list(rows))
            return
        c.exec_driver_sql("TRUNCATE tmp_results, tmp_members")
        raw: Any = c.connection.driver_connection
        with raw.cursor() as cur:
            with cur.copy("COPY tmp_results (tube_id, result, ct, log_id, previous, reason) "
                          "FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
            cur.execute("ANALYZE tmp_results")

    def apply_results(self, lab_id: str,
                      results: Sequence[tuple[str, Result, dict[str, float] | None]],
                      corrections: Sequence[tuple[str, Result, dict[str, float] | None, str,
                                                  str]],
                      actor: str, now: datetime, new_id: Callable[[], str],
                      recall_due: datetime) -> dict[str, int]:
        c = self.conn
        now_ms, due_ms = to_ms(now), to_ms(recall_due)
        allr = [(tid, res, ct) for tid, res, ct in results] + [
            (tid, res, ct) for tid, res, ct, _, _ in corrections]
        self._fill_tmp_results(
            [(tid, res.value, _json(ct), new_id(), None, None) for tid, res, ct in results]
            + [(tid, res.value, _json(ct), new_id(), prev, reason)
               for tid, res, ct, reason, prev in corrections])
        # Corrections away from positive/invalid cancel the recalls they had opened.
        undone = [tid for tid, res, _, _, prev in corrections if prev != "negative"]
        if undone:
            for part in _chunks(undone):
                ids = [r[0] for r in c.execute(select(recalls.c.id).where(
                    recalls.c.pool_tube_id.in_(part), recalls.c.status == "open"))]
                for rp in _chunks(ids):
                    c.execute(sa_update(recalls).where(recalls.c.id.in_(rp))
                              .values(status="cancelled", resolved_at=now))
                    c.execute(sa_update(person_status)
                              .where(person_status.c.open_recall_id.in_(rp))
                              .values(open_recall_id=None, test_state="sampled",
                                      status_valid_until=now))
        # 1. the tubes themselves and the result log, set-based from the batch. The batch is
        # read first (a materialised CTE) and each tube found by key.
        json_ct = "CAST(m.ct AS json)" if self._pg else "m.ct"
        c.execute(text(
            "WITH m AS MATERIALIZED (SELECT tube_id, result, ct FROM tmp_results) "
            f"UPDATE tubes SET status = 'resulted', result = m.result, ct = {json_ct}, "
            "resulted_at = :now, notified_at = CASE WHEN m.result = 'negative' THEN :now END, "
            "investigation = NULL FROM m WHERE tubes.id = m.tube_id"), {"now": now_ms})
        # (SQLAlchemy's JSON type wrote a missing Ct as JSON null here: kept)
        log_ct = "CAST(COALESCE(ct, 'null') AS json)" if self._pg else "COALESCE(ct, 'null')"
        c.execute(text(
            "INSERT INTO result_log (id, tube_id, lab_id, result, ct, previous, reason, actor, "
            f"at) SELECT log_id, tube_id, :lab, result, {log_ct}, previous, reason, :actor, :now "
            "FROM tmp_results"), {"lab": lab_id, "actor": actor, "now": now_ms})
        # 2. every member of the batch's tubes, read once (tmp_results first: "CROSS JOIN" fixes
        # the order on SQLite; left to itself it scanned every sample ever taken, or every
        # person, once per chunk of a results file). ``plain``: a negative that
        # reaches the person (not older than their latest result) and leaves nothing special —
        # the facts for which the status engine decides green (R-DEFAULT) and which
        # ``refresh_plain`` would decide next; the fan-out decides those itself, in the same
        # write, instead of marking them stale for a second UPDATE of every status row.
        # SQLite: each member's status row by its rowid, so that the fan-out's UPDATE finds
        # it directly rather than through the person-id index
        row = "NULL" if self._pg else "ps.rowid"
        c.execute(_sql(
            "INSERT INTO tmp_members (person_id, tube_id, recall_id, sampled_at, result, plain, "
            "status_row) SELECT s.person_id, s.tube_id, s.recall_id, s.sampled_at, t.result, "
            f"CASE WHEN {_FANOUT_PLAIN} THEN 1 ELSE 0 END, {row} FROM tmp_results t "
            "CROSS JOIN samples s JOIN person_status ps ON ps.person_id = s.person_id "
            "WHERE s.tube_id = t.tube_id"), {"now": now_ms})
        if self._pg:
            c.exec_driver_sql("ANALYZE tmp_members")
        # 3. negatives: set-based fan-out to every member, resolving their recalls
        fanout = (
            "UPDATE person_status SET "
            "test_state = CASE WHEN person_status.test_state = 'positive' THEN 'positive' "
            "  WHEN person_status.open_recall_id IS NOT NULL AND (m.recall_id IS NULL OR "
            "  m.recall_id <> person_status.open_recall_id) THEN person_status.test_state "
            "  ELSE 'negative' END, "
            "open_recall_id = CASE WHEN m.recall_id = person_status.open_recall_id THEN NULL "
            "  ELSE person_status.open_recall_id END, "
            "last_result = 'negative', last_result_at = :now, "
            "last_result_sampled_at = m.sampled_at, last_negative_at = :now, updated_at = :now, "
            # the status: what refresh_plain decides for plain facts; the others are stale
            + "".join(f"{k} = CASE WHEN m.plain = 1 THEN {v} ELSE person_status.{k} END, "
                      for k, v in _FANOUT_DECIDED.items())
            + "status_at = CASE WHEN m.plain = 1 THEN :now ELSE person_status.status_at END, "
            "status_valid_until = CASE WHEN m.plain = 0 THEN :now ELSE "
            f"{status_sql.valid_until_due('person_status.')} END "
            "FROM tmp_members m WHERE "
            + ("person_status.person_id = m.person_id " if self._pg
               else "person_status.rowid = m.status_row ")
            + f"AND m.result = {status_sql.NEGATIVE} AND ("
            "person_status.last_result_sampled_at IS NULL OR "
            "person_status.last_result_sampled_at <= m.sampled_at)")
        if self._pg:  # one row per status row written: both counts in the same statement
            notified, decided = c.execute(_sql(
                f"WITH u AS ({fanout} RETURNING m.plain) "
                "SELECT count(*), COALESCE(sum(plain), 0) FROM u"), {"now": now_ms}).one()
        else:
            notified = self._changed(_sql(fanout), {"now": now_ms})
            decided = int(c.exec_driver_sql(
                "SELECT count(DISTINCT person_id) FROM tmp_members WHERE plain = 1").scalar_one())
        # re-samples answer recalls: few rows, read once
        linked = c.exec_driver_sql("SELECT tube_id, recall_id, result FROM tmp_members "
                                   "WHERE recall_id IS NOT NULL").all()
        resolved = 0
        resolve_neg = [{"id": rid, "tube": tid, "now": now_ms}
                       for tid, rid, res_s in linked if res_s == "negative"]
        if resolve_neg:
            resolved = self._changed(text(
                "UPDATE recalls SET status = 'resolved', outcome = 'negative', "
                "resolved_at = :now, resolving_tube_id = :tube WHERE id = :id "
                "AND status = 'open'"), resolve_neg)
        # 4. positives and invalids: few people, decided one by one by the domain rules
        members = c.execute(text(
            "SELECT m.tube_id, m.person_id, m.recall_id, m.sampled_at, m.result, tb.capacity "
            "FROM tmp_members m CROSS JOIN tubes tb WHERE tb.id = m.tube_id "
            "AND m.result <> 'negative'")).all()
        opened = 0
        status_rows: list[dict[str, Any]] = []
        recall_rows: list[dict[str, Any]] = []
        outbox_rows: list[dict[str, Any]] = []
        resolve_rows: list[dict[str, Any]] = []
        pools_touched: set[str] = set()
        for tube_id, pid, recall_id, sampled_at, res_s, capacity in members:
            res = Result(res_s)
            outcome = member_outcome(res, capacity)
            open_recall: str | None = None
            template = "positive"
            if recall_id is not None and res is Result.POSITIVE:
                resolve_rows.append({"id": recall_id, "outcome": "positive", "tube": tube_id,
                                     "now": now_ms})
            elif recall_id is not None:  # an invalid re-sample: the recall stays open
                open_recall, template = recall_id, "invalid"
            elif outcome.recall is not None:
                open_recall = new_id()
                template = ("recall" if outcome.recall is RecallReason.POOL_POSITIVE
                            else "invalid")
                recall_rows.append({"id": open_recall, "person_id": pid, "pool_tube_id": tube_id,
                                    "reason": outcome.recall.value, "status": "open",
                                    "opened_at": now_ms, "due_at": due_ms})
                opened += 1
            status_rows.append({"pid": pid, "state": outcome.state.value, "recall": open_recall,
                                "r": res.value, "now": now_ms, "sampled": sampled_at,
                                "keep_recall": recall_id is None and open_recall is None,
                                "answered": recall_id})
            outbox_rows.append({"id": new_id(), "dedup_key": f"{template}:{tube_id}:{pid}",
                                "person_id": pid, "tube_id": tube_id, "template": template,
                                "params": {"due": _local_hhmm(due_ms)}, "created_at": now,
                                "next_attempt_at": now, "attempts": 0})
        if recall_rows:
            c.execute(text("INSERT INTO recalls (id, person_id, pool_tube_id, reason, status, "
                           "opened_at, due_at) VALUES (:id, :person_id, :pool_tube_id, :reason, "
                           ":status, :opened_at, :due_at)"), recall_rows)
        if resolve_rows:
            c.execute(text("UPDATE recalls SET status = 'resolved', outcome = :outcome, "
                           "resolved_at = :now, resolving_tube_id = :tube WHERE id = :id"),
                      resolve_rows)
            resolved += len(resolve_rows)
        if status_rows:
            c.execute(text(
                "UPDATE person_status SET test_state = :state, "
                # a re-test answers its own recall only: a second pool that turned positive
                # before it was taken opened another recall, which stays the open one
                "open_recall_id = CASE WHEN :keep_recall THEN open_recall_id "
                "  WHEN open_recall_id <> CAST(:answered AS VARCHAR(32)) THEN open_recall_id "
                "  ELSE :recall END, "
                "last_result = :r, last_result_at = :now, last_result_sampled_at = :sampled, "
                "updated_at = :now, status_valid_until = :now WHERE person_id = :pid"),
                status_rows)
        # passes overtaken by a later positive result are revoked (red passes stay true)
        self.revoke_passes([r["pid"] for r in status_rows if r["r"] == "positive"], now,
                           "positive", keep_red=True)
        if outbox_rows:
            c.execute(self._insert(outbox).on_conflict_do_nothing(), outbox_rows)
        # 4. positive pools: open an investigation; close those whose recalls are all resolved
        pos_pools = [tid for tid, res, _ in allr if res is Result.POSITIVE
                     and any(m[0] == tid and m[5] > 1 for m in members)]
        for part in _chunks(pos_pools):
            c.execute(sa_update(tubes).where(tubes.c.id.in_(part)).values(investigation="open"))
        if linked:  # the pools whose recalls these re-samples answer
            pools_touched.update(r[0] for r in self._in(
                recalls.c.id, [rid for _, rid, _ in linked], recalls.c.pool_tube_id,
                where=recalls.c.reason == "pool_positive"))
        closed = self._close_pools(pools_touched, now)
        return {"people_notified": int(notified) + len(status_rows), "recalls_opened": opened,
                "recalls_resolved": resolved, "pools_closed": closed,
                "statuses_decided": int(decided)}

    def _close_pools(self, pool_ids: set[str], now: datetime) -> int:
        if not pool_ids:
            return 0
        by_pool: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for pool, status, outcome in self._in(
                recalls.c.pool_tube_id, pool_ids, recalls.c.pool_tube_id, recalls.c.status,
                recalls.c.outcome, where=recalls.c.status != "cancelled"):
            by_pool[pool].append((status, outcome))
        closed = 0
        for pool, rs in by_pool.items():
            if any(s == "open" for s, _ in rs):
                continue
            verdict = pool_outcome([Result(o) for _, o in rs if o])
            closed += self.conn.execute(
                sa_update(tubes).where(tubes.c.id == pool, tubes.c.investigation == "open")
                .values(investigation=verdict.value, investigation_closed_at=now)).rowcount
        return closed

    # -- outbox and alerts -----------------------------------------------------------------

    def pending_outbox(self, now: datetime, limit: int) -> list[OutboxMessage]:
        o = outbox.c
        rows = self.conn.execute(
            select(o.id, o.person_id, o.template, o.params, people.c.phone_enc,
                   people.c.language, o.attempts)
            .join(people, people.c.id == o.person_id)
            .where(o.sent_at.is_(None), o.claimed_at.is_(None), o.next_attempt_at <= now)
            .order_by(o.next_attempt_at).limit(limit)).all()
        return [OutboxMessage(*r) for r in rows]

    def outbox_claim(self, message_id: str, now: datetime) -> bool:
        return self.conn.execute(_OUTBOX_CLAIM, {"id": message_id, "now": to_ms(now)}
                                 ).rowcount == 1

    def outbox_in_doubt(self, message_id: str, error: str) -> None:
        self.conn.execute(sa_update(outbox).where(outbox.c.id == message_id).values(
            attempts=outbox.c.attempts + 1, last_error=error[:200]))

    def outbox_stale_claims(self, claimed_before: datetime,
                            limit: int) -> list[InDoubtMessage]:
        o = outbox.c
        rows = self.conn.execute(
            select(o.id, o.person_id, o.template, o.claimed_at, o.attempts, o.last_error)
            .where(o.sent_at.is_(None), o.claimed_at <= claimed_before)
            .order_by(o.claimed_at).limit(limit)).all()
        return [InDoubtMessage(*r) for r in rows]

    def outbox_release(self, message_ids: Sequence[str], claimed_before: datetime) -> int:
        o, released = outbox.c, 0
        for part in _chunks(list(message_ids), 5000):
            released += self.conn.execute(
                sa_update(outbox).where(o.id.in_(part), o.sent_at.is_(None),
                                        o.claimed_at <= claimed_before)
                .values(claimed_at=None)).rowcount
        return released

    def outbox_sent(self, message_id: str, now: datetime) -> None:
        # prepared text: this runs once a message, and building the statement would cost more
        # than running it
        params = {"now": to_ms(now), "id": message_id}
        self.conn.execute(_OUTBOX_SENT, params)
        self.conn.execute(_TUBE_NOTIFIED, params)

    def outbox_sent_many(self, message_ids: Sequence[str], now: datetime) -> None:
        c, n = self.conn, to_ms(now)
        for part in _chunks(list(message_ids), 5000):
            marks = ", ".join(f":m{i}" for i in range(len(part)))
            params: dict[str, Any] = {f"m{i}": v for i, v in enumerate(part)} | {"now": n}
            c.execute(text(f"UPDATE outbox SET sent_at = :now, attempts = attempts + 1 "
                           f"WHERE id IN ({marks})"), params)
            c.execute(text(
                "UPDATE tubes SET notified_at = :now WHERE notified_at IS NULL AND id IN "
                f"(SELECT tube_id FROM outbox WHERE id IN ({marks}) AND tube_id IS NOT NULL) "
                "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.tube_id = tubes.id "
                "AND o.sent_at IS NULL)"), params)

    def outbox_unsent(self, message_ids: Sequence[str], reason: str, now: datetime) -> None:
        self.outbox_sent_many(message_ids, now)
        for part in _chunks(list(message_ids), 5000):
            self.conn.execute(sa_update(outbox).where(outbox.c.id.in_(part))
                              .values(last_error=reason[:200]))

    def outbox_failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None:
        self.conn.execute(sa_update(outbox).where(outbox.c.id == message_id).values(
            attempts=outbox.c.attempts + 1, last_error=error[:200],
            next_attempt_at=next_attempt_at, claimed_at=None))

    def raise_alerts(self, now: datetime, transport_limit_ms: int, lab_limit_ms: int,
                     new_id: Callable[[], str]) -> int:
        c, n = self.conn, to_ms(now)
        late_boxes = c.execute(text(
            "SELECT b.id, b.code, b.site_id, b.first_tube_sealed_at, b.received_at FROM boxes b "
            "WHERE b.first_tube_sealed_at IS NOT NULL AND "
            "COALESCE(b.received_at, :now) > b.first_tube_sealed_at + :lim AND NOT EXISTS "
            "(SELECT 1 FROM alerts a WHERE a.kind = 'late_box' AND a.subject_id = b.id)"),
            {"now": n, "lim": transport_limit_ms}).all()
        late_results = c.execute(text(
            "SELECT t.id, t.barcode, t.lab_id, t.received_at, t.resulted_at FROM tubes t "
            "WHERE t.received_at IS NOT NULL AND "
            "COALESCE(t.resulted_at, :now) > t.received_at + :lim AND NOT EXISTS "
            "(SELECT 1 FROM alerts a WHERE a.kind = 'late_result' AND a.subject_id = t.id)"),
            {"now": n, "lim": lab_limit_ms}).all()
        rows = [{"id": new_id(), "kind": "late_box", "subject_id": r[0], "raised_at": now,
                 "detail": {"box_code": r[1], "site_id": r[2], "first_tube_sealed_at": _iso(r[3]),
                            "received_at": _iso(r[4])}} for r in late_boxes]
        rows += [{"id": new_id(), "kind": "late_result", "subject_id": r[0], "raised_at": now,
                  "detail": {"barcode": r[1], "lab_id": r[2], "received_at": _iso(r[3]),
                             "resulted_at": _iso(r[4])}} for r in late_results]
        if rows:
            c.execute(self._insert(alerts).on_conflict_do_nothing(), rows)
        return len(rows)

    def add_alert(self, row: dict[str, Any]) -> None:
        self.conn.execute(self._insert(alerts).on_conflict_do_nothing(), [row])

    def alerts(self, open_only: bool, limit: int, region_prefix: str) -> list[dict[str, Any]]:
        stmt = select(alerts).order_by(alerts.c.raised_at.desc()).limit(limit)
        if open_only:
            stmt = stmt.where(alerts.c.closed_at.is_(None))
        if region_prefix:
            # where an alert came from: the site its detail names (late boxes, custody breaks,
            # event conflicts), or else its subject's, a box or a tube (late results)
            site_id = func.coalesce(
                alerts.c.detail["site_id"].as_string(),
                select(boxes.c.site_id).where(boxes.c.id == alerts.c.subject_id)
                .scalar_subquery(),
                select(tubes.c.site_id).where(tubes.c.id == alerts.c.subject_id)
                .scalar_subquery())
            stmt = stmt.where(select(sites.c.region_code).where(sites.c.id == site_id)
                              .scalar_subquery().startswith(region_prefix, autoescape=True))
        return [dict(r._mapping) for r in self.conn.execute(stmt)]

    # -- reports ---------------------------------------------------------------------------

    def turnaround_rows(self, since: datetime | None,
                        region_prefix: str) -> Iterator[tuple[Any, ...]]:
        # streamed (a server-side cursor on PostgreSQL): never the whole round in memory
        return (tuple(r) for r in self.conn.execution_options(stream_results=True,
                                                               yield_per=5000).execute(text(
            "SELECT t.site_id, t.lab_id, substr(s.region_code, 1, 6), t.first_sampled_at, "
            "t.sealed_at, b.sealed_at, b.handed_over_at, t.received_at, t.resulted_at, "
            "t.notified_at FROM tubes t JOIN sites s ON s.id = t.site_id "
            "LEFT JOIN boxes b ON b.id = t.box_id "
            "WHERE t.first_sampled_at IS NOT NULL AND t.first_sampled_at >= :since "
            "AND s.region_code LIKE :area"),
            {"since": 0 if since is None else to_ms(since), "area": region_prefix + "%"}))

    def reconcile(self, now: datetime, limit: int, transport_limit_ms: int,
                  lab_limit_ms: int, region_prefix: str) -> dict[str, Any]:
        n = to_ms(now)
        queries: dict[str, tuple[str, str]] = {
            "sampled_not_boxed": (
                "FROM tubes t WHERE t.status IN ('open', 'sealed') AND t.count > 0",
                "t.barcode, t.site_id, t.status, t.count, t.first_sampled_at"),
            "boxed_not_received": (
                "FROM boxes b WHERE b.status IN ('sealed', 'in_transit')",
                "b.code, b.site_id, b.status, b.tube_count, b.first_tube_sealed_at"),
            "missing_from_received_boxes": (
                "FROM tubes t JOIN boxes b ON b.id = t.box_id WHERE b.status = 'received' "
                "AND t.received_at IS NULL",
                "t.barcode, b.code, b.lab_id, b.received_at"),
            "received_not_resulted": (
                "FROM tubes t WHERE t.status = 'received'",
                "t.barcode, t.lab_id, t.priority, t.received_at"),
            "box_discrepancies": (
                "FROM boxes b WHERE b.discrepancy = :true",
                "b.code, b.lab_id, b.tube_count, b.received_count, b.missing, b.extra"),
            "results_for_unknown_tubes": (
                "FROM rejected_results r WHERE r.reason = 'unknown_tube'",
                "r.barcode, r.lab_id, r.at"),
            "recalls_open": (
                "FROM recalls r WHERE r.status = 'open'",
                "r.id, r.person_id, r.reason, r.opened_at, r.due_at"),
            "recalls_overdue": (
                "FROM recalls r WHERE r.status = 'open' AND r.due_at < :now",
                "r.id, r.person_id, r.reason, r.opened_at, r.due_at"),
            "pools_for_review": (
                "FROM tubes t WHERE t.investigation = 'review'",
                "t.barcode, t.site_id, t.capacity, t.resulted_at"),
            "late_boxes": (
                "FROM boxes b WHERE b.first_tube_sealed_at IS NOT NULL AND "
                "COALESCE(b.received_at, :now) > b.first_tube_sealed_at + :tlim",
                "b.code, b.site_id, b.status, b.first_tube_sealed_at, b.received_at"),
            "late_results": (
                "FROM tubes t WHERE t.received_at IS NOT NULL AND "
                "COALESCE(t.resulted_at, :now) > t.received_at + :llim",
                "t.barcode, t.lab_id, t.received_at, t.resulted_at"),
        }
        params = {"now": n, "tlim": transport_limit_ms, "llim": lab_limit_ms, "true": True,
                  "area": region_prefix + "%"}
        out: dict[str, Any] = {"as_of": _iso(n)}
        for key, (frm, cols) in queries.items():
            if region_prefix:
                frm += _RECONCILE_AREA.get(key, " AND 1 = 0")
            count = self.conn.execute(text(f"SELECT count(*) {frm}"), params).scalar_one()
            items = []
            if count:
                res = self.conn.execute(text(f"SELECT {cols} {frm} LIMIT {int(limit)}"), params)
                names = list(res.keys())
                for r in res:
                    items.append({k: (_iso(v) if k.endswith("_at") and isinstance(v, int)
                                      else v) for k, v in zip(names, r, strict=True)})
            out[key] = {"count": count, "items": items}
        return out


# Where each reconciliation list's rows are, for an area's list: a tube's or box's site, a
# recall's person; a result for an unknown tube is nowhere in particular (city-wide lists only).
_AT_SITE = " AND {}.site_id IN (SELECT id FROM sites WHERE region_code LIKE :area)"
_RECONCILE_AREA = {
    "sampled_not_boxed": _AT_SITE.format("t"), "boxed_not_received": _AT_SITE.format("b"),
    "missing_from_received_boxes": _AT_SITE.format("b"),
    "received_not_resulted": _AT_SITE.format("t"), "box_discrepancies": _AT_SITE.format("b"),
    "pools_for_review": _AT_SITE.format("t"), "late_boxes": _AT_SITE.format("b"),
    "late_results": _AT_SITE.format("t"),
    "recalls_open": " AND r.person_id IN (SELECT id FROM people WHERE grid_code LIKE :area)",
    "recalls_overdue": " AND r.person_id IN (SELECT id FROM people WHERE grid_code LIKE :area)",
}

# Hot statements built once: SQLAlchemy then skips rebuilding each statement and its cache key
# on every call, a large share of a single scan's CPU; the plain-SQL ones
# run on the driver's cursor (``driver``).
_AUDIT_LAST = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
_AUDIT_INSERT = insert(audit_log)


def _member_of(column: Any, pg: bool) -> Any:
    """``column`` is one of the values bound as ``:vals`` — one parameter, whatever the number
    of values: an array on PostgreSQL (``= ANY``), a JSON array on SQLite (``json_each``).
    SQLAlchemy's expanding ``IN`` rendered a new statement of up to 1,000 placeholders every
    call, which SQLite then prepared afresh."""
    if pg:
        return column == func.any(bindparam("vals"))
    return column.in_(select(literal_column("value")).select_from(
        func.json_each(bindparam("vals"))).scalar_subquery())


# by backend (``driver.one_of``): SQLite, PostgreSQL; through the driver (``driver.fetch``)
_PERSON_FACTS = {pg: (
    "SELECT p.id, p.groups, os.tube_id, ps.open_recall_id, p.name_masked, ps.test_state "
    "FROM people p JOIN person_status ps ON ps.person_id = p.id "
    "LEFT JOIN open_slots os ON os.person_id = p.id WHERE " + driver.one_of("p.id", pg))
    for pg in (False, True)}
_TUBE_STATES = {pg: (
    'SELECT id, barcode, site_id, capacity, priority, status, "count", first_sampled_at, '
    "sealed_at, box_id, opened_at FROM tubes WHERE " + driver.one_of("barcode", pg))
    for pg in (False, True)}
_FREE_SLOTS = {pg: "DELETE FROM open_slots WHERE " + driver.one_of("tube_id", pg)
               for pg in (False, True)}
_KNOWN_EVENTS = {pg: "SELECT event_id, digest FROM station_events WHERE "
                 + driver.one_of("event_id", pg)
                 for pg in (False, True)}
_SITES = ("SELECT id, name, kind, region_code, lat, lng, opening_hours, windows, status "
          "FROM sites ")
_SITES_IN = {pg: _SITES + "WHERE " + driver.one_of("id", pg) for pg in (False, True)}
# A sampled person's status row: the sample (last sampled, 已采 "sampled", the next due time)
# and, for someone with nothing special who is not past due + grace after it, in the same
# statement the status the engine decides for them (green, awaiting the result, valid until
# due + grace: ``status_store.refresh_plain``), worked out by ``apply_station_writes`` from
# ``_SAMPLED_FACTS`` and bound as ``:plain`` and ``:vu``. One write of the row instead of two
# (each moved its entries in two indexes, and on PostgreSQL left a dead row version). Everyone
# else is left to the caller's refresh, which decides them by id; their row is not parked
# among the stale (``status_valid_until = now``: on PostgreSQL each parking left a dead entry
# in the index range every refresh scans, 289 ms a scan in the 5.4 M round).
_SAMPLED_STATUS = (
    "UPDATE person_status SET last_sampled_at = :at, last_tube_id = :tube, "
    f"test_state = {status_sql.SAMPLED_STATE}, updated_at = :now, "
    # arrivals (三天两检) or the cadence: ``domain.arrivals.next_due_after_sample``
    f"next_due_at = {status_sql.next_due_after_sample(':at')}, "
    + ", ".join(f"{column} = CASE WHEN :plain THEN {decided} ELSE {column} END"
                for column, decided in (
                    *status_sql.DEFAULT_STATUS.items(),
                    ("reasons", status_sql.AWAITING),
                    ("status_at", ":now"),
                    ("status_valid_until", ":vu")))
    + " WHERE person_id = :pid AND (last_sampled_at IS NULL OR last_sampled_at <= :at)")
# SQLite: each parameter bound once, by number (the statement names most of them many times)
_SAMPLED_STATUS_SQLITE = functools.reduce(
    lambda sql, n: sql.replace(f":{n[1]}", f"?{n[0]}"),
    enumerate(("at", "tube", "now", "pid", "plain", "vu"), start=1), _SAMPLED_STATUS)
# What decides whether a sampled person is plain: nothing special (``status_store``'s rule,
# which a station batch cannot change), and their cadence
_SAMPLED_FACTS = {pg: (
    "SELECT person_id, interval_ms, grace_ms, next_due_at FROM person_status WHERE "
    f"{driver.one_of('person_id', pg)} AND {status_sql.NOTHING_SPECIAL}")
    for pg in (False, True)}


# A member of a negative tube whose status the fan-out decides itself (``ps``: the status row
# before the fan-out, ``s``: the sample, ``t``: the result), and what it writes for them: the
# default rule, with the reason of someone whose test state is negative.
_FANOUT_PLAIN = status_sql.fanout_plain("ps", "s", "t")
_FANOUT_DECIDED = status_sql.DEFAULT_STATUS | {
    "reasons": status_sql.negative_reason("person_status.")}


@functools.lru_cache(maxsize=128)
def _select_in(column: Any, cols: tuple[Any, ...], pg: bool) -> Any:
    """SELECT cols WHERE column is one of :vals, built once per shape."""
    return select(*cols).where(_member_of(column, pg))


@functools.lru_cache(maxsize=32)
def _select_in_expanding(column: Any, cols: tuple[Any, ...]) -> Any:
    """SELECT cols WHERE column IN (:vals, ...), for values JSON cannot carry (bytes)."""
    return select(*cols).where(column.in_(bindparam("vals", expanding=True)))


def _insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT rows (all with the same keys). On SQLite by the driver's executemany: the
    statement is compiled once per shape and the rows go as plain tuples, skipping
    SQLAlchemy's per-row parameter processing, which cost as much as SQLite's own work on a
    station batch. PostgreSQL keeps SQLAlchemy's multi-row
    VALUES ("insertmanyvalues"), which measured the same. Timestamps become epoch ms."""
    if not rows:
        return
    if not conn.dialect.positional:
        conn.execute(insert(table), list(rows))
        return
    sql, names, stamps = _insert_sql(conn.dialect, table, tuple(rows[0]))
    driver.cursor(conn, sql, _tuples(rows, names, stamps), many=True).close()


def _tuples(rows: Sequence[dict[str, Any]], names: tuple[str, ...],
            stamps: Iterable[str]) -> list[tuple[Any, ...]]:
    """The rows as the driver's parameter tuples in ``names`` order, with the datetimes of the
    ``stamps`` columns as epoch ms."""
    get = operator.itemgetter(*names)
    at = [i for i, k in enumerate(names) if k in stamps]
    if len(names) == 1:
        return [(get(r),) for r in rows] if not at else [
            (to_ms(v) if isinstance(v := get(r), datetime) else v,) for r in rows]
    if not at:
        return [get(r) for r in rows]
    out = []
    for r in rows:
        t = list(get(r))
        for i in at:
            if isinstance(v := t[i], datetime):
                t[i] = to_ms(v)
        out.append(tuple(t))
    return out


@functools.lru_cache(maxsize=64)
def _insert_sql(dialect: Dialect, table: Table,
                cols: tuple[str, ...]) -> tuple[str, tuple[str, ...], frozenset[str]]:
    compiled = insert(table).values({k: bindparam(k) for k in cols}).compile(dialect=dialect)
    stamps = frozenset(k for k in cols if isinstance(table.c[k].type, Timestamp))
    return compiled.string, tuple(compiled.positiontup or cols), stamps


def _update_many(conn: Connection, table: Table, rows: dict[str, dict[str, Any]]) -> None:
    """UPDATE by primary key ``id`` for many rows, one executemany per set of columns, through
    the driver (``driver.executemany``); each value goes through its column type's bind processing
    (timestamps to epoch ms, booleans) as SQLAlchemy would do it."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row_id, values in rows.items():
        keys = tuple(sorted(values))
        if keys:
            groups[keys].append(values | {"id": row_id})
    for keys, params in groups.items():
        procs = [(k, p) for k in keys
                 if (p := table.c[k].type.bind_processor(conn.dialect)) is not None]
        if procs:
            params = [r | {k: p(r[k]) for k, p in procs} for r in params]
        q = conn.dialect.identifier_preparer.quote
        sets = ", ".join(f"{q(k)} = :{k}" for k in keys)
        driver.executemany(conn, f"UPDATE {q(table.name)} SET {sets} WHERE id = :id", params)


def _json(value: dict[str, float] | None) -> str | None:
    return None if value is None else json.dumps(value)


def _local_hhmm(ms: int) -> str:
    """A due time as residents read it, in local time."""
    return short(from_ms(ms))

