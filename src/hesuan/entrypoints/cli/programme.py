"""``hesuan programme …``: the end of the programme (docs/RETENTION.md). One health officer of
the city asks (``close request``), a different one approves (``close approve``): the final
aggregates are exported, every row of personal data and the pass keys are destroyed, and a
signed destruction certificate is written to ``HESUAN_PROGRAMME_DIR``. Each officer signs in
with their own password (prompted, or ``HESUAN_OFFICER_PASSWORD``).

Imports: Typer, ``hesuan.entrypoints.cli.common``; at call time ``hesuan.domain``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from hesuan.entrypoints.cli.common import CLI_PRINCIPAL, console, opened, print_json, working

if TYPE_CHECKING:
    from hesuan.bootstrap import Platform
    from hesuan.domain.access import Principal

__all__ = ["register"]

programme_app = typer.Typer(help="The end of the programme: close it, by two health officers.",
                            no_args_is_help=True)
close_app = typer.Typer(help="Close the programme: asked by one health officer, approved by "
                             "another; destroys all personal data.", no_args_is_help=True)

Officer = Annotated[str, typer.Option("--officer", help="the health officer's user name")]
Password = Annotated[str, typer.Option(prompt=True, hide_input=True,
                                       envvar="HESUAN_OFFICER_PASSWORD",
                                       help="the officer's password")]


@contextmanager
def _as_officer(officer: str, password: str) -> Iterator[tuple[Platform, Principal]]:
    with opened() as p:
        token = p.auth.login(officer, password)
        try:
            yield p, p.auth.authenticate(token)
        finally:  # the officer's session ends with the command (a close has ended it already)
            p.auth.logout(token)


@close_app.command("request")
def request(officer: Officer, password: Password,
            reason: Annotated[str, typer.Option(help="why the programme ends")]) -> None:
    """First officer: ask to close the programme; prints the request's id."""
    with _as_officer(officer, password) as (p, me):
        cid = p.programme.request_close(me, reason)
    console.print("asked; a different health officer approves with "
                  f"`hesuan programme close approve {cid} --officer NAME`")
    print(cid)


@close_app.command("approve")
def approve(closure_id: str, officer: Officer, password: Password) -> None:
    """Second officer: close the programme now; prints the destruction certificate."""
    with (_as_officer(officer, password) as (p, me),
          working("closing: aggregates, destruction, certificate")):
        closed = p.programme.approve_close(me, closure_id)
        folder = p.settings.programme_dir
    console.print(f"closed: final aggregates {folder / closed.aggregates_file}, signed "
                  f"certificate {folder / closed.certificate_file}")
    print_json(closed.document)


@close_app.command("reject")
def reject(closure_id: str, officer: Officer, password: Password) -> None:
    """Second officer: decline the close; nothing is destroyed."""
    with _as_officer(officer, password) as (p, me):
        p.programme.reject_close(me, closure_id)
    console.print("declined")


@programme_app.command("closes")
def closes() -> None:
    """Requests to close the programme and their decisions (JSON on stdout)."""
    with opened() as p:
        print_json([asdict(c) for c in p.programme.closures(CLI_PRINCIPAL)])


def register(app: typer.Typer) -> None:
    programme_app.add_typer(close_app, name="close")
    app.add_typer(programme_app, name="programme")
