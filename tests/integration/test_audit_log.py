"""The audit log detects rewriting, on both backends: a changed row, a deleted first, middle or
last row, the last rows deleted, a row changed with every later hash recomputed (plain SHA-256,
a guessed key, the real key) and a forged checkpoint are each reported; the database itself
refuses UPDATE and DELETE on the log.

An attacker with access to the database is simulated by a separate connection that first turns
the append-only guard off, as the tables' owner can."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, select, text, update

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.crypto import KeyRing, load_master_secret
from hesuan.adapters.db.migrate import alembic_config, upgrade
from hesuan.adapters.db.schema import audit_log, audit_meta
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.domain.access import Role
from hesuan.domain.audit import AuditReport, ChainKey
from hesuan.domain.errors import RuleViolation
from hesuan.entrypoints.api import create_app
from hesuan.entrypoints.scheduler import Scheduler
from hesuan.services.auth import SYSTEM

N = 12
Hasher = Callable[[str, Any], str]


def _checkpoint(p: Platform) -> None:
    assert p.audit.checkpoint(SYSTEM) is not None


def _verify(p: Platform) -> AuditReport:
    return p.audit.verify(SYSTEM)


def _dir(p: Platform) -> Path:
    return p.settings.audit_checkpoint_dir


def _real_key(p: Platform) -> ChainKey:
    """The key itself, as an attacker who also stole the secret holds it."""
    secret = p.settings.secret_key
    assert secret is not None
    master = load_master_secret(secret.get_secret_value(), p.settings.key_file, create=False)
    return ChainKey(KeyRing(master).audit_chain_key)


@pytest.fixture
def logged(platform: Platform, clock: FixedClock) -> Platform:
    """A log of N entries (seq 1..N)."""
    now = clock.now()
    with platform.deps.uow() as uow:
        for k in range(N):
            uow.audit_log.append(now, "tester", "test.append", f"item:{k}", {"k": k})
        uow.commit()
    return platform


def _tamper(p: Platform, act: Callable[[Connection], object]) -> None:
    """``act`` on a connection of its own with the append-only guard off."""
    pg = p.engine.dialect.name == "postgresql"
    with p.engine.begin() as c:
        if pg:
            for table in ("audit_log", "audit_meta"):
                c.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            for name in ("audit_log_no_update", "audit_log_no_delete", "audit_meta_no_update",
                         "audit_meta_no_delete"):
                c.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        act(c)
        if pg:
            for table in ("audit_log", "audit_meta"):
                c.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def _body(r: Any) -> bytes:
    return json.dumps([r.seq, r.at, r.actor, r.action, r.subject, r.detail], ensure_ascii=False,
                      sort_keys=True, separators=(",", ":")).encode()


def _plain(prev: str, r: Any) -> str:
    return hashlib.sha256(prev.encode() + _body(r)).hexdigest()


def _guessed(prev: str, r: Any) -> str:
    return hmac.new(b"a guessed key", prev.encode() + _body(r), "sha256").hexdigest()


def _rewrite(seq: int, hasher: Hasher) -> Callable[[Connection], None]:
    """Change entry ``seq``'s detail and recompute every hash from it on with ``hasher``."""
    def act(c: Connection) -> None:
        rows = c.execute(select(audit_log).order_by(audit_log.c.seq)).all()
        prev = next(r.hash for r in rows if r.seq == seq - 1) if seq > 1 else "0" * 64
        for r in rows:
            if r.seq < seq:
                continue
            detail = {"k": 999} if r.seq == seq else r.detail
            row = SimpleNamespace(**(r._asdict() | {"detail": detail}))
            h = hasher(prev, row)
            c.execute(update(audit_log).where(audit_log.c.seq == r.seq)
                      .values(detail=detail, prev_hash=prev, hash=h))
            prev = h
    return act


def _delete(*seqs: int) -> Callable[[Connection], None]:
    def act(c: Connection) -> None:
        c.execute(audit_log.delete().where(audit_log.c.seq.in_(seqs)))
    return act


