"""A lab's bench for tests of the lab stage: tubes sampled, boxed, handed over and received by a
lab through the platform's own services; lab users; plates built and marked ready; instrument
export files — synthetic CFX Maestro Cq results for the default assay, and the three real exports
(``tests/fixtures/interop/allotropy/``) with the sample names of their tube wells set to the
barcodes of tubes received in the test."""

from __future__ import annotations

import itertools
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import HesuanError
from hesuan.domain.plates import PlateSize, WellKind
from hesuan.domain.sampling import make_box_code, make_tube_barcode
from hesuan.services.lab_ports import PlateRow
from hesuan.services.sampling import EventKind, StationEvent
from hesuan.sim.example import ExampleCity

FIXTURES = Path(__file__).parent.parent / "fixtures" / "interop" / "allotropy"
QS_TXT = "appbio_quantstudio_example02.txt"
QS_XLSX = "appbio_quantstudio_designandanalysis_QS7Pro_Presence_and_Absence_example10.xlsx"
CFX_CSV = "example01.csv"

ADMIN = Principal("u-admin", "admin", Role.ADMIN)
POSITIVE_CONTROL, NEGATIVE_CONTROL = WellKind.POSITIVE_CONTROL, WellKind.NEGATIVE_CONTROL
NO_TEMPLATE_CONTROL = WellKind.NO_TEMPLATE_CONTROL

Cts = dict[str, float | None]
#: Ct per target of the default assay (ORF1ab FAM, N VIC, IC CY5).
NEG: Cts = {"ORF1ab": None, "N": None, "IC": 28.0}
POS: Cts = {"ORF1ab": 24.0, "N": 25.5, "IC": 28.0}
SINGLE: Cts = {"ORF1ab": 31.0, "N": None, "IC": 28.0}
NO_IC: Cts = {"ORF1ab": None, "N": None, "IC": None}
_DYES = {"ORF1ab": "FAM", "N": "VIC", "IC": "Cy5"}


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass
class Bench:
    p: Platform
    clock: FixedClock
    city: ExampleCity
    _people: Iterator[str] = field(init=False)
    _serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        with self.p.deps.uow(readonly=True) as uow:
            plain = [r[0] for r in uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
                "SELECT id FROM people WHERE groups = '' ORDER BY id").all()]
        self._people = iter(plain)

    @property
    def lab_id(self) -> str:
        return self.city.labs["lab1"]

    def lab_user(self, k: int, lab: str = "lab1") -> Principal:
        return Principal(f"u-{lab}-{k}", f"{lab}-user{k}", Role.LAB, self.city.labs[lab])

    def person(self) -> str:
        return next(self._people)

    def _ev(self, site: str, kind: EventKind, **kw: Any) -> StationEvent:
        return StationEvent(str(uuid.uuid4()), kind, site, self.clock.now(), **kw)

    def tubes(self, n: int, *, mode: int = 1, site: str = "140105", lab: str | None = "lab1",
              members: list[list[str]] | None = None) -> list[str]:
        """``n`` tubes of ``mode`` people each, sampled and sealed in a box at ``site``, the
        box handed over and received by ``lab`` (None: left in transit). Their barcodes."""
        site_id = self.city.sites[site]
        sampler = Principal("u-s", "sampler", Role.SAMPLER, site_id)
        serial = next(self._serial)
        barcodes = [make_tube_barcode(10_000 * serial + i) for i in range(n)]
        events: list[StationEvent] = []
        for i, bc in enumerate(barcodes):
            people = members[i] if members else [self.person() for _ in range(mode)]
            events.append(self._ev(site_id, EventKind.OPEN_TUBE, barcode=bc, mode=mode))
            events += [self._ev(site_id, EventKind.SAMPLE, barcode=bc,
                                code=self.p.deps.codes.sign(pid)) for pid in people]
            if len(people) < mode:
                events.append(self._ev(site_id, EventKind.SEAL_TUBE, barcode=bc))
        box = make_box_code(1000 + serial)
        events += [self._ev(site_id, EventKind.BOX_TUBE, barcode=bc, box_code=box)
                   for bc in barcodes]
        events.append(self._ev(site_id, EventKind.SEAL_BOX, box_code=box))
        out = self.p.sampling.submit(sampler, events)
        assert all(o.status == "accepted" for o in out), [
            (o.reason, o.message) for o in out if o.status != "accepted"]
        courier = Principal("u-c", "courier", Role.COURIER)
        self.p.delivery.hand_over(courier, str(uuid.uuid4()), box, self.clock.now())
        if lab is not None:
            self.clock.advance(timedelta(minutes=30))
            receiver = self.lab_user(0, lab)
            receipt = self.p.delivery.receive(receiver, str(uuid.uuid4()), self.city.labs[lab],
                                              box, self.clock.now(), barcodes)
            assert receipt.received == n and not receipt.discrepancy
        return barcodes

    def plate(self, user: Principal, tubes: Sequence[str], *,
              controls: Mapping[str, WellKind] | None = None, size: int = 96,
              ready: bool = True) -> tuple[PlateRow, dict[str, str]]:
        """A plate with ``controls`` (by default a positive control in A1 and a negative one
        in A2) and ``tubes`` in the next free wells, row by row; marked ready. The plate and
        each tube's well."""
        controls = {"A1": POSITIVE_CONTROL, "A2": NEGATIVE_CONTROL} if controls is None \
            else controls
        plate = self.p.plates.create(user, self.lab_id, size)
        for well, kind in controls.items():
            self.p.plates.place_control(user, plate.id, well, kind)
        free = (w for w in PlateSize(size).wells() if w not in controls)
        wells = {}
        for bc in tubes:
            wells[bc] = next(free)
            self.p.plates.place_tube(user, plate.id, wells[bc], bc)
        if ready:
            plate = self.p.plates.mark_ready(user, plate.id)
        return plate, wells

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.p.deps.uow(readonly=True) as uow:
            return uow.conn.execute(text(sql), params).scalar()  # type: ignore[attr-defined]

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.p.deps.uow(readonly=True) as uow:
            return list(uow.conn.execute(text(sql), params).all())  # type: ignore[attr-defined]

    def members(self, barcode: str) -> list[str]:
        return [r[0] for r in self.rows(
            "SELECT s.person_id FROM samples s JOIN tubes t ON t.id = s.tube_id "
            "WHERE t.barcode = :b ORDER BY s.person_id", b=barcode)]

    def test_states(self, barcode: str) -> set[str]:
        return {r[0] for r in self.rows(
            "SELECT ps.test_state FROM person_status ps JOIN samples s ON "
            "s.person_id = ps.person_id JOIN tubes t ON t.id = s.tube_id WHERE t.barcode = :b",
            b=barcode)}


