"""The CLI starts fast and changes nothing it was not asked to.

``hesuan --help`` imports none of the platform's heavy libraries (FastAPI, SQLAlchemy, Alembic,
pydantic, cryptography...); a command that only reads never runs the migrations: on a database
whose schema is behind, or on a database that does not exist yet, it refuses with exit 8 and
says to run ``hesuan db upgrade``, and leaves the database as it found it. ``db upgrade``
migrates. Every error of the one hierarchy has its own exit code.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hesuan.config import Settings
from hesuan.domain import errors
from tests.helpers import cli_env

CLI = [sys.executable, "-m", "hesuan.entrypoints.cli"]
#: The platform's libraries (pydantic itself is not here: Typer coerces parameters with it).
HEAVY = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg",
         "pydantic_settings", "cryptography", "argon2", "shapely", "numpy", "openpyxl", "httpx",
         "jinja2", "segno", "cbor2"}
GROUPS = {"people", "results", "report", "db", "users", "audit", "alerts", "notify",
          "verify-code", "serve", "verify", "passes", "sweep", "policy", "status", "zones",
          "roster", "fence", "city", "simulate", "backup", "retention",
          "programme"}


def _imported(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = subprocess.run([sys.executable, "-X", "importtime", *CLI[1:], *args], env=cli_env(),
                         capture_output=True, text=True, timeout=60)
    names = {line.rsplit("|", 1)[1].strip().split(".")[0]
             for line in out.stderr.splitlines() if line.startswith("import time:")}
    return out, names


@pytest.mark.parametrize("args", [["--help"], ["zones", "--help"], ["report", "--help"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    out, names = _imported(*args)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not names & HEAVY, sorted(names & HEAVY)
    if args == ["--help"]:
        assert all(f" {g} " in out.stdout for g in GROUPS), out.stdout


def _version(url: str) -> str | None:
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            return c.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        eng.dispose()


def _stamp(url: str, revision: str) -> None:
    eng = create_engine(url)
    try:
        with eng.begin() as c:
            c.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    finally:
        eng.dispose()


def test_a_reading_command_leaves_a_schema_that_is_behind_alone(settings: Settings) -> None:
    head = _version(settings.database_url)
    assert head is not None
    behind = f"{int(head) - 1:04d}"
    _stamp(settings.database_url, behind)  # as a database left at the previous release
    try:
        for args in (["report", "reconcile", "--json"], ["audit", "verify"]):
            out = subprocess.run([*CLI, *args], env=cli_env(settings), capture_output=True,
                                 text=True, timeout=120)
            assert out.returncode == 8, out.stderr
            assert "hesuan db upgrade" in out.stderr, out.stderr
            assert "Traceback" not in out.stderr
            assert _version(settings.database_url) == behind
    finally:
        _stamp(settings.database_url, head)
    ok = subprocess.run([*CLI, "report", "reconcile", "--json"], env=cli_env(settings),
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr


def test_no_database_yet_is_not_created_by_reading_and_db_upgrade_makes_it(
        tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    settings = Settings(database_url=f"sqlite:///{db}", environment="test",
                        secret_key="test-secret", key_file=tmp_path / "k",
                        pass_key_dir=tmp_path / "keys", audit_checkpoint_dir=tmp_path / "audit")
    env = cli_env(settings)
    out = subprocess.run([*CLI, "report", "reconcile", "--json"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 8 and "hesuan db upgrade" in out.stderr, out.stderr
    assert not db.exists()
    up = subprocess.run([*CLI, "db", "upgrade"], env=env, capture_output=True, text=True,
                        timeout=120)
    assert up.returncode == 0 and "newest schema" in up.stderr, up.stderr
    assert _version(settings.database_url) is not None
    ok = subprocess.run([*CLI, "report", "reconcile", "--json"], env=env, capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr


def test_every_error_has_its_own_exit_code() -> None:
    from hesuan.entrypoints.cli.common import EXIT_CODES, exit_code_for

    classes = [getattr(errors, n) for n in errors.__all__]
    # every direct kind of error has a row and a code of its own; a subclass takes its base's
    assert {c for c, _ in EXIT_CODES} == {c for c in classes
                                          if c.__bases__ == (errors.HesuanError,)}
    assert len({code for _, code in EXIT_CODES}) == len(EXIT_CODES)
    expected: dict[type[errors.HesuanError], int] = {
                errors.InvalidInput: 2, errors.InvalidFields: 2, errors.NotFound: 3,
                errors.RuleViolation: 4, errors.Conflict: 4, errors.NotAuthenticated: 5,
                errors.PermissionDenied: 6, errors.TooManyAttempts: 7,
                errors.StoreUnavailable: 8}
    for cls, code in expected.items():
        assert exit_code_for(cls.__new__(cls)) == code, cls


def test_no_command_exits_with_a_number_outside_the_table() -> None:
    # 0 success and 1 "checked and found not valid" are the plain codes; every other code
    # comes from an error of the hierarchy through the one table
    package = Path(__file__).resolve().parents[2] / "src" / "hesuan" / "entrypoints" / "cli"
    found = []
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "Exit" and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and node.args[0].value not in (0, 1)):
                found.append(f"{path.name}:{node.lineno} Exit({node.args[0].value!r})")
    assert not found, found
    assert os.path.isdir(package)
