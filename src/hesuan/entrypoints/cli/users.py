"""``hesuan users …``: users and their roles.

Imports: Typer, ``hesuan.domain``, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hesuan.domain.access import Role
from hesuan.entrypoints.cli.common import CLI_PRINCIPAL, console, opened

__all__ = ["register"]

users_app = typer.Typer(help="Users and roles.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    username: str,
    role: Annotated[Role, typer.Option(help="role of the user")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    scope: Annotated[str | None, typer.Option(help="site, lab, region, grid or person id")] = None,
) -> None:
    """Create a user with a role and scope."""
    with opened() as p:
        uid = p.auth.create_user(CLI_PRINCIPAL, username, password, role, scope)
        console.print(f"created user {username} ({role}) id={uid}")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
