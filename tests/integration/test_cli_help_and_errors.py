"""What the ``hesuan`` command says when it refuses, and what its help says.

An error names its field once (a message of the hierarchy already starts with its field); a
record with several bad fields is one line per field. An invalid setting (``HESUAN_*``) is one
clear line per setting and exit 2, never a traceback. Every command's help is free of internal
references such as "(F14)", and the summary the command lists show is one line, not a
docstring's hard-wrapped lines.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hesuan.config import Settings
from hesuan.domain.errors import InvalidFields, InvalidInput
from hesuan.entrypoints.cli.app import app as cli_app
from tests.helpers import cli_env

CLI = [sys.executable, "-m", "hesuan.entrypoints.cli"]
#: An internal reference in a help text: "(F14)", "(C3)", "change 19", "issue 20".
INTERNAL = re.compile(r"\([A-Z]{1,2}\d+\)|\b(?:change|issue) \d+\b", re.IGNORECASE)


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``cmd`` (Typer's own Click), with its path."""
    yield path, cmd
    if hasattr(cmd, "list_commands"):
        ctx = cmd.context_class(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None, name
            yield from _commands(sub, (*path, name))


def test_an_error_names_its_field_once() -> None:
    from hesuan.entrypoints.cli.common import console, failed

    with console.capture() as out:
        exit_ = failed(InvalidInput("code: the sampling code is forged, altered or unreadable",
                                    code="forged_code", field="code"))
    assert exit_.exit_code == 2
    assert out.get().strip() == ("error [forged_code] code: the sampling code is forged, "
                                 "altered or unreadable")
    with console.capture() as out:
        failed(InvalidInput("must be a known lab", code="unknown_lab", field="lab_id"))
    assert out.get().strip() == "error [unknown_lab] lab_id: must be a known lab"
    with console.capture() as out:
        failed(InvalidFields([InvalidInput("phone: not a number", code="bad_phone",
                                           field="phone"),
                              InvalidInput("name: required", code="required", field="name")]))
    assert out.get().splitlines() == ["error [bad_phone] phone: not a number",
                                      "error [required] name: required"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_verify_code_of_a_forged_code_says_code_once(settings: Settings) -> None:
    out = subprocess.run([*CLI, "verify-code", "HS1:AAAA"], env=cli_env(settings),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "code: the sampling code is forged" in out.stderr, out.stderr
    assert "code: code:" not in out.stderr, out.stderr
    assert out.stdout == ""


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_invalid_setting_is_one_line_per_setting_and_exit_2(settings: Settings) -> None:
    for args in (["alerts"], ["report", "reconcile", "--json"], ["simulate", "--hours", "1"],
                 ["serve"], ["mllp"], ["backup", "create", str(settings.key_file) + ".copy"]):
        out = subprocess.run(
            [*CLI, *args], env=cli_env(settings, HESUAN_MLLP_PORT="abc",
                                    HESUAN_ELR_MLLP_TIMEOUT="-1",
                                    HESUAN_TRANSPORT_LIMIT="four hours"),
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, (args, out.stderr)
        assert "Traceback" not in out.stderr and "pydantic" not in out.stderr, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 3, out.stderr
        assert [line.split(":")[0].rsplit(" ", 1)[-1] for line in lines] == [
            "HESUAN_TRANSPORT_LIMIT", "HESUAN_ELR_MLLP_TIMEOUT", "HESUAN_MLLP_PORT"], lines
        assert all(line.startswith("error [invalid_setting] HESUAN_") for line in lines), lines
        assert out.stdout == ""
    # a rule across settings names its variables too
    out = subprocess.run([*CLI, "alerts"], env=cli_env(settings, HESUAN_MLLP_PORT="2575"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        "error [invalid_setting] HESUAN_MLLP_PORT needs HESUAN_MLLP_LAB: the lab whose system "
        "sends over MLLP"], out.stderr


def test_every_commands_help_is_free_of_internal_references() -> None:
    root = typer.main.get_command(cli_app)
    paths = list(_commands(root))
    assert len(paths) > 40
    runner = CliRunner()
    for path, cmd in paths:
        texts = [cmd.help or "", cmd.short_help or ""] + [
            getattr(p, "help", None) or "" for p in cmd.params]
        found = [t for t in texts if INTERNAL.search(t)]
        assert not found, (path, found)
        shown = runner.invoke(cli_app, [*path, "--help"], env={"COLUMNS": "100"})
        assert shown.exit_code == 0, (path, shown.output)
        assert not INTERNAL.search(shown.output), (path, shown.output)
        # a docstring's reST markup (``serve``) is not for the reader of --help
        assert "``" not in shown.output, (path, shown.output)


def test_every_command_lists_a_one_line_summary() -> None:
    # A group's list shows the first paragraph of each command's help as it is written: a
    # summary wrapped by hand shows its line breaks mid-sentence there.
    root = typer.main.get_command(cli_app)
    broken = [(" ".join(path), (cmd.help or "").split("\n\n")[0])
              for path, cmd in _commands(root)
              if path and "\n" in (cmd.short_help or (cmd.help or "").split("\n\n")[0].strip())]
    assert not broken, broken


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_worker_started_by_uvicorn_refuses_invalid_settings_in_words(
        settings: Settings) -> None:
    """A deployment may start the workers with uvicorn itself (docs/DEPLOY.md): an invalid
    setting ends the worker with the same one line per setting, not a pydantic traceback."""
    code = ("from hesuan.entrypoints.api.asgi import make_app\nmake_app()\n")
    out = subprocess.run([sys.executable, "-c", code],
                         env=cli_env(settings, HESUAN_MLLP_PORT="abc"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "pydantic" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines() == [
        "error [invalid_setting] HESUAN_MLLP_PORT: Input should be a valid integer, unable to "
        "parse string as an integer"], out.stderr


def test_a_port_out_of_range_is_refused_before_anything_starts() -> None:
    """``serve --port 70000`` listened on 4464 (70000 − 65536), where nginx did not look;
    ``--port 0`` fell back to HESUAN_PORT."""
    for port in ("70000", "0", "-1"):
        out = CliRunner().invoke(cli_app, ["serve", "--port", port])
        assert out.exit_code == 2, (port, out.output)
        assert "Invalid value for '--port'" in out.output, out.output


def test_a_time_typed_without_an_offset_is_local_time_as_on_the_web() -> None:
    """``zones designate --planned-end 2026-12-10T00:00``, meant as local midnight, was taken
    as midnight UTC (08:00 in Taiyuan): the zone ended 8 h late; the web's form reads the same
    text as local time."""
    from datetime import UTC, datetime

    from hesuan.entrypoints.cli.common import parse_time

    assert parse_time("2026-12-10T00:00", "--planned-end", "") \
        == datetime(2026, 12, 9, 16, 0, tzinfo=UTC)
    assert parse_time("2026-12-10T00:00Z", "--planned-end", "") \
        == datetime(2026, 12, 10, 0, 0, tzinfo=UTC)


def test_a_database_or_key_file_that_cannot_be_used_is_one_line(tmp_path: Any) -> None:
    """A URL of another driver, an in-memory SQLite, a CSV named as the database, a folder
    that cannot be made, a key file that is a folder: each was a Python traceback."""
    (tmp_path / "people.csv").write_text("a,b\n")
    own = {"HESUAN_KEY_FILE": str(tmp_path / "k.key"),
           "HESUAN_PASS_KEY_DIR": str(tmp_path / "keys"),
           "HESUAN_AUDIT_CHECKPOINT_DIR": str(tmp_path / "audit")}
    cases = {
        f"sqlite3:///{tmp_path}/a.db": "HESUAN_DATABASE_URL",
        "sqlite://": "HESUAN_DATABASE_URL",
        "postgresql://postgres@127.0.0.1/test": "HESUAN_DATABASE_URL",
        f"sqlite:///{tmp_path}/people.csv": "not an SQLite database",
        "sqlite:////proc/no-such-folder/x.db": "cannot create",
    }
    for url, said in cases.items():
        # a command that migrates, and (for a file that is there) one that only reads
        for args in (["db", "upgrade"], *([["audit", "verify"]] if "csv" in url else [])):
            out = subprocess.run([*CLI, *args], env=cli_env(None, HESUAN_DATABASE_URL=url,
                                                            **own),
                                 capture_output=True, text=True, timeout=60)
            assert "Traceback" not in out.stderr, (url, args, out.stderr[-600:])
            assert out.returncode == 2, (url, args, out.returncode, out.stderr)
            assert said in out.stderr, (url, out.stderr)
    out = subprocess.run([*CLI, "db", "upgrade"], env=cli_env(None, **{
        **own, "HESUAN_DATABASE_URL": f"sqlite:///{tmp_path}/b.db",
        "HESUAN_KEY_FILE": str(tmp_path)}), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "HESUAN_KEY_FILE" in out.stderr, out.stderr


def test_a_taken_port_is_said_before_anything_starts(settings: Settings) -> None:
    """``serve`` on a taken port exited 3 (uvicorn's own status, which the exit table gives
    to not found) after the scheduler's first run."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([*CLI, "serve", "--port", str(port)], env=cli_env(settings),
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert f"error [port_taken] port: 127.0.0.1:{port} is taken" in out.stderr, out.stderr
