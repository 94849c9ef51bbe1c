"""``hesuan sweep``, ``hesuan policy …`` and ``hesuan status …``: testing cadence policies and
the status codes they decide.

Imports: Typer, ``hesuan.domain``, ``hesuan.entrypoints.cli.common``; at call time
``hesuan.services``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

import typer

from hesuan.domain.cadence import OverdueAction, ScopeKind
from hesuan.entrypoints.cli.common import CLI_PRINCIPAL, console, opened, print_json, working

__all__ = ["register"]

policy_app = typer.Typer(help="Testing cadence policies (检测频次).", no_args_is_help=True)
status_app = typer.Typer(help="Status codes.", no_args_is_help=True)


def sweep(limit: int = 200_000) -> None:
    """Reminders for people due soon, 未检 for the overdue."""
    with opened() as p, working("sweeping: reminders, overdue statuses"):
        r = p.status.sweep(CLI_PRINCIPAL, limit)
    console.print(f"reminders {r.reminders}, statuses decided {r.recomputed}"
                  + (" (skipped: another sweep is running)" if r.skipped else ""))


@policy_app.command("list")
def policy_list() -> None:
    with opened() as p:
        print_json([asdict(x) for x in p.status.policies(CLI_PRINCIPAL)])


@policy_app.command("seed")
def policy_seed() -> None:
    """Seed the default policies and status rules (once)."""
    with opened() as p:
        n = p.status.seed_defaults(CLI_PRINCIPAL)
    console.print(f"seeded {n} policies")


@policy_app.command("set")
def policy_set(
    scope: Annotated[str, typer.Argument(help="region code or group name")],
    interval_hours: Annotated[float, typer.Option(help="e.g. 72 for 3日1次")],
    kind: Annotated[ScopeKind, typer.Option(help="region or group")] = ScopeKind.REGION,
    grace_hours: float = 24,
    reminder_lead_hours: float = 12,
    overdue_action: OverdueAction = OverdueAction.YELLOW,
    policy_id: Annotated[str | None, typer.Option(help="new version of this policy")] = None,
) -> None:
    """Create a policy or a new version of one; due times are recomputed in bulk."""
    from hesuan.services.status import PolicyInput

    with opened() as p:
        pol = p.status.set_policy(CLI_PRINCIPAL, PolicyInput(
            kind, scope, timedelta(hours=interval_hours), timedelta(hours=grace_hours),
            timedelta(hours=reminder_lead_hours), overdue_action, id=policy_id))
    console.print(f"policy {pol.id} v{pol.version}: {pol.label}")


@status_app.command("recompute")
def status_recompute() -> None:
    """Decide every person's status afresh."""
    with opened() as p:
        n = p.status.recompute_all(CLI_PRINCIPAL)
    console.print(f"decided {n} statuses")


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
    app.add_typer(status_app, name="status")
    app.command("sweep")(sweep)
