"""``hesuan report …``: the machine-readable reports (turnaround, reconciliation, coverage,
positives, prevalence, sites, labs), Rich on the console or JSON on stdout.

Imports: Typer, Rich, ``hesuan.domain``, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from hesuan.entrypoints.cli.common import (
    CLI_PRINCIPAL,
    JsonOpt,
    console,
    opened,
    parse_time,
    print_json,
)

if TYPE_CHECKING:
    from hesuan.bootstrap import Platform

__all__ = ["register"]

report_app = typer.Typer(help="Machine-readable reports.", no_args_is_help=True)

RegionOpt = Annotated[str | None, typer.Option(help="only this region (code prefix)")]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="end of the round's window (ISO time; default: the latest sample)")]
WindowOpt = Annotated[float, typer.Option(
    "--window-hours", help="length of the window (default: cadence 72 h + grace 24 h)",
    min=1)]


def _report(fn: Callable[[Platform], Any], as_json: bool) -> None:
    with opened() as p:
        data = fn(p)
    if as_json:
        print_json(data)
    else:
        from rich.pretty import pprint

        pprint(data, console=Console())


@report_app.command("turnaround")
def report_turnaround(as_json: JsonOpt = False) -> None:
    """Per-stage turnaround p50/p90/p99 by site, lab and district."""
    _report(lambda p: p.reports.turnaround(CLI_PRINCIPAL), as_json)


@report_app.command("reconcile")
def report_reconcile(as_json: JsonOpt = False,
                     limit: Annotated[int, typer.Option(help="items listed per key")] = 100,
                     ) -> None:
    """Reconciliation: what fell between stages (every list empty on a consistent round)."""
    _report(lambda p: asdict(p.reports.reconcile(CLI_PRINCIPAL, limit)), as_json)


def _analytics(fn: str, as_json: bool, **kwargs: Any) -> None:
    as_of = parse_time(kwargs.pop("as_of"), "--as-of", ", e.g. 2022-08-29T00:00:00+08:00")
    window = timedelta(hours=kwargs.pop("window_hours"))
    with opened() as p:
        data = getattr(p.analytics, fn)(CLI_PRINCIPAL, as_of=as_of and as_of.astimezone(UTC),
                                        window=window, **kwargs)
    if as_json:
        print_json(data)
    else:
        from rich.pretty import pprint

        pprint(data, console=Console(), max_length=20)


@report_app.command("coverage")
def report_coverage(
    as_json: JsonOpt = False, region: RegionOpt = None, as_of: AsOfOpt = None,
    window_hours: WindowOpt = 96.0,
    level: Annotated[str, typer.Option(help="deepest level listed: district, street, "
                                            "community or grid")] = "grid",
    snapshot: Annotated[bool, typer.Option(
        "--snapshot", help="the current round from the coverage snapshot (see ROSTERS.md)")]
    = False,
    xlsx: Annotated[Path | None, typer.Option(
        help="write the roll-up and outstanding list as an Excel workbook")] = None,
) -> None:
    """Coverage (应检尽检) by district, street, community and grid: due, sampled, exempt,
    outstanding."""
    from hesuan.domain.regions import Level

    try:
        lv = Level(level)
    except ValueError:
        raise typer.BadParameter("level must be district, street, community or grid",
                                 param_hint="--level") from None
    if snapshot or xlsx is not None:  # the roster service serves these
        with opened() as p:
            if xlsx is not None:
                xlsx.write_bytes(p.rosters.export_xlsx(CLI_PRINCIPAL, region=region,
                                                       live=not snapshot))
                console.print(f"wrote {xlsx}")
                return
            data = p.rosters.coverage(CLI_PRINCIPAL, region=region, level=lv)
        if as_json:
            print_json(data)
        else:
            console.print(data)
        return
    _analytics("coverage", as_json, region=region, as_of=as_of, window_hours=window_hours,
               level=lv)


@report_app.command("positives")
def report_positives(
    as_json: JsonOpt = False, region: RegionOpt = None, as_of: AsOfOpt = None,
    window_hours: WindowOpt = 96.0,
    limit: Annotated[int, typer.Option(help="pools listed at most", min=1)] = 1000,
) -> None:
    """Positive pools of the round and their recalls (召回复核)."""
    _analytics("positives", as_json, region=region, as_of=as_of, window_hours=window_hours,
               limit=limit)


@report_app.command("prevalence")
def report_prevalence(
    as_json: JsonOpt = False, region: RegionOpt = None, as_of: AsOfOpt = None,
    window_hours: WindowOpt = 96.0,
) -> None:
    """Prevalence per district and city from routine pools, 95% interval, pool size advice."""
    _analytics("prevalence", as_json, region=region, as_of=as_of, window_hours=window_hours)


@report_app.command("sites")
def report_sites(as_json: JsonOpt = False) -> None:
    """Per site: queue, swabs/min (per open and per staffed window), time per sample p50/p90,
    the wait for someone arriving now and what it is based on."""
    with opened() as p:
        rows = p.lanes.load(CLI_PRINCIPAL)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        wait = "—" if r["wait_minutes"] is None else f"{r['wait_minutes']} min"
        console.print(f"{r['name']:<24} queue {r['queue'] if r['queue'] is not None else '—':>4}"
                      f"  {r['swabs_per_min']:>5}/min  p50 {r['sample_seconds_p50'] or '—'} s"
                      f"  wait {wait}")


@report_app.command("lab")
def report_lab(
    as_json: JsonOpt = False,
    lab: Annotated[str | None, typer.Option("--lab", help="one lab's id (default: every lab)")]
    = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="start of the counts' window (ISO time; default: the last 24 h)")]
    = None,
    limit: Annotated[int, typer.Option(help="items listed per integrity list", min=1)] = 100,
) -> None:
    """Per lab: received, on plates, released, rejected, waiting past the 6 h target, control
    failures, invalid and single-target rates, re-runs, corrections; and the integrity list
    (released results without a run file, runs without passing controls, tubes above their
    pool size, releases by one person)."""
    start = parse_time(since, "--since", ", e.g. 2022-08-29T00:00:00+08:00")
    start = None if start is None else start.astimezone(UTC)

    def reports(p: Platform) -> list[dict[str, Any]]:
        found = ([p.lab_reports.report(CLI_PRINCIPAL, lab, start, limit)] if lab
                 else p.lab_reports.reports(CLI_PRINCIPAL, start, limit))
        return [asdict(r) | {"intact": r.intact} for r in found]

    _report(reports, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
