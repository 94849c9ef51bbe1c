"""``hesuan retention …``: history that expires (docs/RETENTION.md) — a retention pass now, and
the daily aggregates that remain of forgotten samples.

Imports: Typer, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Annotated

import typer

from hesuan.entrypoints.cli.common import (
    CLI_PRINCIPAL,
    JsonOpt,
    console,
    opened,
    print_json,
    working,
)

__all__ = ["register"]

retention_app = typer.Typer(help="History that expires: retention passes and daily aggregates.",
                            no_args_is_help=True)


@retention_app.command("run")
def run(as_json: JsonOpt = False) -> None:
    """Forget each kind of personal data whose retention period has passed.

    The scheduler inside hesuan serve does it once an hour; prints the counts of what was
    forgotten."""
    with opened() as p, working("forgetting what has expired"):
        report = p.retention.run(CLI_PRINCIPAL)
    if as_json:
        print_json(report.counts())
        return
    console.print(", ".join(f"{k.replace('_', ' ')} {n}" for k, n in report.counts().items()))


@retention_app.command("periods")
def periods() -> None:
    """How long each kind of personal data is kept, in days (JSON).

    The periods are the settings HESUAN_RETENTION_* and HESUAN_VENUE_RETENTION."""
    with opened() as p:
        r = p.retention.periods
    print_json({f.name: getattr(r, f.name).total_seconds() / 86400 for f in fields(r)})


@retention_app.command("aggregates")
def aggregates(since: Annotated[str | None, typer.Option(
        help="first local day, YYYY-MM-DD")] = None) -> None:
    """The daily aggregates per local day and district (JSON on stdout)."""
    with opened() as p:
        print_json([asdict(a) for a in p.retention.aggregates(CLI_PRINCIPAL, since)])


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
