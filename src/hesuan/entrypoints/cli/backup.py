"""``hesuan backup …``: an online copy of the database, and its restore into a new one
(docs/DEPLOY.md "Backups").

Both are the backup service's, built alone (``bootstrap.backups``): a copy is taken of a
database at any schema, and a restore needs no database at ``HESUAN_DATABASE_URL``.

Imports: Typer, ``hesuan.entrypoints.cli.common``; at call time ``hesuan.bootstrap``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hesuan.domain.errors import HesuanError
from hesuan.entrypoints.cli.common import (
    CLI_PRINCIPAL,
    EXIT_NOT_VALID,
    JsonOpt,
    console,
    environment_settings,
    failed,
    print_json,
)

__all__ = ["register"]

backup_app = typer.Typer(help="Backups: an online copy of the database, and its restore.",
                         no_args_is_help=True)


@backup_app.command("create")
def backup_create(
        dest: Annotated[Path, typer.Argument(help="the copy, a new file")],
        as_json: JsonOpt = False) -> None:
    """Copy the database (HESUAN_DATABASE_URL) while it serves.

    SQLite by its online backup API, PostgreSQL by pg_dump in one snapshot. Beside the copy,
    DEST.manifest.json: the schema revision, the time and the rows of every table. Audited
    (the file's name, size and counts)."""
    from hesuan.bootstrap import backups

    try:
        manifest = backups(environment_settings()).create(CLI_PRINCIPAL, dest)
    except HesuanError as exc:
        raise failed(exc) from None
    if as_json:
        print_json(manifest)
    console.print(f"backup written to {dest}: {sum(manifest.tables.values())} rows in "
                  f"{len(manifest.tables)} tables, schema {manifest.revision}")


@backup_app.command("restore")
def backup_restore(
        copy: Annotated[Path, typer.Argument(help="a copy made by `hesuan backup create`")],
        to: Annotated[str, typer.Option(
            "--to", help="the new database: an SQLite URL whose file does not exist yet, or "
                         "an empty PostgreSQL database (createdb first)")],
        as_json: JsonOpt = False) -> None:
    """Restore a copy into a new database and check its rows against the copy's manifest.

    Exit 1 when they differ. The restore is audited in the new database. Then check its audit
    chain: HESUAN_DATABASE_URL=<new> hesuan audit verify."""
    from hesuan.bootstrap import backups

    try:
        report = backups(environment_settings()).restore(CLI_PRINCIPAL, copy, to)
    except HesuanError as exc:
        raise failed(exc) from None
    if as_json:
        print_json(report.as_dict())
    if report.matches:
        console.print(f"restored into {report.target}: {sum(report.tables.values())} rows in "
                      f"{len(report.tables)} tables, as the manifest says")
        return
    for table, d in report.differences.items():
        console.print(f"[red]{table}[/red]: {d['restored']} rows restored, the manifest says "
                      f"{d['manifest']}")
    raise typer.Exit(EXIT_NOT_VALID)


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")