def test_an_untouched_log_is_intact(logged: Platform) -> None:
    _checkpoint(logged)
    report = _verify(logged)
    assert (report.verdict, report.entries, report.first_broken_seq) == ("intact", N, None)


def test_a_changed_row_is_detected(logged: Platform) -> None:
    _checkpoint(logged)
    _tamper(logged, lambda c: c.execute(update(audit_log).where(audit_log.c.seq == 5)
                                        .values(actor="someone-else")))
    report = _verify(logged)
    assert (report.verdict, report.first_broken_seq) == ("broken", 5)


@pytest.mark.parametrize("seq", [1, 6])
def test_a_deleted_first_or_middle_row_is_detected(logged: Platform, seq: int) -> None:
    _checkpoint(logged)
    _tamper(logged, _delete(seq))
    report = _verify(logged)
    assert (report.verdict, report.first_broken_seq) == ("broken", seq)


@pytest.mark.parametrize("gone", [1, 4])
def test_the_last_rows_deleted_are_detected(logged: Platform, gone: int) -> None:
    _checkpoint(logged)
    _tamper(logged, _delete(*range(N - gone + 1, N + 1)))
    report = _verify(logged)
    assert report.verdict == "truncated"
    assert report.entries == N - gone


@pytest.mark.parametrize("hasher", [_plain, _guessed], ids=["plain-sha256", "guessed-key"])
def test_a_row_changed_with_every_later_hash_recomputed_is_detected(logged: Platform,
                                                                     hasher: Hasher) -> None:
    _tamper(logged, _rewrite(5, hasher))  # no checkpoint needed: the key alone catches it
    report = _verify(logged)
    assert (report.verdict, report.first_broken_seq) == ("broken", 5)


def test_a_forged_checkpoint_is_detected(logged: Platform) -> None:
    _checkpoint(logged)
    d = _dir(logged)
    d.mkdir(parents=True, exist_ok=True)
    (d / "checkpoint-000000000099.json").write_text(json.dumps(
        {"v": 1, "seq": 99, "head": "ab" * 32, "at": "2022-08-29T00:00:00+00:00",
         "mac": "00" * 32}))
    report = _verify(logged)
    assert report.verdict == "forged_checkpoint"
    assert report.bad_checkpoints == ("checkpoint-000000000099.json",)


def test_a_changed_last_entry_does_not_stop_a_start_and_is_found(logged: Platform,
                                                                   settings: Settings) -> None:
    # the start checks its secret against the log's last entries: one altered entry at the end
    # is a break for ``audit verify`` to report, not a reason to refuse the database's own key
    _tamper(logged, lambda c: c.execute(update(audit_log).where(audit_log.c.seq == N)
                                        .values(actor="someone-else")))
    again = bootstrap(settings)
    try:
        report = _verify(again)
        assert (report.verdict, report.first_broken_seq) == ("broken", N)
    finally:
        again.close()


def test_the_database_refuses_update_and_delete_of_the_log(logged: Platform) -> None:
    for sql in ("UPDATE audit_log SET actor = 'x' WHERE seq = 3",
                "DELETE FROM audit_log WHERE seq = 3", "DELETE FROM audit_log"):
        with logged.deps.uow() as uow, pytest.raises(Exception, match="append-only"):
            uow.conn.execute(text(sql))  # type: ignore[attr-defined]
    assert _verify(logged).entries == N


def _keyed(key: ChainKey) -> Hasher:
    return lambda prev, r: key.entry_hash(prev, r.seq, r.at, r.actor, r.action, r.subject,
                                          r.detail)


def test_a_log_rebuilt_with_the_real_key_is_caught_by_the_checkpoint(logged: Platform) -> None:
    _checkpoint(logged)
    _tamper(logged, _rewrite(5, _keyed(_real_key(logged))))
    report = _verify(logged)
    assert report.first_broken_seq is None  # the chain itself holds: the key was used
    assert report.verdict == "rewritten"
    with pytest.raises(RuleViolation, match="not the one its checkpoint signed"):
        logged.audit.checkpoint(SYSTEM)  # and no new checkpoint vouches for it


