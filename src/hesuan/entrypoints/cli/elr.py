"""``hesuan elr``: deliver the electronic lab reports queued for public health, and settle the
ones in doubt by the receiver's own record (docs/INTEROP.md "Out").

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
    failed,
    opened,
    print_json,
    settle_in_doubt,
    working,
)

__all__ = ["register"]


def elr(limit: int = 500, in_doubt: InDoubtOpt = False, sent: SentOpt = None,
        resend: ResendOpt = None) -> None:
    """Deliver the queued electronic lab reports through the configured route.

    The ids of those in doubt are their message ids (MSH-10, the Bundle's identifier)."""
    from hesuan.domain.errors import InvalidInput

    with opened() as p:
        service = p.elr
        if service is None:
            raise failed(InvalidInput("electronic lab reports are off (HESUAN_ELR_ENABLED)",
                                      code="elr_off", field="HESUAN_ELR_ENABLED"))
        if in_doubt or sent or resend:
            settle_in_doubt(service.settle, sent, resend)
            if in_doubt:
                print_json([{"message_id": q.key.message_id, "format": q.key.format,
                             "tube_id": q.tube_id, "claimed_at": q.claimed_at,
                             "attempts": q.attempts, "last_error": q.last_error}
                            for q in service.in_doubt(CLI_PRINCIPAL, limit)])
            return
        with working("delivering electronic lab reports"):
            r = service.deliver(CLI_PRINCIPAL, limit)
    console.print(f"sent {r.sent}, failed {r.failed}, in doubt {r.in_doubt}, "
                  f"closed unsent {r.closed}")


def register(app: typer.Typer) -> None:
    app.command("elr")(elr)
