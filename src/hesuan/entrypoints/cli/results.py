"""``hesuan results import``: a lab's results file, or a message from the lab's own system (HL7 v2
``.hl7``, a FHIR Bundle ``.json``/``.fhir``) kept and applied as if it came over the wire.

Imports: Typer, ``hesuan.domain``, ``hesuan.entrypoints.cli.common``; at call time
``hesuan.entrypoints.tables`` and ``hesuan.services`` (the lab-message types).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from hesuan.entrypoints.cli.common import CLI_PRINCIPAL, console, opened, progress, report_file

__all__ = ["register"]

_Row = TypeVar("_Row")

results_app = typer.Typer(help="Lab results (检).", no_args_is_help=True)


@results_app.command("import")
def results_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="CSV or .xlsx; .hl7; .json or .fhir")],
    lab: Annotated[str, typer.Option(help="the lab's id")],
    report: Annotated[Path | None, typer.Option(help="where to write per-row problems")] = None,
) -> None:
    """Record a lab's results file, or a message from the lab's own system.

    A results file (CSV or .xlsx) has the columns barcode, result and optionally ct_ORF1ab,
    ct_N, ct_E, correction_reason. A message is HL7 v2 ORU^R01 (.hl7: one message or a batch)
    or a FHIR R4 Bundle (.json, .fhir), each acknowledged as over the wire."""
    if file.suffix.lower() in (".hl7", ".json", ".fhir"):
        _import_message(file, lab)
        return
    from hesuan.domain.spreadsheets import as_text_row
    from hesuan.entrypoints.tables import count_rows, read_table
    from hesuan.services.lab import RESULT_COLUMNS

    report = report or file.with_name(file.stem + ".problems.csv")
    with opened() as p:
        # a file that cannot be decoded, or whose header is not a results file's, stops here,
        # recording nothing; so does a report that cannot be written
        rows = read_table(file, RESULT_COLUMNS)
        with report_file(report) as fh:
            with progress() as bar:
                task = bar.add_task(f"recording {file.name}", total=count_rows(file))
                problems, total = p.lab.import_rows(CLI_PRINCIPAL, lab, _counted(
                    rows, lambda n: bar.update(task, completed=n)))
            w = csv.writer(fh)
            w.writerow(["row", "barcode", "status", "reason", "message"])
            for o in problems:
                w.writerow(as_text_row([o.row, o.barcode, o.status, o.reason or "",
                                        o.message or ""]))
        bad = sum(1 for o in problems if o.status == "rejected")
        console.print(f"rows {total}: rejected {bad}, other notes {len(problems) - bad} "
                      f"(see {report})")


def _counted(rows: Iterable[_Row], seen: Callable[[int], None],
             every: int = 1000) -> Iterator[_Row]:
    """The rows, telling ``seen`` how many were read (every ``every`` rows and at the end)."""
    n = 0
    for n, row in enumerate(rows, start=1):
        yield row
        if n % every == 0:
            seen(n)
    seen(n)


def _import_message(file: Path, lab: str) -> None:
    from hesuan.services.interop_ports import LabMessageFormat
    from hesuan.services.lab_messages_ports import MessageVia

    fmt = LabMessageFormat.HL7V2 if file.suffix.lower() == ".hl7" else LabMessageFormat.FHIR
    with opened() as p:
        receipt = p.lab_messages.receive(CLI_PRINCIPAL, lab, file.read_bytes(), fmt,
                                         MessageVia.FILE)
    for m in receipt.messages:
        again = " (a resend: nothing changed)" if m.resend else ""
        console.print(f"message {m.control_id}: {m.ack_code} {m.state.value}{again} "
                      f"[id {m.message_id}]", markup=False)
    if receipt.code == "AR":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(results_app, name="results")