def test_a_middle_row_deleted_and_the_rest_renumbered_with_the_real_key_is_caught(
        logged: Platform) -> None:
    _checkpoint(logged)
    key = _real_key(logged)

    def act(c: Connection) -> None:
        rows = c.execute(select(audit_log).order_by(audit_log.c.seq)).all()
        c.execute(audit_log.delete())
        prev, seq = "0" * 64, 0
        for r in rows:
            if r.seq == 6:
                continue
            seq += 1
            row = SimpleNamespace(**(r._asdict() | {"seq": seq}))
            h = _keyed(key)(prev, row)
            c.execute(audit_log.insert().values(**(r._asdict() | {"seq": seq, "prev_hash": prev,
                                                                   "hash": h})))
            prev = h

    _tamper(logged, act)
    report = _verify(logged)
    assert (report.verdict, report.head_seq, report.first_broken_seq) == ("truncated", N - 1,
                                                                          None)


def test_changes_after_the_latest_checkpoint_need_the_key(logged: Platform,
                                                          clock: FixedClock) -> None:
    _checkpoint(logged)
    with logged.deps.uow() as uow:
        for k in range(3):
            uow.audit_log.append(clock.now(), "tester", "test.append", f"late:{k}", {"k": k})
        uow.commit()
    _tamper(logged, _rewrite(N + 2, _plain))
    report = _verify(logged)
    assert (report.verdict, report.first_broken_seq) == ("broken", N + 2)
    with pytest.raises(RuleViolation, match="broken at entry 14"):
        logged.audit.checkpoint(SYSTEM)


def test_checkpoints_are_signed_owner_only_files_and_not_repeated(logged: Platform,
                                                                  clock: FixedClock) -> None:
    assert _verify(logged).checkpoint is None
    _checkpoint(logged)
    assert logged.audit.checkpoint(SYSTEM) is None  # the head has not moved
    with logged.deps.uow() as uow:
        uow.audit_log.append(clock.now(), "tester", "test.append", "late", {})
        uow.commit()
    _checkpoint(logged)
    files = sorted(_dir(logged).glob("checkpoint-*.json"))
    assert [json.loads(f.read_text())["seq"] for f in files] == [N, N + 1]
    assert {f.stat().st_mode & 0o777 for f in files} == {0o600}
    assert _dir(logged).stat().st_mode & 0o077 == 0
    report = _verify(logged)
    assert report.intact and report.checkpoint is not None and report.checkpoint.seq == N + 1
    assert report.as_dict()["checkpoint"]["seq"] == N + 1


@pytest.mark.parametrize("doctor", ["unsigned", "resigned-with-a-guess", "garbled"])
def test_a_doctored_checkpoint_is_detected(logged: Platform, doctor: str) -> None:
    _checkpoint(logged)
    path = next(_dir(logged).glob("checkpoint-*.json"))
    data = json.loads(path.read_text())
    if doctor == "unsigned":
        del data["mac"]
        path.write_text(json.dumps(data))
    elif doctor == "resigned-with-a-guess":  # pretend the log ended earlier
        data["seq"], data["head"] = 3, _verify_hash(logged, 3)
        path.write_text(json.dumps(data))
    else:
        path.write_text("{not json")
    report = _verify(logged)
    assert report.verdict == "forged_checkpoint" and not report.intact
    assert report.bad_checkpoints == (path.name,)


def _verify_hash(p: Platform, seq: int) -> str:
    with p.engine.connect() as c:
        return str(c.execute(select(audit_log.c.hash).where(audit_log.c.seq == seq)).scalar())


