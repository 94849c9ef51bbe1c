"""``hesuan alerts``: raise the alerts for late boxes and late results.

Imports: Typer, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

import typer

from hesuan.entrypoints.cli.common import CLI_PRINCIPAL, console, opened

__all__ = ["register"]


def alerts_check() -> None:
    """Raise alerts for late boxes and late results; print the open ones."""
    with opened() as p:
        raised = p.alerts.check(CLI_PRINCIPAL)
        open_alerts = p.alerts.list(CLI_PRINCIPAL)
    console.print(f"raised {raised}; open {len(open_alerts)}")


def register(app: typer.Typer) -> None:
    app.command("alerts")(alerts_check)
