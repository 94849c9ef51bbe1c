"""``hesuan roster …``: grid rosters and coverage of the current round (from the snapshot or
live, the Excel export, the outstanding list, the snapshot refresh).

Imports: Typer, ``hesuan.domain``, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hesuan.domain.instants import iso_utc
from hesuan.domain.regions import Level
from hesuan.entrypoints.cli.common import (
    CLI_PRINCIPAL,
    JsonOpt,
    console,
    opened,
    print_json,
    say_read_from,
    working,
)

__all__ = ["register"]

roster_app = typer.Typer(help="Grid rosters and coverage (应检尽检).", no_args_is_help=True)


@roster_app.command("coverage")
def roster_coverage(
    region: Annotated[str | None, typer.Option(help="region code prefix")] = None,
    level: Annotated[str, typer.Option(help="district, street, community or grid")] = "grid",
    live: Annotated[bool, typer.Option("--live", help="count now, not from the snapshot")]
    = False,
    xlsx: Annotated[Path | None, typer.Option(help="write an Excel workbook here")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Coverage of the current round (the snapshot when fresh, else live), or an Excel file."""
    try:
        lv = Level(level)
    except ValueError:
        raise typer.BadParameter("--level must be district, street, community or grid") from None
    with opened() as p:
        with working("computing coverage"):
            if xlsx is not None:
                xlsx.write_bytes(p.rosters.export_xlsx(CLI_PRINCIPAL, region=region,
                                                       live=live))
            else:
                data = p.rosters.coverage(CLI_PRINCIPAL, region=region, level=lv, live=live)
        say_read_from(p)
    if xlsx is not None:
        console.print(f"wrote {xlsx}")
        return
    if as_json:
        print_json(data)
        return
    t = data.total
    console.print(f"{data.source} as of {iso_utc(data.as_of)}: due {t.due:,}, sampled "
                  f"{t.sampled:,}, exempt {t.exempt:,}, outstanding {t.outstanding:,}")
    for d in data.districts:
        console.print(f"  {d.code} {d.name or '':<8} due {d.due:>9,}  sampled "
                      f"{d.sampled:>9,}  outstanding {d.outstanding:>8,}")


@roster_app.command("snapshot")
def roster_snapshot() -> None:
    """Count the current round per grid and store the snapshot (the scheduler does this)."""
    with opened() as p, working("counting the current round per grid"):
        data = p.rosters.refresh_snapshot(CLI_PRINCIPAL)
    print_json(data)


@roster_app.command("list")
def roster_list(region: str,
                which: Annotated[str, typer.Option(help="outstanding, sampled, exempt or due")]
                = "outstanding",
                limit: int = 500) -> None:
    """The people of an area in the round (masked), JSON on stdout."""
    with opened() as p:
        print_json(p.rosters.people(CLI_PRINCIPAL, region=region, which=which, limit=limit))


def register(app: typer.Typer) -> None:
    app.add_typer(roster_app, name="roster")
