"""Online backups of the database and their restore (``hesuan backup``; docs/DEPLOY.md).

SQLite: the online backup API (``sqlite3.Connection.backup``), a consistent copy of the file
taken while the server keeps writing (WAL readers never block the writer). PostgreSQL: a
logical copy by ``pg_dump --format=custom`` in a snapshot this module exports, so that the
rows it counts for the manifest are exactly the rows the dump holds. (The physical copy for
point-in-time recovery is ``pg_basebackup`` with WAL archiving, set up on the server as
docs/DEPLOY.md says; it is not this module's.)

Each copy has a manifest beside it (``<copy>.manifest.json``): the backend, the schema
revision, the time, and the number of rows of every table. A restore goes into a new database
only (a file that does not exist yet; an empty PostgreSQL database) and then counts the rows
again against the manifest.

``SqlBackups`` is the services' ``Backups`` port over these functions: the database the
platform runs on, and units of work on a restored one (for the restore's audit entry).

Imports: the standard library, SQLAlchemy, ``hesuan.config``, ``hesuan.domain``,
``hesuan.services``, ``hesuan.adapters.db``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from hesuan.adapters.db.audit_store import check_chain_key
from hesuan.adapters.db.engine import make_engine
from hesuan.adapters.db.store import SqlUnitOfWorkFactory
from hesuan.config import DATABASE_DRIVERS, Settings
from hesuan.domain.audit import ChainKey
from hesuan.domain.errors import Conflict, InvalidInput, StoreUnavailable
from hesuan.services.backup_ports import Manifest, RestoreReport

__all__ = ["Manifest", "RestoreReport", "SqlBackups", "backup", "manifest_path", "restore"]

#: Seconds after which to try again: someone has to act first (install, free, fix).
_RETRY_S = 60


class SqlBackups:
    """The ``Backups`` port: copies of the database of ``settings``, and units of work on a
    restored database whose audit entries ``chain`` keys (the platform's chain)."""

    def __init__(self, settings: Settings, chain: ChainKey) -> None:
        self._settings = settings
        self._chain = chain

    def create(self, dest: Path, now: datetime) -> Manifest:
        # the copy's audit entry goes into this database: refused before copying when the
        # chain key is not the one its log is signed under
        with self._engine_at(self._settings.database_url):
            return backup(self._settings.database_url, dest, now)

    def restore(self, copy: Path, target: str) -> RestoreReport:
        return restore(copy, target)

    def units(self) -> AbstractContextManager[SqlUnitOfWorkFactory]:
        return self.units_at(self._settings.database_url)

    @contextmanager
    def units_at(self, target: str) -> Iterator[SqlUnitOfWorkFactory]:
        with self._engine_at(target) as engine:
            yield SqlUnitOfWorkFactory(engine, self._settings.sqlite_synchronous,
                                       chain=self._chain)

    @contextmanager
    def _engine_at(self, target: str) -> Iterator[Engine]:
        """An engine on ``target`` whose audit log the chain key signs (else
        ``InvalidInput`` naming the master secret's setting)."""
        engine = make_engine(self._settings.model_copy(update={"database_url": target}))
        try:
            check_chain_key(engine, self._chain, self._settings.master_secret_setting)
            yield engine
        finally:
            engine.dispose()


def manifest_path(copy: Path) -> Path:
    return copy.with_name(copy.name + ".manifest.json")


def backup(database_url: str, dest: Path, now: datetime) -> Manifest:
    """Copy the database at ``database_url`` to ``dest`` (a new file) and write its manifest
    (``now``: when the copy is taken)."""
    if dest.exists():
        raise Conflict(f"{dest} exists: a backup is written to a new file", code="exists",
                       field="dest")
    with _writing(dest.parent, "dest"):
        dest.parent.mkdir(parents=True, exist_ok=True)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        manifest = _backup_sqlite(_sqlite_path(url), dest, now)
    else:
        manifest = _backup_postgresql(url, dest, now)
    manifest = replace(manifest, bytes=dest.stat().st_size)
    manifest_path(dest).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def restore(copy: Path, target_url: str) -> RestoreReport:
    """Restore the copy at ``copy`` into the new database ``target_url`` and count its rows
    against the copy's manifest."""
    if not copy.is_file():
        raise InvalidInput(f"there is no backup at {copy}", code="no_backup", field="copy")
    mpath = manifest_path(copy)
    if not mpath.is_file():
        raise InvalidInput(f"the backup has no manifest ({mpath})", code="no_manifest",
                           field="copy")
    try:
        expected = {str(t): int(n) for t, n in json.loads(mpath.read_text())["tables"].items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        raise InvalidInput(f"the backup's manifest ({mpath}) cannot be read: it is not the one "
                           "`hesuan backup create` wrote", code="bad_manifest",
                           field="copy") from None
    bad_url = InvalidInput("--to must be a database URL (sqlite:///path/new.db, "
                           "postgresql+psycopg://user@host/newdb)", code="bad_url", field="to")
    try:
        url = make_url(target_url)
    except ArgumentError:
        raise bad_url from None
    if url.drivername not in DATABASE_DRIVERS:
        raise bad_url  # the drivers the platform runs on, none other installed
    if url.get_backend_name() == "sqlite":
        _restore_sqlite(copy, _sqlite_path(url))
    else:
        _restore_postgresql(copy, url)
    counted = _counts_at(url)
    differences = {t: {"manifest": expected.get(t, 0), "restored": counted.get(t, 0)}
                   for t in sorted(set(expected) | set(counted))
                   if expected.get(t, 0) != counted.get(t, 0)}
    return RestoreReport(url.render_as_string(hide_password=True), counted, differences,
                         bytes=copy.stat().st_size)


# -- SQLite -----------------------------------------------------------------------------------

def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise InvalidInput("a database in memory has nothing to back up or restore into",
                           code="in_memory", field="database_url")
    return Path(url.database)


def _backup_sqlite(src: Path, dest: Path, now: datetime) -> Manifest:
    if not src.is_file():
        raise StoreUnavailable(f"there is no database at {src}", code="no_database",
                               retry_after=_RETRY_S)
    source = sqlite3.connect(src)
    # owner-only, as the database itself (engine._owner_only)
    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    target = sqlite3.connect(dest)
    try:
        source.backup(target)  # every page in one step: one consistent snapshot
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        source.close()
        target.close()
    return Manifest("sqlite", _revision_of(f"sqlite:///{dest}"), _iso(now),
                    _counts_at(make_url(f"sqlite:///{dest}")))


def _restore_sqlite(copy: Path, target: Path) -> None:
    if target.exists():
        raise Conflict(f"{target} exists and holds a database: restore into a new file",
                       code="target_holds_data", field="to")
    with _writing(target, "to"):
        target.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    source = sqlite3.connect(copy)
    dest = sqlite3.connect(target)
    try:
        source.backup(dest)
        dest.execute("PRAGMA journal_mode=WAL")  # as the server runs it
    except sqlite3.OperationalError as exc:  # the disk, the file: not the copy's fault
        dest.close()
        target.unlink(missing_ok=True)
        raise StoreUnavailable(f"the restore could not write {target}: {exc}",
                               code="restore_failed", retry_after=_RETRY_S) from None
    except sqlite3.DatabaseError:
        dest.close()
        target.unlink(missing_ok=True)  # nothing half-made: the retry is free
        raise InvalidInput(f"{copy} is not a database copy `hesuan backup create` wrote",
                           code="not_a_backup", field="copy") from None
    finally:
        source.close()
        dest.close()


@contextmanager
def _writing(path: Path, field: str) -> Iterator[None]:
    """A file or folder to be made there: a place that cannot be written is the operator's
    to fix, said in words."""
    try:
        yield
    except OSError as exc:
        raise InvalidInput(f"{path} cannot be written ({exc.strerror or exc})",
                           code="cannot_write", field=field) from None


# -- PostgreSQL -------------------------------------------------------------------------------

def _libpq(url: URL) -> str:
    """The URL as libpq (pg_dump, pg_restore) reads it: no SQLAlchemy driver name."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StoreUnavailable(f"{name} is not installed (Debian: postgresql-client)",
                               code="no_pg_tools", retry_after=_RETRY_S)
    return found


def _backup_postgresql(url: URL, dest: Path, now: datetime) -> Manifest:
    pg_dump = _tool("pg_dump")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            # a snapshot this transaction holds open while pg_dump reads it: the manifest's
            # counts and the dump's rows are the same rows
            c = conn.execution_options(isolation_level="REPEATABLE READ",
                                       postgresql_readonly=True)
            snapshot = c.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            tables = _count(c)
            revision = _revision(c)
            done = subprocess.run(
                [pg_dump, "--format=custom", "--no-owner", "--no-privileges",
                 f"--snapshot={snapshot}", f"--file={dest}", f"--dbname={_libpq(url)}"],
                capture_output=True, text=True)
            c.rollback()
    finally:
        engine.dispose()
    if done.returncode != 0:
        dest.unlink(missing_ok=True)
        raise StoreUnavailable(f"pg_dump failed: {done.stderr.strip()[-500:]}",
                               code="backup_failed", retry_after=_RETRY_S)
    dest.chmod(0o600)
    return Manifest("postgresql", revision, _iso(now), tables)


def _restore_postgresql(copy: Path, url: URL) -> None:
    pg_restore = _tool("pg_restore")
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            held = inspect(c).get_table_names()
    except OperationalError:
        raise StoreUnavailable(f"the database {url.database} cannot be reached at "
                               f"{url.host or 'localhost'}: create it first (createdb) and "
                               "check the URL", code="no_database", retry_after=_RETRY_S,
                               field="to") from None
    finally:
        engine.dispose()
    if held:
        raise Conflict(f"the database {url.database} holds {len(held)} tables: restore into "
                       f"a new, empty database (createdb)", code="target_holds_data",
                       field="to")
    done = subprocess.run(
        [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error",
         "--single-transaction", f"--dbname={_libpq(url)}", str(copy)],
        capture_output=True, text=True)
    if done.returncode != 0:
        raise StoreUnavailable(f"pg_restore failed: {done.stderr.strip()[-500:]}",
                               code="restore_failed", retry_after=_RETRY_S)


# -- both -------------------------------------------------------------------------------------

def _count(c: Connection) -> dict[str, int]:
    # table names from the database's own catalogue, quoted by the dialect
    q = c.dialect.identifier_preparer.quote
    return {name: int(c.execute(text(f"SELECT count(*) FROM {q(name)}")).scalar_one())
            for name in sorted(inspect(c).get_table_names())}


def _revision(c: Connection) -> str | None:
    if "alembic_version" not in inspect(c).get_table_names():
        return None
    v = c.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if v is None else str(v)


def _counts_at(url: URL) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return _count(c)
    finally:
        engine.dispose()


def _revision_of(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return _revision(c)
    finally:
        engine.dispose()


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")
