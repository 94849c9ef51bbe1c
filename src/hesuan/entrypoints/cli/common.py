"""What every command group of the ``hesuan`` command shares: the console, the operator
principal, the platform opener, the one error → exit-code table and JSON printing.

The exit codes, mapped once from the one error hierarchy (``hesuan.domain.errors``):

====  ==========================================================================
0     done; a check found what it checks valid
1     a check found what it checks not valid (a pass, the audit chain, a round's
      reconciliation)
2     ``InvalidInput`` (and a command line Click cannot parse)
3     ``NotFound``
4     ``RuleViolation``, ``Conflict``
5     ``NotAuthenticated``
6     ``PermissionDenied``
7     ``TooManyAttempts``
8     ``StoreUnavailable``: the disk is full, the database unreachable, or its schema behind
      (``schema_behind``: run ``hesuan db upgrade``); nothing was written
====  ==========================================================================

The CLI acts as the platform operator (an admin principal named ``cli``); every write is
audited under that name. Only ``db upgrade``, ``serve`` and ``city generate`` (which builds a
database from nothing) migrate the schema; every other command first checks that the database
exists and is at the newest schema, and changes nothing when it is not.

This module is the leaf of the CLI package: it imports no command module, and the platform
(SQLAlchemy, FastAPI, cryptography...) only when a command opens it, so ``hesuan --help``
stays fast.

Imports: Typer, Rich, ``hesuan.domain``; at call time ``hesuan.bootstrap``, ``hesuan.config``,
``hesuan.adapters``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.markup import escape

from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import (
    HesuanError,
    InvalidFields,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RuleViolation,
    StoreUnavailable,
    TooManyAttempts,
)

if TYPE_CHECKING:
    from rich.progress import Progress

    from hesuan.bootstrap import Platform
    from hesuan.config import Settings

__all__ = [
    "CLI_PRINCIPAL",
    "EXIT_CODES",
    "EXIT_NOT_VALID",
    "InDoubtOpt",
    "JsonOpt",
    "ResendOpt",
    "SentOpt",
    "console",
    "described",
    "environment_settings",
    "exit_code_for",
    "failed",
    "iso_duration",
    "opened",
    "parse_time",
    "print_json",
    "progress",
    "report_file",
    "say_read_from",
    "settle_in_doubt",
    "working",
]

CLI_PRINCIPAL = Principal(user_id="cli", username="cli", role=Role.ADMIN)

#: Diagnostics and progress go to stderr; stdout carries only data (JSON, a pass).
console = Console(stderr=True)

#: The one error → exit-code table; a subclass takes its nearest listed base's code.
EXIT_CODES: tuple[tuple[type[HesuanError], int], ...] = (
    (InvalidInput, 2), (NotFound, 3), (RuleViolation, 4), (NotAuthenticated, 5),
    (PermissionDenied, 6), (TooManyAttempts, 7), (StoreUnavailable, 8),
)
#: A check ran and found what it checks not valid.
EXIT_NOT_VALID = 1

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]

#: An outbox's messages in doubt (handed over, never confirmed: docs/SMS.md, docs/INTEROP.md),
#: listed and settled by the operator from the receiver's own record.
InDoubtOpt = Annotated[bool, typer.Option(
    "--in-doubt", help="List the messages in doubt (handed over, never confirmed) and send "
    "nothing.")]
SentOpt = Annotated[list[str] | None, typer.Option(
    "--sent", metavar="ID", help="Operator's decision: the receiver has this message in doubt; "
    "mark it sent (repeatable).")]
ResendOpt = Annotated[list[str] | None, typer.Option(
    "--resend", metavar="ID", help="Operator's decision: the receiver never got this message "
    "in doubt; send it again (repeatable).")]


def settle_in_doubt(settle: Callable[..., int], sent: list[str] | None,
                    resend: list[str] | None) -> None:
    """The operator's decisions on messages in doubt (``--sent``, ``--resend``), by the
    outbox's own ``settle``, each count said."""
    if sent:
        console.print(f"marked sent {settle(CLI_PRINCIPAL, sent, taken=True)}")
    if resend:
        console.print(f"released for resending {settle(CLI_PRINCIPAL, resend, taken=False)}")


def exit_code_for(exc: HesuanError) -> int:
    return next((code for cls, code in EXIT_CODES if isinstance(exc, cls)), 1)


def failed(exc: HesuanError) -> typer.Exit:
    """Print the error — one line ``error [code] field: message``, one per field of an
    ``InvalidFields`` — and return the exit that ends the command."""
    for one in exc.errors if isinstance(exc, InvalidFields) else (exc,):
        # escaped: Rich would take "[code]" and brackets in a message for markup
        console.print(f"[red]error[/red] {escape(f'[{one.code}]')} {escape(described(one))}",
                      soft_wrap=True)
    return typer.Exit(exit_code_for(exc))


