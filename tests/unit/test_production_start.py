"""What a production start refuses (docs/SECURITY.md §6): a short secret key, the development key
file in place of a configured secret, missing pass keys, the demo password in ``city generate``;
and the files a start creates (database, keys) readable by the owner only."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from hesuan.adapters.clock import SystemClock
from hesuan.adapters.crypto import KeyRing
from hesuan.adapters.passes.keys import PassKeyStore
from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.domain.errors import InvalidInput
from hesuan.entrypoints.cli.app import app as cli_app
from hesuan.services.auth import SYSTEM
from hesuan.sim.city import generate_city

SECRET = "s" * 32


def _production(tmp_path: Path, **kw: object) -> Settings:
    values: dict[str, object] = {
        "environment": "production", "database_url": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "key_file": tmp_path / "secret.key", "pass_key_dir": tmp_path / "keys",
        "sms_file": tmp_path / "sms.jsonl", "secret_key": SECRET,
        # not the working folder's var/audit, which a server run there may have filled
        "audit_checkpoint_dir": tmp_path / "audit"}
    values.update(kw)
    return Settings(**values)  # type: ignore[arg-type]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _init_keys(tmp_path: Path) -> None:
    keys = PassKeyStore(tmp_path / "keys", "CN-14-0100", create=True, alg="Ed25519")
    keys.init(SystemClock().now())


def test_a_short_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="HESUAN_SECRET_KEY"):
        _production(tmp_path, secret_key="x" * 31)
    with pytest.raises(ValidationError, match="HESUAN_SECRET_KEY"):
        _production(tmp_path, secret_key="键" * 10)  # 30 bytes in UTF-8
    assert _production(tmp_path, secret_key="键" * 11).secret_key is not None  # 33 bytes
    # outside production a short one still does (tests, the demo)
    Settings(environment="development", secret_key="short")


def test_the_development_key_file_does_not_stand_in_for_the_secret(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("c2VjcmV0LWZyb20tYS1kZXZlbG9wbWVudC1ydW4tLS0=")
    _init_keys(tmp_path)
    with pytest.raises((ValidationError, RuntimeError), match="HESUAN_SECRET_KEY"):
        bootstrap(_production(tmp_path, secret_key=None))


def test_missing_pass_keys_are_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="init-keys") as refused:
        bootstrap(_production(tmp_path))
    assert refused.value.field == "HESUAN_PASS_KEY_DIR"
    assert not (tmp_path / "keys" / "keys.json").exists()
    _init_keys(tmp_path)
    platform = bootstrap(_production(tmp_path))
    try:
        assert len(platform.passes.root_public_key(SYSTEM)) == 32  # the keys are served
    finally:
        platform.close()


def test_the_database_and_key_files_are_the_owners_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        settings = Settings(environment="development", secret_key=None,
                            database_url=f"sqlite:///{tmp_path / 'var' / 'db.sqlite'}",
                            key_file=tmp_path / "var" / "secret.key",
                            pass_key_dir=tmp_path / "var" / "keys",
                            sms_file=tmp_path / "sms.jsonl")
        platform = bootstrap(settings)
        try:
            platform.passes.trust_list(SYSTEM)
            with platform.deps.uow() as uow:  # a write: the WAL and its index exist now
                uow.audit_log.append(platform.deps.clock.now(), "test", "test.write", "x", {})
                uow.commit()
            var = tmp_path / "var"
            for name in ("db.sqlite", "db.sqlite-wal", "db.sqlite-shm", "secret.key",
                         "secret.data.key"):
                assert _mode(var / name) == 0o600, name
            keys = var / "keys"
            assert _mode(keys) == 0o700
            private = [p for p in keys.iterdir() if p.suffix == ".key"]
            assert len(private) == 2  # root and the first signing key
            for path in private:
                assert _mode(path) == 0o600, path.name
        finally:
            platform.close()
    finally:
        os.umask(old)


def test_city_generate_refuses_the_demo_password_in_production(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _init_keys(tmp_path)
    env = {"HESUAN_ENVIRONMENT": "production", "HESUAN_SECRET_KEY": SECRET,
           "HESUAN_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
           "HESUAN_PASS_KEY_DIR": str(tmp_path / "keys"),
           "HESUAN_SMS_FILE": str(tmp_path / "sms.jsonl")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = CliRunner().invoke(cli_app, ["city", "generate", "--people", "200", "--workers", "1"])
    assert r.exit_code == 2, r.output
    assert "demo password" in r.output
    eng = create_engine(env["HESUAN_DATABASE_URL"])
    try:
        with eng.connect() as c:
            tables = {r[0] for r in c.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'table'"))}
            users = c.execute(text("SELECT count(*) FROM users")).scalar() \
                if "users" in tables else 0
    finally:
        eng.dispose()
    assert users == 0


def _with_people(tmp_path: Path, *, legacy: bool = False) -> bytes:
    """A database holding people, left by a development start on the same files; one
    person's encrypted name. ``legacy``: stored as before data key files, under the keys of
    the master secret."""
    settings = _production(tmp_path).model_copy(update={"environment": "development"})
    p = bootstrap(settings)
    try:
        vault = KeyRing(hashlib.sha256(SECRET.encode()).digest()) if legacy else p.deps.vault
        generate_city(replace(p, deps=replace(p.deps, vault=vault)), 5, seed=3, workers=0)
        with p.engine.connect() as c:
            return bytes(c.execute(text("SELECT name_enc FROM people LIMIT 1")).scalar_one())
    finally:
        p.close()


def test_a_first_production_start_makes_the_data_key(tmp_path: Path) -> None:
    _init_keys(tmp_path)
    old = os.umask(0o022)
    try:
        bootstrap(_production(tmp_path)).close()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "secret.data.key") == 0o600  # beside the key file unless set


def test_production_refuses_people_without_their_data_key(tmp_path: Path) -> None:
    _init_keys(tmp_path)
    name = _with_people(tmp_path)
    key = tmp_path / "secret.data.key"
    saved = key.read_bytes()
    key.unlink()
    with pytest.raises(InvalidInput, match="HESUAN_DATA_KEY_FILE"):
        bootstrap(_production(tmp_path))
    assert not key.exists()  # a new one would read no one's name
    # nor does development fall back on the master secret's keys: they do not read these
    with pytest.raises(InvalidInput, match="HESUAN_DATA_KEY_FILE"):
        bootstrap(_production(tmp_path).model_copy(update={"environment": "development"}))
    key.write_bytes(saved)  # restored from its backup
    platform = bootstrap(_production(tmp_path))
    try:
        assert platform.deps.vault.decrypt(name)
    finally:
        platform.close()


def test_production_reads_people_from_before_data_keys_only_when_told(tmp_path: Path) -> None:
    _init_keys(tmp_path)
    name = _with_people(tmp_path, legacy=True)
    (tmp_path / "secret.data.key").unlink()  # there was none then
    with pytest.raises(InvalidInput, match="HESUAN_DATA_KEY_LEGACY"):
        bootstrap(_production(tmp_path))
    platform = bootstrap(_production(tmp_path, data_key_legacy=True))
    try:
        assert platform.deps.vault.decrypt(name)
        assert not (tmp_path / "secret.data.key").exists()
    finally:
        platform.close()


def _development(tmp_path: Path, **kw: object) -> Settings:
    """A development start on the key file (no secret key set), as the demo runs."""
    return _production(tmp_path, environment="development", secret_key=None, **kw)


def _audited(settings: Settings) -> None:
    """A start that writes one audit entry, signed under the settings' master secret."""
    platform = bootstrap(settings)
    try:
        with platform.deps.uow() as uow:
            uow.audit_log.append(platform.deps.clock.now(), "test", "test.write", "x", {})
            uow.commit()
    finally:
        platform.close()


