"""``hesuan report …``: the machine-readable reports (turnaround, reconciliation, coverage,
positives, prevalence, sites, labs), Rich on the console or JSON on stdout.

Imports: Typer, Rich, ``hesuan.domain``, ``hesuan.entrypoints.cli.common``.
"""

from __future__ import annotations

from collections import Counter
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
    say_read_from,
    working,
)

if TYPE_CHECKING:
    from hesuan.bootstrap import Platform
    from hesuan.services.analytics import Coverage, Positives, Prevalence
    from hesuan.services.lanes import SiteLoadNow
    from hesuan.services.outbox_ports import Reconciliation
    from hesuan.services.reports import Turnaround

__all__ = ["register"]

report_app = typer.Typer(help="Reports of the round: tables, or JSON with --json.",
                         no_args_is_help=True)

RegionOpt = Annotated[str | None, typer.Option(help="only this region (code prefix)")]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="end of the round's window (ISO time; default: the latest sample)")]
WindowOpt = Annotated[float, typer.Option(
    "--window-hours", help="length of the window (default: cadence 72 h + grace 24 h)",
    min=1)]


def _report(name: str, fn: Callable[[Platform], Any], as_json: bool,
            render: Callable[[Any], None], *, stale_ok: bool = False) -> None:
    """Compute a report (a spinner on stderr meanwhile) and print it: JSON on stdout with
    ``--json``, else ``render``'s tables. ``stale_ok``: the report reads where reads that
    may be stale go, and says on stderr which database that was (its age, from a replica)."""
    with opened() as p:
        with working(f"computing {name}"):
            data = fn(p)
        if stale_ok:
            say_read_from(p)
    if as_json:
        print_json(data)
    else:
        render(data)


@report_app.command("turnaround")
def report_turnaround(as_json: JsonOpt = False) -> None:
    """Per-stage turnaround p50/p90/p99 by site, lab and district."""
    _report("turnaround", lambda p: p.reports.turnaround(CLI_PRINCIPAL), as_json,
            _turnaround_tables, stale_ok=True)


@report_app.command("reconcile")
def report_reconcile(as_json: JsonOpt = False,
                     limit: Annotated[int, typer.Option(help="items listed per key")] = 100,
                     ) -> None:
    """Reconciliation: what fell between stages (every list empty on a consistent round)."""
    _report("reconciliation", lambda p: p.reports.reconcile(CLI_PRINCIPAL, limit),
            as_json, _reconcile_tables, stale_ok=True)


def _analytics(fn: str, as_json: bool, render: Callable[[Any], None], **kwargs: Any) -> None:
    as_of = parse_time(kwargs.pop("as_of"), "--as-of", ", e.g. 2022-08-29T00:00:00+08:00")
    window = timedelta(hours=kwargs.pop("window_hours"))
    _report(fn, lambda p: getattr(p.analytics, fn)(
        CLI_PRINCIPAL, as_of=as_of and as_of.astimezone(UTC), window=window, **kwargs),
        as_json, render, stale_ok=True)


@report_app.command("coverage")
def report_coverage(
    as_json: JsonOpt = False, region: RegionOpt = None, as_of: AsOfOpt = None,
    window_hours: WindowOpt = 96.0,
    level: Annotated[str, typer.Option(help="deepest level listed: district, street, "
                                            "community or grid")] = "grid",
    snapshot: Annotated[bool, typer.Option(
        "--snapshot", help="the current round from the coverage snapshot (docs/ROSTERS.md)")]
    = False,
    xlsx: Annotated[Path | None, typer.Option(
        help="write the roll-up and outstanding list as an Excel workbook")] = None,
) -> None:
    """Coverage (应检尽检): due, sampled, exempt and outstanding, by region.

    One row per district, street, community and grid down to --level, and the total; a table,
    or JSON with --json."""
    from hesuan.domain.regions import Level

    try:
        lv = Level(level)
    except ValueError:
        raise typer.BadParameter("level must be district, street, community or grid",
                                 param_hint="--level") from None
    if xlsx is not None:  # the roster service serves these
        with opened() as p:
            with working("writing the coverage workbook"):
                xlsx.write_bytes(p.rosters.export_xlsx(CLI_PRINCIPAL, region=region,
                                                       live=not snapshot))
            say_read_from(p)
        console.print(f"wrote {xlsx}")
        return
    if snapshot:
        _report("coverage", lambda p: p.rosters.coverage(CLI_PRINCIPAL, region=region,
                                                         level=lv), as_json, _coverage_tables,
                stale_ok=True)
        return
    _analytics("coverage", as_json, _coverage_tables, region=region, as_of=as_of,
               window_hours=window_hours, level=lv)


