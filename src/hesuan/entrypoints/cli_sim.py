"""CLI commands of the synthetic city and the simulated round, and the analytics reports:
``hesuan city generate``, ``hesuan simulate``, ``hesuan report coverage|positives|prevalence``.

Registered on the main Typer app by ``hesuan.entrypoints.cli``. Thin: parse → sim/service →
render (Rich on the console, JSON on stdout).

Imports: Typer, Rich, ``hesuan.bootstrap``, ``hesuan.config``, ``hesuan.adapters`` (the clock
and the SQLite file for ``--fresh``), ``hesuan.sim``, ``hesuan.services``, ``hesuan.domain``,
``hesuan.entrypoints.cli`` (helpers, at call time).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["register"]

console = Console(stderr=True)

city_app = typer.Typer(help="The synthetic city.", no_args_is_help=True)


def _parse_time(value: str | None, option: str) -> datetime | None:
    from hesuan.domain.errors import InvalidInput
    from hesuan.domain.instants import check_instant

    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} must be an ISO 8601 time, e.g. "
                                 f"2022-08-29T00:00:00+08:00") from None
    try:
        t = check_instant(t.replace(tzinfo=UTC) if t.tzinfo is None else t, option)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message) from None
    return t.astimezone(UTC)


def _fresh_database(settings: Any) -> None:
    """Throw away the configured database (SQLite: the file; PostgreSQL: Hesuan's tables), and
    with its audit log the checkpoints that signed it (a new log would not match them)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from hesuan.adapters.db.schema import metadata

    for old in Path(settings.audit_checkpoint_dir).glob("checkpoint-*.json"):
        old.unlink()
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(url.database + suffix).unlink(missing_ok=True)
        return
    engine = create_engine(url)
    try:
        with engine.begin() as c:
            metadata.drop_all(c)
            c.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        engine.dispose()


@city_app.command("generate")
def city_generate(
    people: Annotated[int, typer.Option(help="how many people", min=1)] = 50_000,
    seed: Annotated[int, typer.Option(help="the city is the same for the same seed")] = 1,
    fresh: Annotated[bool, typer.Option("--fresh", help="throw away the database first")] = False,
    workers: Annotated[int | None, typer.Option(help="processes preparing rows "
                                                     "(default: one per CPU)")] = None,
    start: Annotated[str | None, typer.Option(
        help="when the testing policies start (ISO time; default: local midnight four days "
             "ago, the default start of `hesuan simulate`)")] = None,
    password: Annotated[str | None, typer.Option(
        envvar="HESUAN_CITY_PASSWORD",
        help="the demo accounts' password (default: the published demo password, which "
             "production refuses)")] = None,
) -> None:
    """Generate the synthetic city into the configured (empty) database."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from hesuan.adapters.clock import FixedClock
    from hesuan.bootstrap import bootstrap
    from hesuan.config import Settings
    from hesuan.domain.errors import HesuanError
    from hesuan.entrypoints.cli import exit_code_for
    from hesuan.sim.city import CityExists, check_password, generate_city
    from hesuan.sim.example import DEMO_PASSWORD
    from hesuan.sim.simulate import default_round_start

    settings = Settings()
    password = password or DEMO_PASSWORD
    try:  # before --fresh throws anything away
        check_password(settings.environment, password)
    except HesuanError as exc:
        console.print(f"[red]error[/red] [{exc.code}] {exc.message}")
        raise typer.Exit(exit_code_for(exc)) from None
    if fresh:
        _fresh_database(settings)
    begin = _parse_time(start, "--start") or default_round_start()
    platform = bootstrap(settings, clock=FixedClock(begin))
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task("people", total=people, rate="")

            def progress(done: int, total: int) -> None:
                elapsed = bar.tasks[task].elapsed or 0.0
                rate = f"{done / elapsed:,.0f}/s" if elapsed else ""
                bar.update(task, completed=done, total=total, rate=rate)

            report = generate_city(platform, people, seed, workers=workers, progress=progress,
                                   password=password)
    except CityExists as exc:
        console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(4) from None
    except HesuanError as exc:
        console.print(f"[red]error[/red] [{exc.code}] {exc.message}")
        raise typer.Exit(exit_code_for(exc)) from None
    finally:
        platform.close()
    t = Table(title=f"synthetic city (seed {seed})")
    t.add_column("what")
    t.add_column("count", justify="right")
    for label, value in (("people", report.people), ("households", report.households),
                         ("districts", report.districts), ("streets", report.streets),
                         ("communities", report.communities), ("grids", report.grids),
                         ("sampling sites", report.sites), ("labs", report.labs),
                         ("couriers", report.couriers)):
        t.add_row(label, f"{value:,}")
    console.print(t)
    console.print(f"people stored, with their testing policies, in {report.people_seconds:.1f} s "
                  f"({report.people_per_second:,.0f} people/s); total {report.seconds:.1f} s")


@city_app.command("accounts")
def city_accounts(
    fleet: Annotated[bool, typer.Option(help="also list every courier of the fleet")] = False,
) -> None:
    """The demo accounts (one per role; password: the demo password)."""
    from hesuan.adapters.db import bulk
    from hesuan.entrypoints.cli import _platform
    from hesuan.sim.example import DEMO_PASSWORD

    with _platform() as p:
        rows = bulk.accounts(p.engine)
    t = Table(title=f"demo accounts — password {DEMO_PASSWORD}")
    for col in ("username", "role", "scope"):
        t.add_column(col)
    hidden = 0
    for username, role, scope in rows:
        if not fleet and username.startswith("courier") and username[7:].isdigit():
            hidden += 1
            continue
        t.add_row(username, role, scope or "")
    Console().print(t)
    if hidden:
        Console().print(f"(and {hidden} couriers courier001… with the same password)")


def simulate(
    start: Annotated[str | None, typer.Option(
        help="start of the round (ISO time; default: local midnight four days ago)")] = None,
    hours: Annotated[float, typer.Option(help="simulated hours of arrivals", min=1)] = 72.0,
    prevalence: Annotated[float, typer.Option(help="share of people infected", min=0,
                                              max=0.5)] = 0.001,
    faults: Annotated[str, typer.Option(
        help="comma-separated: lost_tube,box_missing_tube,unknown_result,late_courier")] = "",
    seed: Annotated[int, typer.Option(help="the round is the same for the same seed")] = 1,
    tick: Annotated[int, typer.Option(help="minutes per station batch (per site); couriers "
                                           "call on tick boundaries", min=1, max=60)] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="the summary as JSON on stdout")] = False,
) -> None:
    """Simulate a testing round on the generated city, through the real services."""
    from datetime import timedelta

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from hesuan.adapters.clock import FixedClock
    from hesuan.bootstrap import bootstrap
    from hesuan.config import Settings
    from hesuan.entrypoints.cli import _print_json
    from hesuan.sim.simulate import (
        FAULTS,
        CountingSender,
        NoCity,
        default_round_start,
        simulate_round,
        simulation_settings,
    )

    wanted = [f.strip() for f in faults.split(",") if f.strip()]
    bad = [f for f in wanted if f not in FAULTS]
    if bad:
        raise typer.BadParameter(f"unknown faults {bad}; known: {', '.join(FAULTS)}",
                                 param_hint="--faults")
    begin = _parse_time(start, "--start") or default_round_start()
    clock = FixedClock(begin)
    sender = CountingSender()
    platform = bootstrap(simulation_settings(Settings()), clock=clock, sender=sender)
    platform.start_checkpoints()
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.fields[at]}"), TimeElapsedColumn(),
                      console=console) as bar:
            task = bar.add_task("simulated hours", total=hours, at="")

            def progress(done_s: float, total_s: float) -> None:
                bar.update(task, completed=done_s / 3600,
                           at=(begin + timedelta(seconds=done_s)).strftime("%Y-%m-%d %H:%M UTC"))

            summary = simulate_round(platform, clock, sender, begin, hours=hours,
                                     prevalence=prevalence, faults=wanted, seed=seed,
                                     tick=timedelta(minutes=tick), progress=progress)
    except NoCity as exc:
        console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(3) from None
    finally:
        platform.close()
    if as_json:
        _print_json(summary.as_dict())
    _print_summary(summary)
    if not summary.reconcile_matches:
        raise typer.Exit(1)


def _prevalence(s: Any) -> str:
    est = s.estimate()
    true = "–" if s.true_prevalence is None else f"{s.true_prevalence:.4%}"
    if est.p_hat is None:
        return f"{true} / –"
    return f"{true} / {est.p_hat:.4%} [{est.lower:.4%}, {est.upper:.4%}]"


def _print_summary(s: Any) -> None:
    from rich.console import Group

    t = Table(title=f"simulated round {s.start:%Y-%m-%d %H:%M} → {s.end:%Y-%m-%d %H:%M} UTC "
                    f"(drained {s.drained_until:%m-%d %H:%M})")
    t.add_column("measure")
    t.add_column("value", justify="right")
    tubes = ", ".join(f"{n:,}×{k}-in-1" for k, n in sorted(s.tubes.items(), reverse=True))
    rows = [
        ("people in the city", f"{s.people:,}"),
        ("people due", f"{s.people_due:,}"),
        ("sampled", f"{s.sampled:,}"),
        ("coverage", f"{s.coverage:.1%}"),
        ("tubes", tubes or "0"),
        ("boxes", f"{s.boxes:,}"),
        ("infected (sampled)", f"{s.infected:,} ({s.infected_sampled:,})"),
        ("positive pools", f"{s.pooled_positive:,}"),
        ("positive single tubes", f"{s.single_positive:,}"),
        ("invalid tubes", f"{s.invalid_tubes:,}"),
        ("recalls opened / resolved", f"{s.recalls_opened:,} / {s.recalls_resolved:,}"),
        ("prevalence: true / pool estimate [95%]", _prevalence(s)),
        ("station events sent (rejected)",
         f"{s.events_sent:,} ({sum(s.events_rejected.values()):,})"),
        ("service calls", f"{s.calls:,}"),
        ("messages sent", ", ".join(f"{k} {v:,}" for k, v in sorted(s.messages.items()))
         or "0"),
        ("alerts raised", f"{s.alerts_raised:,} "
         + ", ".join(f"{k} {v}" for k, v in sorted(s.alerts_by_kind.items()))),
        ("wall time", f"{s.wall_seconds:.1f} s"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    ta = Table(title="turnaround since first sample (minutes)")
    ta.add_column("stage")
    for col in ("n", "p50", "p90"):
        ta.add_column(col, justify="right")
    for stage, v in s.turnaround.get("since_first_sample", {}).items():
        ta.add_row(stage, f"{v['n']:,}", str(v["p50_min"]), str(v["p90_min"]))
    rc = Table(title="reconciliation: found vs injected faults")
    rc.add_column("list")
    rc.add_column("found", justify="right")
    rc.add_column("expected", justify="right")
    rc.add_column("")
    for k, v in s.reconcile_counts.items():
        exp = s.expected_reconcile.get(k, 0)
        rc.add_row(k, str(v), str(exp), "[green]ok[/green]" if v == exp else "[red]MISMATCH[/red]")
    console.print(Group(t, ta, rc))


JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]
RegionOpt = Annotated[str | None, typer.Option(help="only this region (code prefix)")]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="end of the round's window (ISO time; default: the latest sample)")]
WindowOpt = Annotated[float, typer.Option(
    "--window-hours", help="length of the window (default: cadence 72 h + grace 24 h)",
    min=1)]


def _analytics(fn: str, as_json: bool, **kwargs: Any) -> None:
    from datetime import timedelta

    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, _print_json

    as_of = _parse_time(kwargs.pop("as_of"), "--as-of")
    window = timedelta(hours=kwargs.pop("window_hours"))
    with _platform() as p:
        data = getattr(p.analytics, fn)(CLI_PRINCIPAL, as_of=as_of, window=window, **kwargs)
    if as_json:
        _print_json(data)
    else:
        from rich.pretty import pprint

        pprint(data, console=Console(), max_length=20)


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
    if snapshot or xlsx is not None:  # the roster service (issue 5) serves these
        from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, _print_json

        with _platform() as p:
            if xlsx is not None:
                xlsx.write_bytes(p.rosters.export_xlsx(CLI_PRINCIPAL, region=region,
                                                       live=not snapshot))
                console.print(f"wrote {xlsx}")
                return
            data = p.rosters.coverage(CLI_PRINCIPAL, region=region, level=lv)
        if as_json:
            _print_json(data)
        else:
            console.print(data)
        return
    _analytics("coverage", as_json, region=region, as_of=as_of, window_hours=window_hours,
               level=lv)


def report_positives(
    as_json: JsonOpt = False, region: RegionOpt = None, as_of: AsOfOpt = None,
    window_hours: WindowOpt = 96.0,
    limit: Annotated[int, typer.Option(help="pools listed at most", min=1)] = 1000,
) -> None:
    """Positive pools of the round and their recalls (召回复核)."""
    _analytics("positives", as_json, region=region, as_of=as_of, window_hours=window_hours,
               limit=limit)


def report_prevalence(
    as_json: JsonOpt = False, region: RegionOpt = None, as_of: AsOfOpt = None,
    window_hours: WindowOpt = 96.0,
) -> None:
    """Prevalence per district and city from routine pools, 95% interval, pool size advice."""
    _analytics("prevalence", as_json, region=region, as_of=as_of, window_hours=window_hours)


def register(app: typer.Typer, report_app: typer.Typer) -> None:
    """Add the city, simulate and analytics-report commands to the CLI."""
    app.add_typer(city_app, name="city")
    app.command("simulate")(simulate)
    report_app.command("coverage")(report_coverage)
    report_app.command("positives")(report_positives)
    report_app.command("prevalence")(report_prevalence)
