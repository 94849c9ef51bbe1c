"""(g) A round's results through the lab stage as labs run it (in process): every tube of a
fresh round received by the bench lab goes onto plates of 96 wells with the assay's controls,
each plate's QuantStudio export is imported, reviewed and released by a second lab user.

Set-up, not measured: the round received by the lab (``World.received_round``, as for the
fan-out); the plates built through ``PlateService`` (made, the positive control in H12 and the
negative control in H11, the tubes scanned as racks of 94, marked ready) by the bench's lab
user; each plate's export written by the simulator (``hesuan.sim.instrument_runs``: every tube
negative — the fan-out figure's results — its internal control amplifying, the controls
passing), seeded.

Measured: for each plate, ``RunService.import_run`` by the lab user who built it, then the
review by a second lab user (``RunService.review``, the release bar, and ``PlateService.plate``,
the map and every well's result) and ``RunService.release`` by that user: the results fan out.
people/s = people whose status now shows this result / wall time; the count is checked.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bench.world import World
from hesuan.adapters.db.schema import person_status, to_ms
from hesuan.domain.assays import Assay, AssayRef
from hesuan.domain.plates import PlateSize, WellKind
from hesuan.sim.instrument_runs import (
    CONTROL_SAMPLE_NAMES,
    CONTROL_SHOWS,
    ExportWell,
    Shows,
    draw_cts,
    quantstudio_export,
)

__all__ = ["lab_release"]

CONTROLS = {"H12": WellKind.POSITIVE_CONTROL, "H11": WellKind.NEGATIVE_CONTROL}
SEED = 96


def _plates(world: World, barcodes: list[str],
            log: Any) -> list[tuple[str, str, bytes]]:
    """The round's tubes on plates, marked ready, and each plate's export file: (plate id,
    file name, bytes)."""
    p, lab = world.platform, world.users["bench-lab"]
    rng = random.Random(SEED)
    size = PlateSize.WELLS_96
    free = [w for w in size.wells() if w not in CONTROLS]
    out: list[tuple[str, str, bytes]] = []
    assays: dict[AssayRef, Assay] = {}
    for first in range(0, len(barcodes), len(free)):
        plate = p.plates.create(lab, world.lab_id)
        for well, kind in CONTROLS.items():
            p.plates.place_control(lab, plate.id, well, kind)
        rack = list(zip(free, barcodes[first:first + len(free)], strict=False))
        p.plates.place_tubes(lab, plate.id, rack)
        p.plates.mark_ready(lab, plate.id)
        assay = assays.get(plate.assay) or assays.setdefault(
            plate.assay, p.plates.plate(lab, plate.id).assay)
        wells = [ExportWell(w, k, CONTROL_SAMPLE_NAMES[k], draw_cts(assay, CONTROL_SHOWS[k], rng))
                 for w, k in CONTROLS.items()]
        wells += [ExportWell(w, WellKind.TUBE, bc, draw_cts(assay, Shows.NEGATIVE, rng))
                  for w, bc in rack]
        now = datetime.now(UTC)
        name = f"bench-run{len(out) + 1:05d}"
        out.append((plate.id, f"{name}.txt", quantstudio_export(
            assay, size, wells, run_name=name, barcode=plate.id, serial="272510001",
            user=lab.username, created=now, ended=now)))
        if len(out) % 200 == 0:
            log(f"  lab set-up: {len(out)} plates built")
    return out


def lab_release(world: World, log: Any = print) -> dict[str, Any]:
    """One run: a fresh round's results through import, review and release, plate by plate."""
    t0 = time.perf_counter()
    barcodes, expected = world.received_round()
    plates = _plates(world, barcodes, log)
    setup_s = time.perf_counter() - t0
    p, lab, reviewer = world.platform, world.users["bench-lab"], world.users["bench-reviewer"]
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    for plate_id, name, data in plates:
        imported = p.runs.import_run(lab, plate_id, name, data)
        if not imported.qc_passed:
            raise RuntimeError(f"lab: plate {plate_id}'s controls failed")
        p.runs.review(reviewer, plate_id)
        p.plates.plate(reviewer, plate_id)
        released = p.runs.release(reviewer, plate_id)
        if released.already_resulted:
            raise RuntimeError(f"lab: plate {plate_id} left {released.already_resulted[:3]}")
    elapsed = time.perf_counter() - t0
    with p.engine.connect() as c:
        people = c.execute(select(func.count()).select_from(person_status).where(
            person_status.c.last_result == "negative",
            person_status.c.last_result_at >= to_ms(started))).scalar_one()
    if people != expected:
        raise RuntimeError(f"lab: the release reached {people} people, expected {expected}")
    world.vacuum()  # PostgreSQL: clear the round's dead rows before the next figure (untimed)
    return {"tubes": len(barcodes), "plates": len(plates), "people": people,
            "elapsed_s": round(elapsed, 3), "people_per_s": round(people / elapsed),
            "plates_per_s": round(len(plates) / elapsed, 2), "setup_s": round(setup_s, 1)}
