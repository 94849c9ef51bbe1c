"""``hesuan fence …``: fence alerts from venue and checkpoint scans (old scans expire with
``hesuan retention run``).

Imports: Typer, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hesuan.entrypoints.cli.common import CLI_PRINCIPAL, opened, print_json

__all__ = ["register"]

fence_app = typer.Typer(help="Fence alerts from venue and checkpoint scans.",
                        no_args_is_help=True)


@fence_app.command("alerts")
def fence_alerts(region: Annotated[str | None, typer.Option()] = None,
                 closed: Annotated[bool, typer.Option("--closed")] = False) -> None:
    """Open (or closed) fence alerts, JSON on stdout."""
    with opened() as p:
        print_json(p.fence.alerts(CLI_PRINCIPAL, region=region, statuses=(
            ["closed"] if closed else ["open", "acknowledged"])))


def register(app: typer.Typer) -> None:
    app.add_typer(fence_app, name="fence")