@report_app.command("positives")
def report_positives(
    as_json: JsonOpt = False, region: RegionOpt = None, as_of: AsOfOpt = None,
    window_hours: WindowOpt = 96.0,
    limit: Annotated[int, typer.Option(help="pools listed at most", min=1)] = 1000,
) -> None:
    """Positive pools of the round and their recalls (召回复核)."""
    _analytics("positives", as_json, _positives_table, region=region, as_of=as_of,
               window_hours=window_hours, limit=limit)


@report_app.command("prevalence")
def report_prevalence(
    as_json: JsonOpt = False, region: RegionOpt = None, as_of: AsOfOpt = None,
    window_hours: WindowOpt = 96.0,
) -> None:
    """Prevalence per district and city from routine pools, 95% interval, pool size advice."""
    _analytics("prevalence", as_json, _prevalence_table, region=region, as_of=as_of,
               window_hours=window_hours)


@report_app.command("sites")
def report_sites(as_json: JsonOpt = False) -> None:
    """Per site: queue, swabs a minute, time per sample and the wait now.

    Swabs a minute per open and per staffed window, time per sample p50/p90, the wait for
    someone arriving now and what it is based on."""
    _report("sites", lambda p: p.lanes.load(CLI_PRINCIPAL), as_json, _sites_table)


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
    """Per lab: its work in numbers and its integrity list.

    Received, on plates, released, rejected, waiting past the 6 h target, control failures,
    invalid and single-target rates, re-runs, corrections; and the integrity list: released
    results without a run file, runs without passing controls, tubes above their pool size,
    releases by one person."""
    start = parse_time(since, "--since", ", e.g. 2022-08-29T00:00:00+08:00")
    start = None if start is None else start.astimezone(UTC)

    def reports(p: Platform) -> list[dict[str, Any]]:
        found = ([p.lab_reports.report(CLI_PRINCIPAL, lab, start, limit)] if lab
                 else p.lab_reports.reports(CLI_PRINCIPAL, start, limit))
        return [asdict(r) | {"intact": r.intact} for r in found]

    _report("lab reports", reports, as_json, _lab_tables)


# --- the tables a person reads (without --json) -------------------------------------------

def _out() -> Console:
    return Console(soft_wrap=False)


def _window(data: Coverage | Positives | Prevalence) -> str:
    from hesuan.domain.local_time import short

    span = f"{short(data.since)} → {short(data.as_of)} (Asia/Shanghai)"
    return span + (f", region {data.region}" if data.region else "")


def _local(iso: str) -> str:
    from datetime import datetime

    from hesuan.domain.local_time import short

    return short(datetime.fromisoformat(iso), "%Y-%m-%d %H:%M")


