"""CLI commands of the ground-level organisation: ``hesuan zones …`` (designate, lift, split,
shrink, GeoJSON import/export of zones and boundaries, tick), ``hesuan roster …`` (coverage from
the snapshot or live, the Excel export, the outstanding list, the snapshot refresh),
``hesuan fence …`` (alerts, purge) and ``hesuan report sites`` (queues, throughput, waits).

Registered on the main Typer app by ``hesuan.entrypoints.cli``. Thin: parse → service → render.

Imports: Typer, Rich, ``hesuan.services``, ``hesuan.domain``, ``hesuan.entrypoints.cli`` (its
helpers, at call time).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from hesuan.domain.errors import InvalidInput
from hesuan.domain.instants import check_instant
from hesuan.domain.regions import Level
from hesuan.domain.zones import ZoneKind, ZoneRules, default_rules
from hesuan.services.zones import ZoneInput, ZonePart, parse_area, zone_view

__all__ = ["register"]

zones_app = typer.Typer(help="Zones (封控区/管控区/防范区) and region boundaries.",
                        no_args_is_help=True)
roster_app = typer.Typer(help="Grid rosters and coverage (应检尽检).", no_args_is_help=True)
fence_app = typer.Typer(help="Fence alerts from venue and checkpoint scans.",
                        no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} must be an ISO 8601 time with a timezone, e.g. "
                                 "2022-09-05T00:00:00+08:00") from None
    try:
        return check_instant(t.replace(tzinfo=UTC) if t.tzinfo is None else t, option)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message) from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{path}: not readable JSON ({exc})") from None


def _zone_line(z: dict[str, Any]) -> str:
    return (f"{z['id']}  {z['kind']:<10} {z['status']:<9} people {z['people'] or 0:>7,}  "
            f"{z['name']}")


# -- zones --------------------------------------------------------------------------------

@zones_app.command("list")
def zones_list(all_: Annotated[bool, typer.Option("--all", help="ended zones too")] = False,
               as_json: JsonOpt = False) -> None:
    """Zones (active and scheduled, or all)."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, _print_json, console

    with _platform() as p:
        zs = [zone_view(z) for z in p.zones.list_zones(CLI_PRINCIPAL, active_only=not all_)]
    if as_json:
        _print_json(zs)
        return
    for z in zs:
        console.print(_zone_line(z))


@zones_app.command("designate")
def zones_designate(
    name: str,
    kind: Annotated[ZoneKind, typer.Option(help="sealed, controlled or precaution")],
    area: Annotated[list[str] | None, typer.Option(
        help="region code, or grid code/building (repeat)")] = None,
    polygon: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, help="GeoJSON Polygon (or a Feature) file")] = None,
    starts_at: Annotated[str | None, typer.Option(help="ISO time (default now)")] = None,
    planned_end: Annotated[str | None, typer.Option(help="ISO time")] = None,
    cadence_hours: Annotated[float | None, typer.Option(help="test every N h in the zone")] = None,
    colour: Annotated[str | None, typer.Option(help="red, popup or yellow")] = None,
) -> None:
    """Designate a zone; its people's status changes now (if it starts now)."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, console

    base = default_rules(kind)
    rules = ZoneRules(cadence_hours if cadence_hours is not None else base.cadence_hours,
                      base.sampling_mode, base.movement, colour)
    with _platform() as p:
        z = p.zones.designate(CLI_PRINCIPAL, ZoneInput(
            name, kind, [parse_area(a) for a in area or []],
            _read_json(polygon) if polygon else None, _time(starts_at, "--starts-at"),
            _time(planned_end, "--planned-end"), rules))
    console.print(_zone_line(zone_view(z)))


@zones_app.command("lift")
def zones_lift(zone_id: str, reason: Annotated[str, typer.Option(help="why (解封)")]) -> None:
    """Lift a zone; its people are restored in bulk."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, console

    with _platform() as p:
        z = p.zones.lift(CLI_PRINCIPAL, zone_id, reason)
    console.print(_zone_line(zone_view(z)))


@zones_app.command("split")
def zones_split(zone_id: str, part: Annotated[list[str], typer.Option(
        help="KIND=AREA[,AREA…] for each part (repeat), e.g. sealed=140105001001001")]) -> None:
    """Split a zone into parts (分区切割), each with its own kind."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, console

    parts = []
    for text in part:
        kind, _, areas = text.partition("=")
        try:
            k = ZoneKind(kind.strip())
        except ValueError:
            raise typer.BadParameter("--part must be KIND=AREA[,AREA…]") from None
        parts.append(ZonePart(kind=k, areas=[parse_area(a) for a in areas.split(",") if a]))
    with _platform() as p:
        for z in p.zones.split(CLI_PRINCIPAL, zone_id, parts):
            console.print(_zone_line(zone_view(z)))


@zones_app.command("shrink")
def zones_shrink(zone_id: str, area: Annotated[list[str], typer.Option(
        help="the smaller zone's areas (repeat)")]) -> None:
    """Shrink a zone (划小单元) to some of its areas."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, console

    with _platform() as p:
        z = p.zones.shrink(CLI_PRINCIPAL, zone_id,
                           ZonePart(areas=[parse_area(a) for a in area]))
    console.print(_zone_line(zone_view(z)))


