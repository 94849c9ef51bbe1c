"""``hesuan city …``: the synthetic city (generate it, list its demo accounts, print codes to
scan at the demo's station page).

``city generate`` migrates the schema itself: it builds a database from nothing (``--fresh``
throws the old one away first), so it is, with ``db upgrade`` and ``serve``, one of the
commands that create or change the schema.

Imports: Typer, Rich, ``hesuan.entrypoints.cli.common``; at call time SQLAlchemy (``--fresh``),
``hesuan.adapters``, ``hesuan.config``, ``hesuan.sim``.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from hesuan.entrypoints.cli.common import (
    CLI_PRINCIPAL,
    console,
    environment_settings,
    failed,
    opened,
    parse_time,
)

if TYPE_CHECKING:
    from hesuan.config import Settings

__all__ = ["register"]

city_app = typer.Typer(help="The synthetic city.", no_args_is_help=True)

#: How a bad ``--start`` is explained.
TIME_EXAMPLE = ", e.g. 2022-08-29T00:00:00+08:00"


def _fresh_database(settings: Settings) -> None:
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
    from hesuan.domain.errors import HesuanError
    from hesuan.sim.city import check_password, generate_city
    from hesuan.sim.example import DEMO_PASSWORD
    from hesuan.sim.simulate import default_round_start

    settings = environment_settings()
    password = password or DEMO_PASSWORD
    try:  # before --fresh throws anything away
        check_password(settings.environment, password)
    except HesuanError as exc:
        raise failed(exc) from None
    at = parse_time(start, "--start", TIME_EXAMPLE)
    begin = at.astimezone(UTC) if at else default_round_start()
    if fresh:
        _fresh_database(settings)
    with opened(migrate=True, settings=settings, clock=FixedClock(begin)) as platform, \
            Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                     TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                     TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("people", total=people, rate="")

        def progress(done: int, total: int) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = f"{done / elapsed:,.0f}/s" if elapsed else ""
            bar.update(task, completed=done, total=total, rate=rate)

        report = generate_city(platform, people, seed, workers=workers, progress=progress,
                               password=password)
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
    from hesuan.sim.example import DEMO_PASSWORD

    with opened() as p:
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


@city_app.command("codes")
def city_codes(
    people: Annotated[int, typer.Option(help="how many people's codes besides the resident's",
                                        min=0, max=20)] = 3,
) -> None:
    """Codes to scan at the demo's station page without a phone or a scanner.

    Type or paste each, then Enter: two unused tube barcodes, the sampling codes of the
    resident account's person and a few others, and an unused box code. Refused in
    production."""
    from hesuan.adapters.db import bulk
    from hesuan.domain.errors import PermissionDenied
    from hesuan.domain.sampling import make_box_code, make_tube_barcode

    settings = environment_settings()
    if settings.environment == "production":
        raise failed(PermissionDenied("city codes prints sampling codes for the demo; "
                                      "production refuses it", code="demo_only"))
    with opened(settings=settings) as p:
        resident = next((scope for username, _role, scope in bulk.accounts(p.engine)
                         if username == "resident" and scope), None)
        others = [x for x in bulk.person_ids(p.engine, people + 1) if x != resident][:people]
        codes = [("resident", p.people.sampling_code(CLI_PRINCIPAL, resident))] if resident \
            else []
        codes += [("person", p.people.sampling_code(CLI_PRINCIPAL, x)) for x in others]
        tube, box = bulk.last_serials(p.engine)
    typer.echo("scan at the station page (type or paste each, then Enter):")
    typer.echo(f"  tube      {make_tube_barcode(tube + 1)}   opens a tube")
    for label, code in codes:
        typer.echo(f"  {label:<9} {code}")
    typer.echo(f"  tube      {make_tube_barcode(tube + 1)}   again: seals the tube (or F2)")
    typer.echo(f"  box       {make_box_code(box + 1)}   starts packing; the sealed tube's "
               "barcode packs it; the box code again seals the box")
    typer.echo(f"  tube      {make_tube_barcode(tube + 2)}   another tube")


def register(app: typer.Typer) -> None:
    app.add_typer(city_app, name="city")
