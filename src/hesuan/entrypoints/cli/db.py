"""``hesuan db …``: the database's schema.

Imports: Typer, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

import typer

from hesuan.entrypoints.cli.common import console, opened

__all__ = ["register"]

db_app = typer.Typer(help="Database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema (Alembic) to the newest version."""
    with opened(migrate=True):
        console.print("database is at the newest schema")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