@zones_app.command("tick")
def zones_tick() -> None:
    """Start scheduled zones and expire zones past their planned end (the scheduler does this
    every few minutes inside ``serve``)."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, console

    with _platform() as p:
        r = p.zones.tick(CLI_PRINCIPAL)
    console.print(f"started {r['started']}, expired {r['expired']}")


@zones_app.command("import")
def zones_import(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Designate zones from a GeoJSON FeatureCollection (properties: name, kind, areas,
    planned_end, rules; geometry: a polygon or null)."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, _print_json

    with _platform() as p:
        _print_json(p.zones.import_geojson(CLI_PRINCIPAL, _read_json(file)))


@zones_app.command("export")
def zones_export(out: Annotated[Path | None, typer.Option(help="file (default stdout)")] = None,
                 all_: Annotated[bool, typer.Option("--all")] = False) -> None:
    """Zones as GeoJSON."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, _print_json

    with _platform() as p:
        fc = p.zones.export_geojson(CLI_PRINCIPAL, active_only=not all_)
    if out:
        out.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    else:
        _print_json(fc)


@zones_app.command("boundaries-import")
def boundaries_import(
    file: Annotated[Path | None, typer.Argument(dir_okay=False, help="GeoJSON (default: the "
                                                "shipped district boundaries)")] = None,
) -> None:
    """Region boundaries (polygons) or grid centres (points) from GeoJSON."""
    from importlib import resources

    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, console

    if file is None:
        fc = json.loads(resources.files("hesuan").joinpath(
            "data/taiyuan-districts.geojson").read_text(encoding="utf-8"))
        source = "taiyuan-districts.geojson"
    else:
        fc, source = _read_json(file), file.name
    with _platform() as p:
        n = p.zones.import_boundaries(CLI_PRINCIPAL, fc, source=source)
    console.print(f"imported {n} boundaries/centres from {source}")


@zones_app.command("boundaries-export")
def boundaries_export(level: Annotated[int, typer.Option(help="code length: 6 districts, "
                                                              "15 grid centres")] = 6,
                      out: Annotated[Path | None, typer.Option()] = None) -> None:
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, _print_json

    with _platform() as p:
        fc = p.zones.export_boundaries(CLI_PRINCIPAL, level=level)
    if out:
        out.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    else:
        _print_json(fc)


# -- rosters ------------------------------------------------------------------------------

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
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, _print_json, console

    try:
        lv = Level(level)
    except ValueError:
        raise typer.BadParameter("--level must be district, street, community or grid") from None
    with _platform() as p:
        if xlsx is not None:
            xlsx.write_bytes(p.rosters.export_xlsx(CLI_PRINCIPAL, region=region, live=live))
            console.print(f"wrote {xlsx}")
            return
        data = p.rosters.coverage(CLI_PRINCIPAL, region=region, level=lv, live=live)
    if as_json:
        _print_json(data)
        return
    t = data["total"]
    console.print(f"{data['source']} as of {data['as_of']}: due {t['due']:,}, sampled "
                  f"{t['sampled']:,}, exempt {t['exempt']:,}, outstanding {t['outstanding']:,}")
    for d in data["districts"]:
        console.print(f"  {d['code']} {d['name'] or '':<8} due {d['due']:>9,}  sampled "
                      f"{d['sampled']:>9,}  outstanding {d['outstanding']:>8,}")


@roster_app.command("snapshot")
def roster_snapshot() -> None:
    """Count the current round per grid and store the snapshot (the scheduler does this)."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, _print_json

    with _platform() as p:
        _print_json(p.rosters.refresh_snapshot(CLI_PRINCIPAL))


@roster_app.command("list")
def roster_list(region: str,
                which: Annotated[str, typer.Option(help="outstanding, sampled, exempt or due")]
                = "outstanding",
                limit: int = 500) -> None:
    """The people of an area in the round (masked), JSON on stdout."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, _print_json

    with _platform() as p:
        _print_json(p.rosters.people(CLI_PRINCIPAL, region=region, which=which, limit=limit))


# -- fence --------------------------------------------------------------------------------

@fence_app.command("alerts")
def fence_alerts(region: Annotated[str | None, typer.Option()] = None,
                 closed: Annotated[bool, typer.Option("--closed")] = False) -> None:
    """Open (or closed) fence alerts, JSON on stdout."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, _print_json

    with _platform() as p:
        _print_json(p.fence.alerts(CLI_PRINCIPAL, region=region, statuses=(
            ["closed"] if closed else ["open", "acknowledged"])))


@fence_app.command("purge")
def fence_purge() -> None:
    """Forget scans older than the venue retention (HESUAN_VENUE_RETENTION)."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, console

    with _platform() as p:
        n = p.fence.purge(CLI_PRINCIPAL)
    console.print(f"purged {n} scans")


def report_sites(as_json: JsonOpt = False) -> None:
    """Per site: queue, swabs/min (per open and per staffed window), time per sample p50/p90,
    the wait for someone arriving now and what it is based on."""
    from hesuan.entrypoints.cli import CLI_PRINCIPAL, _platform, _print_json, console

    with _platform() as p:
        rows = p.lanes.load(CLI_PRINCIPAL)
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        wait = "—" if r["wait_minutes"] is None else f"{r['wait_minutes']} min"
        console.print(f"{r['name']:<24} queue {r['queue'] if r['queue'] is not None else '—':>4}"
                      f"  {r['swabs_per_min']:>5}/min  p50 {r['sample_seconds_p50'] or '—'} s"
                      f"  wait {wait}")


def register(app: typer.Typer, report_app: typer.Typer) -> None:
    app.add_typer(zones_app, name="zones")
    app.add_typer(roster_app, name="roster")
    app.add_typer(fence_app, name="fence")
    report_app.command("sites")(report_sites)