def _share(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def _coverage_tables(data: Coverage) -> None:
    from rich.table import Table

    from hesuan.domain.regions import Level

    out = _out()
    t = data.total
    out.print(f"coverage (应检尽检) {_window(data)}: due {t.due:,}, sampled {t.sampled:,} "
              f"({_share(t.coverage)}), exempt {t.exempt:,}, outstanding "
              f"{t.outstanding:,}; from the {data.source} figures")
    for lv in (Level.DISTRICT, Level.STREET, Level.COMMUNITY, Level.GRID):
        rows = data.rows(lv)
        if not rows:
            continue
        level = lv.value
        table = Table(title=f"by {level}")
        table.add_column(level)
        table.add_column("name")
        for column in ("due", "sampled", "exempt", "outstanding", "coverage"):
            table.add_column(column, justify="right")
        for r in rows:
            table.add_row(r.code, r.name or "", f"{r.due:,}", f"{r.sampled:,}",
                          f"{r.exempt:,}", f"{r.outstanding:,}", _share(r.coverage))
        out.print(table)


def _turnaround_tables(data: Turnaround) -> None:
    from rich.table import Table

    out = _out()
    out.print(f"turnaround of {data.tubes:,} tubes (minutes)")
    for stages, title in ((data.since_first_sample, "since the first sample"),
                          (data.stage_by_stage, "stage by stage")):
        table = Table(title=title)
        table.add_column("stage")
        for column in ("tubes", "p50", "p90", "p99"):
            table.add_column(column, justify="right")
        for stage, v in stages.items():
            table.add_row(stage.replace("_", " "), f"{v.n:,}",
                          *("—" if m is None else str(m)
                            for m in (v.p50_min, v.p90_min, v.p99_min)))
        out.print(table)


def _reconcile_tables(data: Reconciliation) -> None:
    from dataclasses import fields

    from rich.table import Table

    from hesuan.services.outbox_ports import ReconciliationList

    out = _out()
    table = Table(title=f"reconciliation as of {_local(data.as_of)} (Asia/Shanghai; every "
                        "list empty on a consistent round)")
    table.add_column("list")
    table.add_column("count", justify="right")
    table.add_column("first items")
    for f in fields(data):
        value = getattr(data, f.name)
        if isinstance(value, ReconciliationList):
            # each item by its first field: the tube, box or recall it is about
            first = ", ".join(str(getattr(item, fields(item)[0].name))
                              for item in value.items[:3])
            table.add_row(f.name.replace("_", " "), f"{value.count:,}", first)
    out.print(table)
    lab = data.lab
    out.print(f"lab stage: plates {lab.plates:,} (released {lab.plates_released:,}, "
              f"control failures {lab.control_failures:,}), re-runs {lab.reruns:,}; "
              f"released {_counts(lab.released)}; rejected {_counts(lab.rejected)}; "
              f"corrections {_counts(lab.corrections)}", markup=False)


def _counts(counts: dict[str, int]) -> str:
    """Counts by kind in words: ``negative 242, positive 15`` (``none`` when empty)."""
    return ", ".join(f"{k.replace('_', ' ')} {n:,}" for k, n in counts.items()) or "none"


def _positives_table(data: Positives) -> None:
    from rich.table import Table

    out = _out()
    out.print(f"positive pools {_window(data)}: {data.positive_pools:,}; recalls "
              f"{data.recalls:,} ({_counts(data.recalls_by_status)})", markup=False)
    if not data.pools:
        return
    table = Table()
    table.add_column("barcode", no_wrap=True, min_width=13)
    for column in ("site", "district", "pool", "members", "investigation", "recalls"):
        table.add_column(column)
    for pool in data.pools:
        outcomes = Counter(r.outcome or r.status for r in pool.recalls)
        table.add_row(pool.barcode, pool.site, pool.district, str(pool.pool_size),
                      str(pool.members), pool.investigation or "—", _counts(outcomes))
    out.print(table)


def _sites_table(rows: list[SiteLoadNow]) -> None:
    from rich.table import Table

    def shown(v: object, unit: str = "") -> str:
        return "—" if v is None else f"{v}{unit}"

    table = Table(title="sites now (the last 15 minutes)")
    for column in ("site", "status", "windows (staffed)", "queue", "swabs/min",
                   "s per sample p50/p90", "wait", "based on"):
        table.add_column(column, justify="left" if column in ("site", "status", "based on")
                         else "right")
    for r in rows:
        table.add_row(r.name, r.status, f"{r.windows} ({r.staffed_windows})",
                      shown(r.queue), str(r.swabs_per_min),
                      f"{shown(r.sample_seconds_p50)}/{shown(r.sample_seconds_p90)}",
                      shown(r.wait_minutes, " min"), r.basis)
    _out().print(table)


def _lab_tables(reports: list[dict[str, Any]]) -> None:
    from rich.table import Table

    if not reports:
        return
    from hesuan.domain.local_time import short

    table = Table(title=f"labs since {short(reports[0]['since'], '%Y-%m-%d %H:%M')} "
                        "(Asia/Shanghai)")
    table.add_column("")
    for r in reports:
        table.add_column(r["lab_name"], justify="right")

    def row(label: str, value: Callable[[dict[str, Any]], str]) -> None:
        table.add_row(label, *(value(r) for r in reports))

    for key in ("received", "in_lab", "on_plates", "late", "plates_imported", "tube_wells",
                "reruns"):
        table.add_row(key.replace("_", " "), *(f"{r['counts'][key]:,}" for r in reports))
    row("released", lambda r: _counts(r["counts"]["released"]))
    row("rejected", lambda r: _counts(r["counts"]["rejected"]))
    row("corrections", lambda r: _counts({k: n for k, n in r["counts"]["corrections"].items()
                                          if n}))
    row("control failure rate", lambda r: _share(r["control_failure_rate"]))
    row("invalid rate", lambda r: _share(r["invalid_rate"]))
    row("single-target rate", lambda r: _share(r["single_target_rate"]))
    for key in reports[0]["integrity"]:
        table.add_row(key.replace("_", " "),
                      *(f"{r['integrity'][key]['count']:,}" for r in reports))
    row("integrity", lambda r: "intact" if r["intact"] else "BROKEN")
    _out().print(table)


def _prevalence_table(data: Prevalence) -> None:
    from rich.table import Table

    out = _out()
    table = Table(title=f"prevalence from routine pools {_window(data)}")
    table.add_column("district", no_wrap=True)
    table.add_column("name")
    for column in ("pools (positive)", "people", "estimate"):
        table.add_column(column, justify="right")
    table.add_column("95% interval", justify="right", no_wrap=True, min_width=13)
    table.add_column("pool size → advised", justify="right")
    for r in [*data.districts, data.city]:
        ci = r.ci95
        table.add_row(r.code or "city", r.name or "",
                      f"{r.pools_tested:,} ({r.pools_positive:,})",
                      f"{r.people_tested:,}",
                      "—" if r.p_hat is None else f"{r.p_hat:.2%}",
                      "—" if ci is None else f"{ci[0]:.2%}–{ci[1]:.2%}",
                      f"{r.main_pool_size or '—'} → {r.recommended_pool_size or '—'}")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
