"""The root ``hesuan`` command: it only registers the command groups, each a module of this
package that imports the shared leaf (``common``) and never this module.

Imports: Typer, the command-group modules of ``hesuan.entrypoints.cli``.
"""

from __future__ import annotations

import typer

from hesuan.entrypoints.cli import (
    alerts,
    audit,
    backup,
    city,
    db,
    elr,
    fence,
    keys,
    mllp,
    notify,
    passes,
    people,
    programme,
    reports,
    results,
    retention,
    rosters,
    serve,
    simulate,
    status,
    users,
    zones,
)

__all__ = ["app", "main"]

app = typer.Typer(help="Hesuan (核酸): routine PCR mass testing, sample → deliver → test → report.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

# the order of --help: commands in this order, then groups in this order
for group in (alerts, notify, elr, people, results, reports, db, users, audit, serve, passes,
              status, city, simulate, zones, rosters, fence, mllp, backup, keys, retention,
              programme):
    group.register(app)


def main() -> None:
    app()
