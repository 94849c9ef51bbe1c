"""``hesuan backup``: an online copy of the database and its restore, on both backends.

SQLite is copied with its online backup API (a consistent snapshot while the server writes);
PostgreSQL with ``pg_dump`` in the snapshot whose rows the manifest counts. The copy is
restored into a new database (a new file; an empty PostgreSQL database), the restore checks
each table's rows against the manifest, and ``hesuan audit verify`` finds the restored audit
chain intact against the checkpoints signed before the backup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from hesuan.adapters.db.backup import backup as backup_at
from hesuan.adapters.db.backup import restore as restore_at
from hesuan.bootstrap import Platform
from hesuan.config import Settings
from hesuan.domain.errors import HesuanError
from hesuan.sim.example import seed_example_city
from tests.helpers import postgres_database

CLI = [sys.executable, "-m", "hesuan.entrypoints.cli"]


def _env(settings: Settings, url: str | None = None) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HESUAN_ENVIRONMENT": "test",
            "HESUAN_SECRET_KEY": "test-secret", "NO_COLOR": "1", "COLUMNS": "200",
            "HESUAN_DATABASE_URL": url or settings.database_url,
            "HESUAN_KEY_FILE": str(settings.key_file),
            "HESUAN_PASS_KEY_DIR": str(settings.pass_key_dir),
            "HESUAN_AUDIT_CHECKPOINT_DIR": str(settings.audit_checkpoint_dir)}


def _cli(settings: Settings, *args: str, url: str | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=_env(settings, url), capture_output=True,
                          text=True, timeout=300)


@contextmanager
def _new_database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "postgres":
        with postgres_database(f"hesuan_restore_{os.getpid()}") as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'restored.db'}"


def _counts(url: str) -> dict[str, int]:
    eng = create_engine(url)
    with eng.connect() as c:
        out = {t: int(c.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one())
               for t in inspect(c).get_table_names()}
    eng.dispose()
    return out


def test_backup_and_restore_keep_every_row_and_the_audit_chain(
        platform: Platform, settings: Settings, backend: str, tmp_path: Path) -> None:
    seed_example_city(platform, people=60)  # people, users, sites: every write audited
    assert _cli(settings, "audit", "checkpoint").returncode == 0
    copy = tmp_path / "backup" / "hesuan.dump"
    made = _cli(settings, "backup", "create", str(copy), "--json")
    assert made.returncode == 0, made.stderr[-3000:]
    manifest = json.loads(made.stdout)
    assert manifest["backend"] == ("postgresql" if backend == "postgres" else "sqlite")
    assert manifest["tables"]["people"] == 60
    assert manifest["tables"]["audit_log"] > 0
    assert json.loads(Path(f"{copy}.manifest.json").read_text()) == manifest
    # the live database moves on after the backup; the copy does not
    with platform.deps.uow() as uow:
        uow.audit_log.append(platform.deps.clock.now(), "tester", "test.after_backup", "x", {})
        uow.commit()

    with _new_database(backend, tmp_path) as target:
        restored = _cli(settings, "backup", "restore", str(copy), "--to", target, "--json")
        assert restored.returncode == 0, restored.stderr[-3000:]
        report = json.loads(restored.stdout)
        assert report["matches"] is True and report["differences"] == {}
        # the restore's own audit entry is the one row the copy did not hold
        assert _counts(target) == manifest["tables"] | {
            "audit_log": manifest["tables"]["audit_log"] + 1}
        live = _counts(settings.database_url)  # the backup's entry and the one after it
        assert live["audit_log"] == manifest["tables"]["audit_log"] + 2
        verified = _cli(settings, "audit", "verify", "--json", url=target)
        assert verified.returncode == 0, verified.stdout + verified.stderr[-2000:]
        assert json.loads(verified.stdout)["verdict"] == "intact"


def test_restore_refuses_a_database_that_holds_data(
        platform: Platform, settings: Settings, tmp_path: Path) -> None:
    seed_example_city(platform, people=10)
    copy = tmp_path / "hesuan.dump"
    assert _cli(settings, "backup", "create", str(copy)).returncode == 0
    refused = _cli(settings, "backup", "restore", str(copy), "--to", settings.database_url)
    assert refused.returncode == 4, refused.stderr
    assert "holds" in refused.stderr


def test_a_restore_whose_rows_differ_from_the_manifest_fails(
        platform: Platform, settings: Settings, backend: str, tmp_path: Path) -> None:
    seed_example_city(platform, people=10)
    copy = tmp_path / "hesuan.dump"
    assert _cli(settings, "backup", "create", str(copy)).returncode == 0
    manifest = Path(f"{copy}.manifest.json")
    data = json.loads(manifest.read_text())
    data["tables"]["people"] += 1  # as if the copy had lost a row
    manifest.write_text(json.dumps(data))
    with _new_database(backend, tmp_path) as target:
        restored = _cli(settings, "backup", "restore", str(copy), "--to", target, "--json")
        assert restored.returncode == 1, restored.stderr
        assert json.loads(restored.stdout)["differences"] == {
            "people": {"manifest": 11, "restored": 10}}


def test_an_sqlite_backup_taken_while_a_writer_writes_is_one_consistent_moment(
        platform: Platform, settings: Settings, backend: str, tmp_path: Path) -> None:
    if backend != "sqlite":
        pytest.skip("the online backup API is SQLite's")
    import threading

    from hesuan.adapters.clock import SystemClock
    from hesuan.adapters.db.backup import backup, restore
    from hesuan.bootstrap import bootstrap
    from hesuan.services.auth import SYSTEM

    seed_example_city(platform, people=20)
    writing = threading.Event()
    writing.set()
    written = [0]

    def writer() -> None:  # audit entries, each chained to the one before, as fast as it can
        while writing.is_set():
            with platform.deps.uow() as uow:
                uow.audit_log.append(platform.deps.clock.now(), "tester", "test.write", "x", {})
                uow.commit()
            written[0] += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        copies = []
        for i in range(3):
            while written[0] < 20 * (i + 1):  # the writer is busy between the copies
                threading.Event().wait(0.01)
            copy = tmp_path / f"copy-{i}.db"
            copies.append((copy, backup(settings.database_url, copy, SystemClock().now())))
    finally:
        writing.clear()
        t.join()
    audited = [m.tables["audit_log"] for _c, m in copies]
    assert audited == sorted(audited) and audited[0] < audited[-1]  # taken while it wrote
    for i, (copy, _manifest) in enumerate(copies):
        url = f"sqlite:///{tmp_path / f'restored-{i}.db'}"
        assert restore(copy, url).matches
        p = bootstrap(settings.model_copy(update={"database_url": url}), migrate=False)
        try:
            report = p.audit.verify(SYSTEM)
        finally:
            p.close()
        assert report.intact and report.entries == audited[i]


def _last_audit(url: str) -> tuple[str, str, str, dict[str, object]]:
    eng = create_engine(url)
    with eng.connect() as c:
        actor, action, subject, detail = c.execute(text(
            "SELECT actor, action, subject, detail FROM audit_log ORDER BY seq DESC LIMIT 1",
        )).one()
    eng.dispose()
    return actor, action, subject, detail if isinstance(detail, dict) else json.loads(detail)


def test_a_backup_and_a_restore_are_audited_with_counts_never_data(
        platform: Platform, settings: Settings, backend: str, tmp_path: Path) -> None:
    seed_example_city(platform, people=12)
    copy = tmp_path / "hesuan.dump"
    made = _cli(settings, "backup", "create", str(copy), "--json")
    assert made.returncode == 0, made.stderr[-3000:]
    manifest = json.loads(made.stdout)
    actor, action, subject, detail = _last_audit(settings.database_url)
    assert (actor, action, subject) == ("cli", "backup.create", "hesuan.dump")
    assert detail == {"file": "hesuan.dump", "bytes": copy.stat().st_size,
                      "backend": manifest["backend"], "revision": manifest["revision"],
                      "tables": len(manifest["tables"]),
                      "rows": sum(manifest["tables"].values())}
    assert manifest["bytes"] == copy.stat().st_size

    with _new_database(backend, tmp_path) as target:
        restored = _cli(settings, "backup", "restore", str(copy), "--to", target)
        assert restored.returncode == 0, restored.stderr[-3000:]
        # written into the restored database, after the restore, on its chain
        actor, action, subject, detail = _last_audit(target)
        assert (actor, action, subject) == ("cli", "backup.restore", "hesuan.dump")
        assert detail["file"] == "hesuan.dump" and detail["bytes"] == copy.stat().st_size
        assert detail["rows"] == sum(manifest["tables"].values())
        assert detail["matches"] is True and "password" not in json.dumps(detail)
        verified = _cli(settings, "audit", "verify", "--json", url=target)
        assert verified.returncode == 0, verified.stdout + verified.stderr[-2000:]
        assert json.loads(verified.stdout)["verdict"] == "intact"


def test_a_role_without_the_backup_actions_is_refused(
        platform: Platform, settings: Settings, tmp_path: Path) -> None:
    from hesuan.bootstrap import backups
    from hesuan.domain.access import Principal, Role
    from hesuan.domain.errors import PermissionDenied

    seed_example_city(platform, people=5)
    officer = Principal("u1", "officer", Role.HEALTH_OFFICER, "1401")
    copy = tmp_path / "hesuan.dump"
    service = backups(settings)
    with pytest.raises(PermissionDenied):
        service.create(officer, copy)
    assert not copy.exists()
    service.create(Principal("u2", "admin", Role.ADMIN), copy)
    with pytest.raises(PermissionDenied):
        service.restore(officer, copy, f"sqlite:///{tmp_path / 'restored.db'}")
    assert not (tmp_path / "restored.db").exists()


def test_a_backup_under_another_secret_is_refused_and_writes_nothing(
        platform: Platform, settings: Settings, backend: str, tmp_path: Path) -> None:
    seed_example_city(platform, people=5)
    copy = tmp_path / "hesuan.dump"
    other = _env(settings) | {"HESUAN_SECRET_KEY": "another-secret"}
    refused = subprocess.run([*CLI, "backup", "create", str(copy)], env=other,
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2, refused.stderr
    assert "error [invalid_setting] HESUAN_SECRET_KEY" in refused.stderr, refused.stderr
    assert not copy.exists()
    assert _last_audit(settings.database_url)[1] != "backup.create"
    verified = _cli(settings, "audit", "verify", "--json")
    assert json.loads(verified.stdout)["verdict"] == "intact", verified.stdout
    # a copy restored under another secret is refused its entry: the restored log's own
    # secret is the one to restore it with
    assert _cli(settings, "backup", "create", str(copy)).returncode == 0
    with _new_database(backend, tmp_path) as target:
        restored = subprocess.run([*CLI, "backup", "restore", str(copy), "--to", target],
                                  env=other | {"HESUAN_DATABASE_URL": target},
                                  capture_output=True, text=True, timeout=300)
        assert restored.returncode == 2, restored.stderr
        assert "HESUAN_SECRET_KEY" in restored.stderr
        assert _last_audit(target)[1] != "backup.restore"  # no entry under the other secret


@pytest.mark.parametrize("backend", ["sqlite"], indirect=False)
def test_ordinary_mistakes_are_errors_in_words_and_leave_nothing_half_made(
        platform: Platform, settings: Settings, tmp_path: Path) -> None:
    """A target URL mistyped, a PostgreSQL database not yet created, a manifest or a copy that
    is not one, a folder that cannot be written: each raised a traceback, and a copy that was
    not a database left an empty target that refused the retry."""
    seed_example_city(platform, people=5)
    good = tmp_path / "good.db"
    backup_at(settings.database_url, good, platform.deps.clock.now())
    junk = tmp_path / "junk.db"
    junk.write_text("not a database\n")
    Path(f"{junk}.manifest.json").write_text('{"tables": {}}')
    torn = tmp_path / "torn.db"
    torn.write_bytes(good.read_bytes())
    Path(f"{torn}.manifest.json").write_text("{")
    target = tmp_path / "restored.db"
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: restore_at(good, "notaurl"), "bad_url"),
        # another driver was sent down the PostgreSQL path: ModuleNotFoundError: MySQLdb
        (lambda: restore_at(good, "mysql://u@127.0.0.1/x"), "bad_url"),
        (lambda: restore_at(good, f"sqlite3:///{target}"), "bad_url"),
        (lambda: restore_at(good, "sqlite:////proc/nope/r.db"), "cannot_write"),
        (lambda: restore_at(torn, f"sqlite:///{target}"), "bad_manifest"),
        (lambda: restore_at(junk, f"sqlite:///{target}"), "not_a_backup"),
        (lambda: backup_at(settings.database_url, Path("/proc/nope/x.db"),
                           platform.deps.clock.now()), "cannot_write"),
        (lambda: restore_at(good, "postgresql+psycopg://postgres@127.0.0.1:5432/"
                                  "hesuan_no_such_database"), "no_database"),
    ]
    for call, code in cases:
        with pytest.raises(HesuanError) as refused:
            call()
        assert refused.value.code == code, (code, refused.value)
    assert not target.exists()  # nothing half-made: the retry is free
    assert restore_at(good, f"sqlite:///{target}").differences == {}
    done = _cli(settings, "backup", "restore", str(junk), "--to",
                f"sqlite:///{tmp_path / 'again.db'}")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "error [not_a_backup]" in done.stderr