def test_a_legacy_prefix_verifies_and_is_sealed_by_the_first_keyed_entry(
        logged: Platform, clock: FixedClock) -> None:
    """A database upgraded with entries of the plain rule: they verify up to the recorded
    boundary, and once a keyed entry follows, changing one of them is caught."""
    def to_legacy(c: Connection) -> None:
        c.execute(audit_meta.delete())
        c.execute(audit_meta.insert().values(id=1, legacy_upto=N))
        rows = c.execute(select(audit_log).order_by(audit_log.c.seq)).all()
        prev = "0" * 64
        for r in rows:
            h = _plain(prev, r)
            c.execute(update(audit_log).where(audit_log.c.seq == r.seq)
                      .values(prev_hash=prev, hash=h))
            prev = h

    _tamper(logged, to_legacy)
    with logged.deps.uow() as uow:
        uow.audit_log.append(clock.now(), "tester", "test.append", "keyed", {})
        uow.commit()
    report = _verify(logged)
    assert (report.verdict, report.entries, report.legacy_entries) == ("intact", N + 1, N)
    _tamper(logged, _rewrite(4, _plain))  # every later plain hash recomputed, up to N + 1
    report = _verify(logged)
    assert (report.verdict, report.first_broken_seq) == ("broken", N + 1)


def test_the_scheduler_checkpoints_at_every_tick_and_when_it_stops(logged: Platform,
                                                                   clock: FixedClock) -> None:
    scheduler = Scheduler(logged, 3600)
    scheduler.tick()
    report = _verify(logged)
    assert report.intact and report.checkpoint is not None
    assert report.checkpoint.seq == report.head_seq >= N
    with logged.deps.uow() as uow:
        uow.audit_log.append(clock.now(), "tester", "test.append", "before shutdown", {})
        uow.commit()
    scheduler.start()
    scheduler.stop()  # no tick in between (an hour apart): the stop itself checkpoints
    after = _verify(logged)
    assert after.checkpoint is not None and after.checkpoint.seq == report.head_seq + 1


