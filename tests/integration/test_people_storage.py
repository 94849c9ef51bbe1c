"""People on both backends: import (CSV and Excel, idempotent, per-row errors), masking by role,
sampling-code images, scopes, and the audit of personal-data reads."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import NotFound, PermissionDenied
from hesuan.services.auth import SYSTEM
from hesuan.sim.example import make_resident_id, seed_example_city

ADMIN = Principal("a", "admin-test", Role.ADMIN)
GRID = "140105001001001"


def _rows(n: int, bad: int = 0) -> list[dict[str, str]]:
    rows = [{"id_kind": "resident", "id_number": make_resident_id("140105", date(1999, 1, 1), i),
             "name": "张小明", "phone": "13800000000", "grid_code": GRID, "groups": "",
             "language": "zh", "household_id": "", "address": "1号楼"} for i in range(n)]
    for _i in range(bad):
        rows.append(rows[0] | {"id_number": "140105199901010000"})  # bad checksum
    return rows


def test_import_is_idempotent_and_reports_bad_rows(platform: Platform) -> None:
    seed_example_city(platform, people=0)
    grids = {GRID}
    first = platform.people.import_rows(ADMIN, _rows(30, bad=2), grids, chunk=7)
    assert (first.inserted, len(first.errors)) == (30, 2)
    assert first.errors[0].field == "id_number" and first.errors[0].row == 32
    again = platform.people.import_rows(ADMIN, _rows(30, bad=2), grids)
    assert (again.inserted, again.already_present) == (0, 30)


def test_masking_depends_on_role_and_reads_are_audited(platform: Platform) -> None:
    city = seed_example_city(platform, people=5)
    with platform.deps.uow(readonly=True) as uow:
        pid = uow.conn.exec_driver_sql("SELECT id FROM people LIMIT 1").scalar()  # type: ignore[attr-defined]
    officer = Principal("o", "officer", Role.HEALTH_OFFICER, "1401")
    masked = platform.people.get(officer, pid)
    assert masked.masked and "*" in masked.id_number and "*" in masked.name
    full = platform.people.get(officer, pid, unmask=True)
    assert not full.masked and "*" not in full.id_number
    sampler = Principal("s", "sampler", Role.SAMPLER, city.sites["140105"])
    with pytest.raises(PermissionDenied):
        platform.people.get(sampler, pid)
    with pytest.raises(PermissionDenied):
        platform.people.get(sampler, pid, unmask=True)
    other = Principal("r", "resident", Role.RESIDENT, "f" * 32)
    with pytest.raises(NotFound):
        platform.people.get(other, pid)
    me = Principal("r", "resident", Role.RESIDENT, pid)
    assert not platform.people.get(me, pid).masked
    with platform.deps.uow(readonly=True) as uow:
        reads = uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT count(*) FROM audit_log WHERE action = 'person.read'").scalar()
    assert reads == 3
    svg = platform.people.sampling_code_image(me, pid, "svg")
    png = platform.people.sampling_code_image(me, pid, "png")
    assert svg.startswith(b"<?xml") and png.startswith(b"\x89PNG")


def test_personal_data_is_not_stored_in_clear(platform: Platform) -> None:
    seed_example_city(platform, people=0)
    row = _rows(1)[0]
    platform.people.import_rows(ADMIN, [row], {GRID})
    with platform.deps.uow(readonly=True) as uow:
        stored = uow.conn.exec_driver_sql("SELECT * FROM people").first()  # type: ignore[attr-defined]
    flat = repr(tuple(stored))
    assert row["id_number"] not in flat and row["phone"] not in flat and "张小明" not in flat


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_cli_people_import_streams_csv_and_excel(fmt: str, settings: Settings,
                                                 platform: Platform, tmp_path: Path) -> None:
    seed_example_city(platform, people=0)
    rows = _rows(25, bad=1)
    path = tmp_path / f"people.{fmt}"
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    else:
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.append(list(rows[0]))
        for r in rows:
            ws.append(list(r.values()))
        wb.save(path)
    env = {"HESUAN_DATABASE_URL": settings.database_url, "HESUAN_SECRET_KEY": "test-secret",
           "HESUAN_ENVIRONMENT": "test", "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "hesuan.entrypoints.cli", "people", "import", str(path)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "imported 25" in out.stderr and "errors 1" in out.stderr
    report = path.with_name("people.errors.csv").read_text()
    assert "bad_id_number" in report and ",27," in report.replace("\n", ",")
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert "imported 0" in again.stderr and "already present 25" in again.stderr


def test_several_audit_entries_in_one_transaction_keep_the_chain(platform: Platform,
                                                                 clock: FixedClock) -> None:
    # the chain's end is read once a transaction and carried between its appends
    now = clock.now()
    with platform.deps.uow() as uow:
        for k in range(3):
            uow.audit_log.append(now, "tester", "test.append", f"item:{k}", {"k": k})
        uow.commit()
    with platform.deps.uow() as uow:
        uow.audit_log.append(now, "tester", "test.append", "item:3", {"k": 3})
        uow.commit()
    with platform.deps.uow() as uow:  # rolled back: its entries are gone, the chain intact
        uow.audit_log.append(now, "tester", "test.append", "item:x", {})
    report = platform.audit.verify(SYSTEM)
    assert report.intact and report.entries >= 4
    with platform.deps.uow(readonly=True) as uow:
        subjects = [e.subject for e in uow.audit_log.entries(0, 10_000) if e.actor == "tester"]
    assert subjects == ["item:0", "item:1", "item:2", "item:3"]
