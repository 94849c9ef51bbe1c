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
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import (
    HesuanError,
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
    "JsonOpt",
    "console",
    "exit_code_for",
    "failed",
    "opened",
    "parse_time",
    "print_json",
    "progress",
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


def exit_code_for(exc: HesuanError) -> int:
    return next((code for cls, code in EXIT_CODES if isinstance(exc, cls)), 1)


def failed(exc: HesuanError) -> typer.Exit:
    """Print the error (code, field, message) and return the exit that ends the command."""
    # escaped: Rich would take "[code]" and brackets in a message for markup
    console.print(f"[red]error[/red] {escape(f'[{exc.code}]')}"
                  f"{' ' + escape(exc.field) + ':' if exc.field else ''} "
                  f"{escape(exc.message)}")
    return typer.Exit(exit_code_for(exc))


@contextmanager
def opened(*, migrate: bool = False, settings: Settings | None = None,
           **kwargs: Any) -> Iterator[Platform]:
    """The platform for one command (``settings`` default: from the environment), closed at
    the end; an error of the hierarchy ends the command with its exit code. ``migrate``: bring
    the schema to the newest first; otherwise the database must already be there (exit 8,
    ``schema_behind``, and nothing touched). ``kwargs`` go to ``bootstrap``."""
    from hesuan.bootstrap import bootstrap
    from hesuan.config import Settings

    try:
        settings = settings or Settings()
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


def progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def parse_time(value: str | None, option: str, example: str) -> datetime | None:
    """An ISO 8601 option value as an aware instant (UTC when it names no zone), or a usage
    error naming the option."""
    from hesuan.domain.instants import check_instant

    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} must be an ISO 8601 time{example}") from None
    try:
        return check_instant(t.replace(tzinfo=UTC) if t.tzinfo is None else t, option)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message) from None
