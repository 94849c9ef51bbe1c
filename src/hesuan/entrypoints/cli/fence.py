"""``hesuan fence …``: the places that scan — venues (场所码) and checkpoints (交通卡口) — and the
fence alerts from their scans (old scans expire with ``hesuan retention run``).

Imports: Typer, ``hesuan.services.fence``, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hesuan.entrypoints.cli.common import CLI_PRINCIPAL, console, opened, print_json
from hesuan.services.fence import CheckpointKind

__all__ = ["register"]

fence_app = typer.Typer(help="Venues and checkpoints, and the fence alerts from their scans.",
                        no_args_is_help=True)


@fence_app.command("venues")
def fence_venues() -> None:
    """The venues by name, JSON on stdout (an id is its device account's scope)."""
    with opened() as p:
        print_json(p.venues.venues(CLI_PRINCIPAL))


@fence_app.command("add-venue")
def fence_add_venue(
        code: str, name: str,
        region: Annotated[str, typer.Option(help="the region code it lies in")]) -> None:
    """Register a venue (场所码: a shop, a restaurant, a cinema) and print its id.

    Its door's device signs in as a user of the role venue whose scope is that id:
    hesuan users create NAME --role venue --scope ID."""
    with opened() as p:
        vid = p.venues.register(CLI_PRINCIPAL, code, name, region)
        console.print(f"registered venue {code.strip().upper()} id={vid}")


@fence_app.command("checkpoints")
def fence_checkpoints() -> None:
    """The checkpoints by code, JSON on stdout (an id is its device account's scope)."""
    with opened() as p:
        print_json(p.fence.checkpoints(CLI_PRINCIPAL))


@fence_app.command("add-checkpoint")
def fence_add_checkpoint(
        code: str, name: str,
        kind: Annotated[CheckpointKind, typer.Option(help="station, airport, highway or "
                                                          "compound_gate")],
        region: Annotated[str, typer.Option(help="the region code it lies in")]) -> None:
    """Register a checkpoint (交通卡口) and print its id.

    Its scanning device signs in as a user of the role venue whose scope is that id:
    hesuan users create NAME --role venue --scope ID."""
    with opened() as p:
        cid = p.fence.add_checkpoint(CLI_PRINCIPAL, code, name, kind, region)
        console.print(f"registered checkpoint {code.strip().upper()} id={cid}")


@fence_app.command("alerts")
def fence_alerts(region: Annotated[str | None, typer.Option()] = None,
                 closed: Annotated[bool, typer.Option("--closed")] = False) -> None:
    """Open (or closed) fence alerts, JSON on stdout."""
    with opened() as p:
        print_json(p.fence.alerts(CLI_PRINCIPAL, region=region, statuses=(
            ["closed"] if closed else ["open", "acknowledged"])))


def register(app: typer.Typer) -> None:
    app.add_typer(fence_app, name="fence")
