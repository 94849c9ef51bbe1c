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
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} must be an ISO 8601 time, e.g. "
                                 f"2022-08-29T00:00:00+08:00") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _fresh_database(settings: Any) -> None:
    """Throw away the configured database (SQLite: the file; PostgreSQL: Hesuan's tables)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from hesuan.adapters.db.schema import metadata

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

    from hesuan.bootstrap import bootstrap
    from hesuan.config import Settings
    from hesuan.sim.city import CityExists, generate_city

    settings = Settings()
    if fresh:
        _fresh_database(settings)
    platform = bootstrap(settings)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task("people", total=people, rate="")

            def progress(done: int, total: int) -> None:
                elapsed = bar.tasks[task].elapsed or 0.0
                rate = f"{done / elapsed:,.0f}/s" if elapsed else ""
                bar.update(task, completed=done, total=total, rate=rate)

            report = generate_city(platform, people, seed, workers=workers, progress=progress)
    except CityExists as exc:
        console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(4) from None
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
    console.print(f"people stored in {report.people_seconds:.1f} s "
                  f"({report.people_per_second:,.0f} people/s); total {report.seconds:.1f} s")


def register(app: typer.Typer, report_app: typer.Typer) -> None:
    """Add the city, simulate and analytics-report commands to the CLI."""
    app.add_typer(city_app, name="city")