def test_the_cli_and_the_api_report_truncation(logged: Platform, settings: Settings) -> None:
    env = {"HESUAN_DATABASE_URL": settings.database_url, "HESUAN_SECRET_KEY": "test-secret",
           "HESUAN_ENVIRONMENT": "test", "PATH": "/usr/bin:/bin",
           "HESUAN_KEY_FILE": str(settings.key_file),
           "HESUAN_AUDIT_CHECKPOINT_DIR": str(settings.audit_checkpoint_dir)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hesuan.entrypoints.cli", "audit", *args],
                              env=env, capture_output=True, text=True, timeout=120)

    logged.auth.create_user(SYSTEM, "auditor", "a long password", Role.ADMIN)
    token = logged.auth.login("auditor", "a long password")  # both audited: N + 2 entries
    head = N + 2
    made = cli("checkpoint")
    assert made.returncode == 0 and f"checkpoint at entry {head}" in made.stderr, made.stderr
    ok = cli("verify", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["verdict"] == "intact", ok.stderr
    _tamper(logged, _delete(head - 1, head))
    bad = cli("verify", "--json")
    assert bad.returncode == 1, bad.stderr
    out = json.loads(bad.stdout)
    assert (out["verdict"], out["intact"], out["head_seq"], out["checkpoint"]["seq"]) == (
        "truncated", False, head - 2, head)
    assert "truncated" in bad.stderr

    with TestClient(create_app(logged)) as client:
        r = client.get("/audit/verify", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    body = r.json()
    assert (body["verdict"], body["intact"], body["first_broken_seq"]) == ("truncated", False,
                                                                           None)
    assert body["checkpoint"]["seq"] == head and body["bad_checkpoints"] == []


def test_the_cli_warns_when_the_log_is_no_longer_anchored(logged: Platform,
                                                          settings: Settings) -> None:
    """``hesuan audit verify`` on an intact log says too when entries follow a checkpoint
    older than an hour (the scheduler stopped, or cannot write its folder): still exit 0, and
    1 with ``--strict`` (what the monitoring timer runs)."""
    env = {"HESUAN_DATABASE_URL": settings.database_url, "HESUAN_SECRET_KEY": "test-secret",
           "HESUAN_ENVIRONMENT": "test", "PATH": "/usr/bin:/bin",
           "HESUAN_KEY_FILE": str(settings.key_file),
           "HESUAN_AUDIT_CHECKPOINT_DIR": str(settings.audit_checkpoint_dir)}

    def verify(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hesuan.entrypoints.cli", "audit",
                               "verify", *options], env=env, capture_output=True, text=True,
                              timeout=120)

    never = verify("--strict")  # entries, and no checkpoint ever signed
    assert never.returncode == 1 and "no checkpoint yet" in never.stderr, never.stderr
    assert logged.audit.checkpoint(SYSTEM) is not None  # signed at the tests' clock, years ago
    fresh = verify("--strict")  # nothing written since: nothing to anchor
    assert fresh.returncode == 0 and "not anchored" not in fresh.stderr, fresh.stderr
    logged.auth.create_user(SYSTEM, "auditor", "a long password", Role.ADMIN)
    stale = verify()
    assert stale.returncode == 0 and "audit chain intact" in stale.stderr, stale.stderr
    assert "not anchored" in stale.stderr and "HESUAN_AUDIT_CHECKPOINT_DIR" in stale.stderr
    strict = verify("--strict")
    assert strict.returncode == 1 and "not anchored" in strict.stderr, strict.stderr


def test_the_upgrade_keeps_plain_entries_as_a_legacy_prefix(tmp_path: Path,
                                                            clock: FixedClock) -> None:
    """A database with entries of the plain rule, upgraded: the migration records the boundary,
    the entries verify, the keyed chain carries on from them, and a downgrade drops the guard."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    upgrade(engine, "0005")
    with engine.begin() as c:
        prev = "0" * 64
        for seq in range(1, 4):
            row = SimpleNamespace(seq=seq, at=clock.now().isoformat(), actor="old",
                                  action="test.append", subject=f"item:{seq}", detail={"k": seq})
            h = _plain(prev, row)
            c.execute(audit_log.insert().values(**vars(row), prev_hash=prev, hash=h))
            prev = h
    upgrade(engine)
    with engine.connect() as c:
        assert c.execute(select(audit_meta.c.legacy_upto)).scalar() == 3
    engine.dispose()
    p = bootstrap(Settings(database_url=url, environment="test", secret_key="test-secret",
                           key_file=tmp_path / "k", sms_file=tmp_path / "sms.jsonl",
                           pass_key_dir=tmp_path / "keys",
                           audit_checkpoint_dir=tmp_path / "audit"), clock=clock, migrate=False)
    try:
        with p.deps.uow() as uow:
            uow.audit_log.append(clock.now(), "tester", "test.append", "keyed", {})
            uow.commit()
        report = _verify(p)
        assert (report.verdict, report.entries, report.legacy_entries) == ("intact", 4, 3)
    finally:
        p.close()
    engine = create_engine(url)
    command.downgrade(alembic_config(engine), "0005")
    with engine.begin() as c:
        c.execute(update(audit_log).values(actor="x"))  # the guard is gone with 0006
    engine.dispose()


def test_appends_from_transactions_at_once_make_one_chain(platform: Platform) -> None:
    """Four threads, each appending in transactions of its own begun at the same moments (a
    barrier before each): every entry is kept, numbered once, and the chain verifies intact.
    On PostgreSQL the chain's end is read only once the append lock is held; read before it,
    two transactions would take the same number."""
    threads, rounds = 4, 15
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def append(n: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait(timeout=30)
                with platform.deps.uow() as uow:
                    uow.audit_log.append(platform.deps.clock.now(), f"t{n}", "test.append",
                                         f"round:{r}", {"thread": n})
                    uow.commit()
        except BaseException as exc:  # reported by the assertions below
            failures.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=append, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not failures, failures[:1]
    report = _verify(platform)
    assert (report.verdict, report.entries) == ("intact", threads * rounds), report
    with platform.deps.uow(readonly=True) as uow:
        subjects = {(e.actor, e.subject) for e in uow.audit_log.entries(0, 1000)}
    assert len(subjects) == threads * rounds
