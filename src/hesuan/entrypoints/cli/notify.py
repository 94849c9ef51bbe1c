"""``hesuan notify``: deliver the outbox's messages, and settle the ones in doubt
(docs/SMS.md).

Imports: Typer, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

import typer

from hesuan.entrypoints.cli.common import (
    CLI_PRINCIPAL,
    InDoubtOpt,
    ResendOpt,
    SentOpt,
    console,
    opened,
    print_json,
    settle_in_doubt,
    working,
)

__all__ = ["register"]


def notify(limit: int = 1000, in_doubt: InDoubtOpt = False, sent: SentOpt = None,
           resend: ResendOpt = None) -> None:
    """Deliver pending notifications from the outbox through the configured sender."""
    with opened() as p:
        if in_doubt or sent or resend:
            settle_in_doubt(p.outbox.settle, sent, resend)
            if in_doubt:
                print_json([{"id": m.id, "person_id": m.person_id, "template": m.template,
                             "claimed_at": m.claimed_at, "attempts": m.attempts,
                             "last_error": m.last_error}
                            for m in p.outbox.in_doubt(CLI_PRINCIPAL, limit)])
            return
        with working("delivering notifications"):
            r = p.outbox.deliver(CLI_PRINCIPAL, limit)
    console.print(f"sent {r.sent}, failed {r.failed}, closed unsent {r.closed}, "
                  f"in doubt {r.in_doubt}")


def register(app: typer.Typer) -> None:
    app.command("notify")(notify)
