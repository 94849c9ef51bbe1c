"""``hesuan audit …``: verify the keyed, hash-chained audit log and sign checkpoints of it.

Imports: Typer, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hesuan.entrypoints.cli.common import (
    CLI_PRINCIPAL,
    EXIT_NOT_VALID,
    JsonOpt,
    console,
    opened,
    print_json,
    working,
)

__all__ = ["register"]

audit_app = typer.Typer(help="The keyed, hash-chained audit log and its checkpoints.",
                        no_args_is_help=True)

_AUDIT_VERDICT = {
    "truncated": "the log ends before its latest checkpoint: entries were deleted",
    "rewritten": "the entry at the latest checkpoint is not the one it signed: the log was "
                 "rebuilt",
    "forged_checkpoint": "a checkpoint is unsigned, unreadable or signed with another key",
}


@audit_app.command("verify")
def audit_verify(
    as_json: JsonOpt = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="exit 1 also when entries follow a checkpoint more than an hour old, "
                         "or none was ever signed (what a monitoring timer runs)")] = False,
) -> None:
    """Check the audit chain and its latest signed checkpoint; exit 1 unless intact.

    The chain is checked with its key from the first entry to the last, and against the
    latest signed checkpoint."""
    with opened() as p, working("checking the audit chain"):
        report = p.audit.verify(CLI_PRINCIPAL)
        now = p.deps.clock.now()
    if as_json:
        print_json(report.as_dict())
    cp = report.checkpoint
    anchor = (f"checkpoint at entry {cp.seq} ({cp.at})" if cp is not None
              else "no checkpoint yet: deletion of the last entries cannot be seen")
    if report.intact:
        console.print(f"audit chain intact: {report.entries} entries; {anchor}")
        if report.anchor_overdue(now):
            if cp is not None:
                console.print("[yellow]the entries after it are not anchored[/yellow]: the "
                              "scheduler (hesuan serve) signs a checkpoint every few minutes; "
                              "it is not running, or cannot write to "
                              "HESUAN_AUDIT_CHECKPOINT_DIR (its log says why)")
            if strict:
                raise typer.Exit(EXIT_NOT_VALID)
        return
    if report.first_broken_seq is not None:
        console.print(f"[red]audit chain broken at entry {report.first_broken_seq}[/red] "
                      f"({report.entries} entries verified)")
    if report.verdict in _AUDIT_VERDICT:
        console.print(f"[red]audit log {report.verdict}[/red]: {_AUDIT_VERDICT[report.verdict]}"
                      f" (log ends at entry {report.head_seq}; {anchor})")
    for name in report.bad_checkpoints:
        console.print(f"[red]bad checkpoint[/red] {name}")
    raise typer.Exit(EXIT_NOT_VALID)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the audit chain's head and write it to HESUAN_AUDIT_CHECKPOINT_DIR.

    Only a chain that holds since the latest checkpoint is signed."""
    with opened() as p:
        cp = p.audit.checkpoint(CLI_PRINCIPAL)
        where = p.settings.audit_checkpoint_dir
    if cp is None:
        console.print("nothing to checkpoint: the log is empty or its head is already signed")
    else:
        console.print(f"audit checkpoint at entry {cp.seq} written to {where}")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
