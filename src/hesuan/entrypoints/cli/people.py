"""``hesuan people import`` (a population from CSV or Excel) and ``hesuan verify-code`` (a
sampling-code token to the person it stands for).

Imports: Typer, ``hesuan.domain``, ``hesuan.entrypoints.cli.common``; at call time
``hesuan.entrypoints.tables``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer

from hesuan.entrypoints.cli.common import (
    CLI_PRINCIPAL,
    console,
    opened,
    print_json,
    progress,
    report_file,
)

__all__ = ["register"]

people_app = typer.Typer(help="People (居民).", no_args_is_help=True)


@people_app.command("import")
def people_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or .xlsx")],
    report: Annotated[Path | None, typer.Option(help="where to write per-row errors (CSV)")] = None,
) -> None:
    """Import a population from CSV or Excel; re-import is a no-op.

    Columns: id_kind, id_number, name, phone, grid_code, groups, language, household_id,
    address. Valid rows are stored, bad rows reported with every error of the row."""
    from hesuan.domain.spreadsheets import as_text_row
    from hesuan.entrypoints.tables import count_rows, read_table
    from hesuan.services.people import PEOPLE_COLUMNS

    report = report or file.with_name(file.stem + ".errors.csv")
    with opened() as p:
        with p.deps.uow(readonly=True) as uow:
            grids = uow.places.grid_codes()
        # a file that cannot be decoded, or whose header is not a people file's, stops here,
        # storing nothing; so does a report that cannot be written
        rows = read_table(file, PEOPLE_COLUMNS)
        total = count_rows(file)
        with report_file(report) as fh:
            with progress() as bar:
                task = bar.add_task(f"importing {file.name}", total=total)
                result = p.people.import_rows(CLI_PRINCIPAL, rows, grids,
                                              progress=lambda n: bar.update(task, completed=n))
            w = csv.writer(fh)
            w.writerow(["row", "field", "code", "message"])
            for e in result.errors:
                w.writerow(as_text_row([e.row, e.field or "", e.code, e.message]))
        console.print(f"rows {result.rows}: imported {result.inserted}, already present "
                      f"{result.already_present}, errors {len(result.errors)} (see {report})")


def verify_code(code: str) -> None:
    """Check a sampling-code token (prints the person id it stands for, or fails)."""
    with opened() as p:
        print_json({"person_id": p.people.resolve_code(code)})


def register(app: typer.Typer) -> None:
    app.add_typer(people_app, name="people")
    app.command("verify-code")(verify_code)