def described(exc: HesuanError) -> str:
    """The message, led by the field it concerns; a message already names its field first
    (``code: the sampling code is …``) and is not led by it twice."""
    if not exc.field or exc.message.startswith((f"{exc.field}:", f"{exc.field} ")):
        return exc.message
    return f"{exc.field}: {exc.message}"


def environment_settings() -> Settings:
    """The settings from the environment (``HESUAN_*``); invalid ones end the command with one
    line per setting (``InvalidInput``, code ``invalid_setting``, exit 2), not a traceback."""
    from hesuan.config import settings_from_environment

    try:
        return settings_from_environment()
    except InvalidFields as exc:
        raise failed(exc) from None


@contextmanager
def opened(*, migrate: bool = False, settings: Settings | None = None,
           **kwargs: Any) -> Iterator[Platform]:
    """The platform for one command (``settings`` default: from the environment), closed at
    the end; an error of the hierarchy ends the command with its exit code. ``migrate``: bring
    the schema to the newest first; otherwise the database must already be there (exit 8,
    ``schema_behind``, and nothing touched). ``kwargs`` go to ``bootstrap``."""
    from hesuan.bootstrap import bootstrap

    settings = settings or environment_settings()
    try:
        if not migrate:
            from hesuan.adapters.db.migrate import require_current

            require_current(settings.database_url)
        p = bootstrap(settings, migrate=migrate, **kwargs)
    except HesuanError as exc:
        raise failed(exc) from None
    try:
        yield p
    except HesuanError as exc:
        raise failed(exc) from None
    finally:
        p.close()


def report_file(path: Path) -> TextIO:
    """A per-row report, opened for writing before anything is imported (a path that cannot be
    written stops the import first: ``cannot_write``), readable by its writer alone: it names
    rows of people's data."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a report there before keeps no wider mode
        return os.fdopen(fd, "w", newline="", encoding="utf-8")
    except OSError as exc:
        raise failed(InvalidInput(f"report: cannot write {path}: {exc.strerror}",
                                  code="cannot_write", field="report")) from None


@contextmanager
def working(description: str) -> Iterator[None]:
    """A spinner and the time elapsed on stderr while a long step runs (a report's queries, a
    sweep): stdout keeps only the data, so ``--json`` output stays clean."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task(description, total=None)
        yield
        bar.update(task, description=f"{description}: done", total=1, completed=1)


def say_read_from(p: Platform) -> None:
    """One line on stderr: the database a report that may be stale read (``primary`` or
    ``replica``) and, from the replica, how far behind the primary it is — what the API says
    in ``Hesuan-Read-From`` and ``Hesuan-Read-Age`` (docs/DEPLOY.md)."""
    reads = p.reads
    if reads.source == "replica":
        console.print(f"read from the replica, {reads.age_s():.3g} s behind the primary",
                      soft_wrap=True, highlight=False)
    else:
        console.print(f"read from the {reads.source}", soft_wrap=True, highlight=False)


def progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def print_json(data: Any) -> None:
    """``data`` as JSON on stdout: a dataclass as an object of its fields; an instant as ISO
    8601 UTC (``...Z``), as every report writes its times (docs/REPORTS.md); a date as ISO 8601;
    anything else JSON has no type for as its text."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_json_value) + "\n")


def _json_value(value: Any) -> Any:
    from hesuan.domain.instants import iso_utc

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    return str(value)


def iso_duration(span: timedelta) -> str:
    """A time span as an ISO 8601 duration, as the API writes one: ``P3D``, ``PT12H30M``,
    ``PT1.5S``, ``-PT5M``, ``PT0S``."""
    micro = abs(span) // timedelta(microseconds=1)
    days, rest = divmod(micro, 86_400_000_000)
    hours, rest = divmod(rest, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds = f"{rest / 1_000_000:f}".rstrip("0").rstrip(".") if rest else ""
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    time += f"{seconds}S" if seconds else ""
    text = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return ("-" if span < timedelta(0) else "") + (text if text != "P" else "PT0S")


def parse_time(value: str | None, option: str, example: str) -> datetime | None:
    """An ISO 8601 option value as an aware instant (local time, Asia/Shanghai, when it names
    no offset: as the web's forms read a typed time), or a usage error naming the option."""
    from hesuan.domain.instants import check_instant
    from hesuan.domain.local_time import as_local

    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} must be an ISO 8601 time{example}") from None
    try:
        return check_instant(as_local(t) if t.tzinfo is None else t, option)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message) from None