def test_a_start_under_another_secret_refuses_and_leaves_the_audit_log_as_it_was(
        tmp_path: Path) -> None:
    _init_keys(tmp_path)
    _with_people(tmp_path)  # the database's audit log is signed under SECRET
    other = _production(tmp_path, secret_key="o" * 32)
    with pytest.raises(InvalidInput, match="HESUAN_SECRET_KEY") as refused:
        bootstrap(other)
    assert (refused.value.code, refused.value.field) == ("invalid_setting", "HESUAN_SECRET_KEY")
    platform = bootstrap(_production(tmp_path))  # the database's own secret still starts
    try:
        assert platform.audit.verify(SYSTEM).intact
    finally:
        platform.close()


def test_a_missing_key_file_is_not_made_over_a_database_that_has_an_audit_log(
        tmp_path: Path) -> None:
    _audited(_development(tmp_path))  # the first start makes the key file
    assert (tmp_path / "secret.key").exists()
    with pytest.raises(InvalidInput, match="HESUAN_KEY_FILE") as refused:
        bootstrap(_development(tmp_path, key_file=tmp_path / "elsewhere.key"))
    assert refused.value.field == "HESUAN_KEY_FILE"
    assert not (tmp_path / "elsewhere.key").exists()


def test_a_command_on_the_wrong_key_file_says_so_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _audited(_development(tmp_path))
    env = {"HESUAN_ENVIRONMENT": "development",
           "HESUAN_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
           "HESUAN_KEY_FILE": str(tmp_path / "elsewhere.key"),
           "HESUAN_PASS_KEY_DIR": str(tmp_path / "keys"),
           "HESUAN_AUDIT_CHECKPOINT_DIR": str(tmp_path / "audit"),
           "HESUAN_SMS_FILE": str(tmp_path / "sms.jsonl"), "COLUMNS": "200"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = CliRunner().invoke(cli_app, ["report", "reconcile"])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error [invalid_setting] HESUAN_KEY_FILE"), r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert not (tmp_path / "elsewhere.key").exists()


def test_db_upgrade_without_pass_keys_says_so_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {"HESUAN_ENVIRONMENT": "production", "HESUAN_SECRET_KEY": SECRET,
                 "HESUAN_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
                 "HESUAN_PASS_KEY_DIR": str(tmp_path / "keys"), "COLUMNS": "200",
                 "HESUAN_SMS_FILE": str(tmp_path / "sms.jsonl")}.items():
        monkeypatch.setenv(k, v)
    r = CliRunner().invoke(cli_app, ["db", "upgrade"])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error [invalid_setting] HESUAN_PASS_KEY_DIR: no pass keys"), \
        r.output
    assert "hesuan passes init-keys" in r.output


def test_a_start_without_the_keys_of_unexpired_passes_refuses(tmp_path: Path) -> None:
    settings = _production(tmp_path).model_copy(update={"environment": "development"})
    p = bootstrap(settings)
    try:
        generate_city(p, 5, seed=3, workers=0)
        with p.engine.connect() as c:
            pid = str(c.execute(text("SELECT id FROM people LIMIT 1")).scalar_one())
        issued = p.passes.issue(SYSTEM, pid)
    finally:
        p.close()
    keys, kept = tmp_path / "keys", tmp_path / "keys.kept"
    keys.rename(kept)  # the directory lost: a development start would have made new keys
    with pytest.raises(InvalidInput, match="unexpired pass") as refused:
        bootstrap(settings)
    assert refused.value.field == "HESUAN_PASS_KEY_DIR"
    assert not (keys / "keys.json").exists()
    _init_keys(tmp_path)  # another directory's keys: a production start refuses them too
    with pytest.raises(InvalidInput, match="unexpired pass"):
        bootstrap(_production(tmp_path))
    shutil.rmtree(keys)
    kept.rename(keys)  # restored from its backup
    again = bootstrap(_production(tmp_path))
    try:
        assert again.passes.verify(SYSTEM, issued).valid
    finally:
        again.close()


@pytest.mark.parametrize("alg", [None, "Ed25519"])
def test_init_keys_makes_the_first_signing_key_of_the_configured_algorithm(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alg: str | None) -> None:
    """``hesuan passes init-keys`` makes production's first key: of ``HESUAN_PASS_ALG``, ES256
    unless set (it made Ed25519 whatever the setting said)."""
    for k, v in {"HESUAN_ENVIRONMENT": "production", "HESUAN_SECRET_KEY": SECRET,
                 "HESUAN_PASS_KEY_DIR": str(tmp_path / "keys")}.items():
        monkeypatch.setenv(k, v)
    if alg is not None:
        monkeypatch.setenv("HESUAN_PASS_ALG", alg)
    r = CliRunner().invoke(cli_app, ["passes", "init-keys"])
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "keys" / "keys.json").read_text())
    assert [k["alg"] for k in manifest["keys"]] == [alg or "ES256"]
