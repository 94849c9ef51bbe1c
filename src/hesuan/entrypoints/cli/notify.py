"""``hesuan notify``: deliver the outbox's messages, and settle the ones in doubt
(docs/SMS.md).

Imports: Typer, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hesuan.entrypoints.cli.common import CLI_PRINCIPAL, console, opened, print_json, working

__all__ = ["register"]


def notify(limit: int = 1000,
           in_doubt: Annotated[bool, typer.Option(
               "--in-doubt", help="List the messages in doubt (claimed, never confirmed; "
               "docs/SMS.md) and send nothing.")] = False,
           sent: Annotated[list[str] | None, typer.Option(
               "--sent", metavar="ID", help="Operator's decision: the gateway took this "
               "message in doubt; mark it sent (repeatable).")] = None,
           resend: Annotated[list[str] | None, typer.Option(
               "--resend", metavar="ID", help="Operator's decision: the gateway never took "
               "this message in doubt; send it again (repeatable).")] = None) -> None:
    """Deliver pending notifications from the outbox through the configured sender."""
    with opened() as p:
        if in_doubt or sent or resend:
            if sent:
                console.print(f"marked sent {p.outbox.settle(CLI_PRINCIPAL, sent, taken=True)}")
            if resend:
                n = p.outbox.settle(CLI_PRINCIPAL, resend, taken=False)
                console.print(f"released for resending {n}")
            if in_doubt:
                print_json([{"id": m.id, "person_id": m.person_id, "template": m.template,
                             "claimed_at": m.claimed_at, "attempts": m.attempts,
                             "last_error": m.last_error}
                            for m in p.outbox.in_doubt(CLI_PRINCIPAL, limit)])
            return
        with working("delivering notifications"):
            r = p.outbox.deliver(CLI_PRINCIPAL, limit)
    console.print(f"sent {r.sent}, failed {r.failed}, no mobile {r.no_mobile}, "
                  f"in doubt {r.in_doubt}")


def register(app: typer.Typer) -> None:
    app.command("notify")(notify)
