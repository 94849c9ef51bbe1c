"""``hesuan zones …``: zones (designate, lift, split, shrink, tick, GeoJSON import and export)
and region boundaries (GeoJSON import and export).

Imports: Typer, ``hesuan.domain``, ``hesuan.entrypoints.cli.common``; at call time
``hesuan.services``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from hesuan.domain.zones import ZoneKind, ZoneRules, default_rules
from hesuan.entrypoints.cli.common import (
    CLI_PRINCIPAL,
    JsonOpt,
    console,
    opened,
    parse_time,
    print_json,
)

__all__ = ["register"]

zones_app = typer.Typer(help="Zones (封控区/管控区/防范区) and region boundaries.",
                        no_args_is_help=True)


def _time(value: str | None, option: str) -> datetime | None:
    return parse_time(value, option, ", e.g. 2022-09-05T00:00:00+08:00 (without an offset: "
                      "local time)")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{path}: not readable JSON ({exc})") from None


def _zone_line(z: dict[str, Any]) -> str:
    return (f"{z['id']}  {z['kind']:<10} {z['status']:<9} people {z['people'] or 0:>7,}  "
            f"{z['name']}")


@zones_app.command("list")
def zones_list(all_: Annotated[bool, typer.Option("--all", help="ended zones too")] = False,
               as_json: JsonOpt = False) -> None:
    """Zones (active and scheduled, or all)."""
    from hesuan.services.zones import zone_view

    with opened() as p:
        zs = [zone_view(z) for z in p.zones.list_zones(CLI_PRINCIPAL, active_only=not all_)]
    if as_json:
        print_json(zs)
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
    starts_at: Annotated[str | None, typer.Option(
        help="ISO 8601 time; without an offset, local time (default now)")] = None,
    planned_end: Annotated[str | None, typer.Option(
        help="ISO 8601 time; without an offset, local time")] = None,
    cadence_hours: Annotated[float | None, typer.Option(help="test every N h in the zone")] = None,
    colour: Annotated[str | None, typer.Option(help="red, popup or yellow")] = None,
) -> None:
    """Designate a zone; its people's status changes now (if it starts now)."""
    from hesuan.services.zones import ZoneInput, parse_area, zone_view

    base = default_rules(kind)
    rules = ZoneRules(cadence_hours if cadence_hours is not None else base.cadence_hours,
                      base.sampling_mode, base.movement, colour)
    with opened() as p:
        z = p.zones.designate(CLI_PRINCIPAL, ZoneInput(
            name, kind, [parse_area(a) for a in area or []],
            _read_json(polygon) if polygon else None, _time(starts_at, "--starts-at"),
            _time(planned_end, "--planned-end"), rules))
    console.print(_zone_line(zone_view(z)))


@zones_app.command("lift")
def zones_lift(zone_id: str, reason: Annotated[str, typer.Option(help="why (解封)")]) -> None:
    """Lift a zone; its people are restored in bulk."""
    from hesuan.services.zones import zone_view

    with opened() as p:
        z = p.zones.lift(CLI_PRINCIPAL, zone_id, reason)
    console.print(_zone_line(zone_view(z)))


@zones_app.command("split")
def zones_split(zone_id: str, part: Annotated[list[str], typer.Option(
        help="KIND=AREA[,AREA…] for each part (repeat), e.g. sealed=140105001001001")]) -> None:
    """Split a zone into parts (分区切割), each with its own kind."""
    from hesuan.services.zones import ZonePart, parse_area, zone_view

    parts = []
    for text in part:
        kind, _, areas = text.partition("=")
        try:
            k = ZoneKind(kind.strip())
        except ValueError:
            raise typer.BadParameter("--part must be KIND=AREA[,AREA…]") from None
        parts.append(ZonePart(kind=k, areas=[parse_area(a) for a in areas.split(",") if a]))
    with opened() as p:
        for z in p.zones.split(CLI_PRINCIPAL, zone_id, parts):
            console.print(_zone_line(zone_view(z)))


@zones_app.command("shrink")
def zones_shrink(zone_id: str, area: Annotated[list[str], typer.Option(
        help="the smaller zone's areas (repeat)")]) -> None:
    """Shrink a zone (划小单元) to some of its areas."""
    from hesuan.services.zones import ZonePart, parse_area, zone_view

    with opened() as p:
        z = p.zones.shrink(CLI_PRINCIPAL, zone_id,
                           ZonePart(areas=[parse_area(a) for a in area]))
    console.print(_zone_line(zone_view(z)))


@zones_app.command("tick")
def zones_tick() -> None:
    """Start scheduled zones and expire zones past their planned end.

    The scheduler inside hesuan serve does this every few minutes."""
    with opened() as p:
        r = p.zones.tick(CLI_PRINCIPAL)
    console.print(f"started {r.started}, expired {r.expired}")


@zones_app.command("import")
def zones_import(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Designate zones from a GeoJSON FeatureCollection.

    Each feature's properties: name, kind, areas, planned_end, rules; its geometry: a polygon
    or null."""
    with opened() as p:
        print_json([o.answer() for o in p.zones.import_geojson(CLI_PRINCIPAL,
                                                                _read_json(file))])


@zones_app.command("export")
def zones_export(out: Annotated[Path | None, typer.Option(help="file (default stdout)")] = None,
                 all_: Annotated[bool, typer.Option("--all")] = False) -> None:
    """Zones as GeoJSON."""
    with opened() as p:
        fc = p.zones.export_geojson(CLI_PRINCIPAL, active_only=not all_)
    if out:
        out.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    else:
        print_json(fc)


@zones_app.command("boundaries-import")
def boundaries_import(
    file: Annotated[Path | None, typer.Argument(dir_okay=False, help="GeoJSON (default: the "
                                                "shipped district boundaries)")] = None,
) -> None:
    """Region boundaries (polygons) or grid centres (points) from GeoJSON."""
    from importlib import resources

    if file is None:
        fc = json.loads(resources.files("hesuan").joinpath(
            "data/taiyuan-districts.geojson").read_text(encoding="utf-8"))
        source = "taiyuan-districts.geojson"
    else:
        fc, source = _read_json(file), file.name
    with opened() as p:
        n = p.zones.import_boundaries(CLI_PRINCIPAL, fc, source=source)
    console.print(f"imported {n} boundaries/centres from {source}")


@zones_app.command("boundaries-export")
def boundaries_export(level: Annotated[int, typer.Option(help="code length: 6 districts, "
                                                              "15 grid centres")] = 6,
                      out: Annotated[Path | None, typer.Option()] = None) -> None:
    with opened() as p:
        fc = p.zones.export_boundaries(CLI_PRINCIPAL, level=level)
    if out:
        out.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    else:
        print_json(fc)


def register(app: typer.Typer) -> None:
    app.add_typer(zones_app, name="zones")
