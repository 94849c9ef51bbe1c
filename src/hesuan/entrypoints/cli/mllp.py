"""``hesuan mllp``: the MLLP listener alone — a lab's system sends HL7 v2 results over TCP and
gets an ACK per message (docs/INTEROP.md "MLLP"). ``hesuan serve`` starts the same listener
when ``HESUAN_MLLP_PORT`` is set.

Imports: Typer, ``hesuan.entrypoints.cli.common``; at call time ``hesuan.config`` and
``hesuan.entrypoints.mllp``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer

from hesuan.entrypoints.cli.common import console, environment_settings, failed, opened

__all__ = ["register"]


def mllp(host: Annotated[str | None, typer.Option(help="default HESUAN_MLLP_HOST, 127.0.0.1")
                         ] = None,
         port: Annotated[int | None, typer.Option(min=1, max=65535,
                                                  help="default HESUAN_MLLP_PORT")] = None,
         lab: Annotated[str | None, typer.Option(
             help="the lab whose system sends (default HESUAN_MLLP_LAB)")] = None,
         ) -> None:
    """Listen for a lab's system over MLLP (HL7 v2 results); Ctrl-C stops.

    Each ORU^R01 is received as the lab's own (kept, applied, its inbox otherwise) and
    answered its ACK."""
    from hesuan.domain.errors import InvalidInput
    from hesuan.entrypoints.mllp import MllpListener

    settings = environment_settings()
    port = port or settings.mllp_port
    lab = lab or settings.mllp_lab
    if port is None or not lab:
        raise failed(InvalidInput("an MLLP listener needs a port and a lab: --port and --lab, "
                                  "or HESUAN_MLLP_PORT and HESUAN_MLLP_LAB",
                                  code="mllp_unset", field="port" if port is None else "lab"))
    with opened(settings=settings) as p:
        listener = MllpListener(p, lab, host or settings.mllp_host, port)

        def ready() -> None:
            console.print("MLLP listening on {}:{} for lab {}".format(*listener.address, lab),
                          markup=False)

        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop listening
            asyncio.run(listener.serve(ready))


def register(app: typer.Typer) -> None:
    app.command("mllp")(mllp)