# -- instrument files -----------------------------------------------------------------------------

def cfx_csv(wells: Mapping[str, tuple[str, str, Cts]]) -> bytes:
    """A CFX Maestro Cq results export for the default assay: per well (``A1``) its content
    (``Unkn``, ``Pos Ctrl``, ``Neg Ctrl``, ``NTC``), sample name and Ct per target."""
    lines = [",Well,Fluor,Target,Content,Sample,Biological Set Name,Cq"]
    for well, (content, sample, cts) in wells.items():
        name = f"{well[0]}{int(well[1:]):02d}"
        for target, dye in _DYES.items():
            ct = cts[target]
            lines.append(f",{name},{dye},{target},{content},{sample},,"
                         f"{'NaN' if ct is None else ct}")
    return ("\n".join(lines) + "\n").encode()


def plate_file(controls: Mapping[str, WellKind], tubes: Mapping[str, str],
               cts: Mapping[str, Cts], *, pc: Cts = POS, nc: Cts = NEG) -> bytes:
    """The CFX export of a plate: its controls (passing, unless ``pc``/``nc`` say otherwise)
    and each tube's well (``tubes``: barcode → well) with its Ct values (``cts`` by
    barcode)."""
    content = {POSITIVE_CONTROL: ("Pos Ctrl", "PC", pc), NEGATIVE_CONTROL: ("Neg Ctrl", "NC", nc),
               NO_TEMPLATE_CONTROL: ("NTC", "NTC", nc)}
    wells: dict[str, tuple[str, str, Cts]] = {w: content[k] for w, k in controls.items()}
    for bc, well in tubes.items():
        wells[well] = ("Unkn", bc, cts[bc])
    return cfx_csv(wells)


def renamed_qs_txt(names: Mapping[str, str]) -> bytes:
    """The real QuantStudio text export with the sample name of each well in ``names`` (well →
    name) replaced, in its [Sample Setup] and [Results] tables; every other byte as it was."""
    out: list[str] = []
    columns: tuple[int, int] | None = None
    for line in fixture_bytes(QS_TXT).decode().splitlines(keepends=True):
        cells = line.rstrip("\r\n").split("\t")
        if line.startswith("["):
            columns = None
        elif "Well Position" in cells and "Sample Name" in cells:
            columns = (cells.index("Well Position"), cells.index("Sample Name"))
        elif columns is not None and len(cells) > max(columns) and cells[columns[0]] in names:
            cells[columns[1]] = names[cells[columns[0]]]
            line = "\t".join(cells) + line[len(line.rstrip("\r\n")):]
        out.append(line)
    return "".join(out).encode()


def renamed_cfx_csv(names: Mapping[str, str]) -> bytes:
    """The real CFX Maestro export with the sample names of the wells in ``names`` (``A1``)
    replaced."""
    lines = fixture_bytes(CFX_CSV).decode().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        well = f"{cells[1][0]}{int(cells[1][1:])}"
        if well in names:
            cells[5] = names[well]
        out.append(",".join(cells))
    return ("\n".join(out) + "\n").encode()


def renamed_qs_xlsx(names: Mapping[str, str]) -> bytes:
    """The real QuantStudio Design & Analysis workbook with the sample names of the wells in
    ``names`` replaced on its Results sheet (column D; the well is column B)."""
    source = zipfile.ZipFile(BytesIO(fixture_bytes(QS_XLSX)))
    sheet = source.read("xl/worksheets/sheet1.xml").decode()

    def row(m: re.Match[str]) -> str:
        xml = m.group(0)
        well = re.search(r'<c r="B\d+"[^>]*><is><t>([A-P]\d{1,2})</t></is></c>', xml)
        if well is None or well.group(1) not in names:
            return xml
        return re.sub(r'(<c r="D\d+"[^>]*><is><t>)[^<]*(</t></is></c>)',
                      lambda d: d.group(1) + names[well.group(1)] + d.group(2), xml)

    sheet = re.sub(r"<row [^>]*>.*?</row>", row, sheet, flags=re.S)
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = sheet.encode() if info.filename == "xl/worksheets/sheet1.xml" \
                else source.read(info.filename)
            out.writestr(info, data)
    return buf.getvalue()


def refused(error: type[HesuanError], code: str, call: Callable[[], object]) -> HesuanError:
    """``call`` raises ``error`` with ``code``; the error, for more checks."""
    with pytest.raises(error) as caught:
        call()
    assert caught.value.code == code, caught.value
    return caught.value
