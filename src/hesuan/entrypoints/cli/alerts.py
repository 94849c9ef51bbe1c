"""``hesuan alerts``: raise the alerts for late boxes and late results, and list the open ones
(a table, or JSON on stdout with ``--json``).

Imports: Typer, Rich, ``hesuan.domain``, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hesuan.entrypoints.cli.common import (
    CLI_PRINCIPAL,
    JsonOpt,
    console,
    opened,
    print_json,
    working,
)

__all__ = ["register"]

#: The detail key that names what an alert is about, by preference.
SUBJECT_KEYS = ("box_code", "barcode", "code")


def alerts_check(
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option(help="open alerts listed at most, newest first",
                                       min=1)] = 200,
) -> None:
    """Raise alerts for late boxes and late results; list the open ones.

    A table of the open alerts (newest first: when raised, local time; the kind; the box or
    tube; the details), or JSON on stdout with --json. How many were raised now and how many
    are open go to stderr."""
    from hesuan.domain.local_time import short

    with opened() as p, working("checking for late boxes and results"):
        raised = p.alerts.check(CLI_PRINCIPAL)
        open_alerts = p.alerts.list(CLI_PRINCIPAL, open_only=True, limit=limit)
    console.print(f"raised {raised}; open {len(open_alerts)}")
    if as_json:
        print_json([asdict(a) for a in open_alerts])
        return
    if not open_alerts:
        return
    table = Table(title="open alerts (times: Asia/Shanghai)")
    for column in ("raised", "kind", "box or tube", "details"):
        table.add_column(column)
    for a in open_alerts:
        subject = next((str(a.detail[k]) for k in SUBJECT_KEYS if a.detail.get(k)),
                       a.subject_id)
        details = ", ".join(f"{k.replace('_', ' ')} {_shown(k, v)}"
                            for k, v in a.detail.items()
                            if k not in SUBJECT_KEYS and v is not None)
        table.add_row(short(a.raised_at), a.kind, escape(subject), escape(details))
    Console(soft_wrap=False).print(table)


def _shown(key: str, value: object) -> str:
    """A detail's value as a person reads it: a time (``…_at``, ISO 8601) in local time."""
    from datetime import datetime

    from hesuan.domain.local_time import short

    if key.endswith("_at") and isinstance(value, str):
        try:
            return short(datetime.fromisoformat(value))
        except ValueError:
            pass
    return str(value)


def register(app: typer.Typer) -> None:
    app.command("alerts")(alerts_check)
