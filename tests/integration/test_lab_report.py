"""The lab report on both backends: a lab's counts over a window (received, on plates, released,
rejected, late, control failures, invalid and single-target rates, re-runs, corrections) and its
integrity list — released results no run's well names, runs released without passing controls,
tubes above their pool size, releases by one person — empty at a lab that keeps the rules, and
naming each break."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.corrections import CorrectionKind
from hesuan.domain.errors import PermissionDenied
from hesuan.entrypoints.cli.app import app as cli_app
from hesuan.services.lab import ResultInput
from hesuan.services.rejections import RejectionInput
from hesuan.sim.example import seed_example_city
from tests.integration.lab_bench import (
    ADMIN,
    NEG,
    NEGATIVE_CONTROL,
    NO_IC,
    POS,
    POSITIVE_CONTROL,
    SINGLE,
    Bench,
    plate_file,
)

CONTROLS = {"A1": POSITIVE_CONTROL, "A2": NEGATIVE_CONTROL}
FAILED_PC = {"ORF1ab": None, "N": None, "IC": 28.0}


@pytest.fixture
def bench(platform: Platform, clock: FixedClock) -> Iterator[Bench]:
    yield Bench(platform, clock, seed_example_city(platform, people=160))


def test_a_lab_that_keeps_the_rules_reports_its_work_and_an_empty_integrity_list(
        bench: Bench) -> None:
    b, u1, u2, u3 = bench, bench.lab_user(1), bench.lab_user(2), bench.lab_user(3)
    start = b.clock.now()
    neg, pos, single, invalid = b.tubes(4)
    pool = b.tubes(1, mode=5)[0]
    # a plate whose positive control failed: its tubes back to the queue, uncounted
    failed, wells = b.plate(u1, [neg, pos])
    b.p.runs.import_run(u2, failed.id, "failed.csv", plate_file(
        CONTROLS, wells, {neg: NEG, pos: POS}, pc=FAILED_PC))
    b.p.runs.release(u3, failed.id)
    # the re-run, with a single-target and an invalid well (both re-run) and a pool
    plate, wells = b.plate(u1, [neg, pos, single, invalid, pool])
    b.p.runs.import_run(u2, plate.id, "run.csv", plate_file(
        CONTROLS, wells, {neg: NEG, pos: POS, single: SINGLE, invalid: NO_IC, pool: NEG}))
    b.p.runs.release(u3, plate.id)
    # still in the lab: the two re-runs, one of them on a plate being built; one more tube
    # waiting past the 6 h target; one rejected
    b.plate(u1, [single], ready=False)
    (leaked,) = b.tubes(1)
    b.p.rejections.reject(u1, b.lab_id, RejectionInput(leaked, "leaked"))
    b.clock.advance(timedelta(hours=7))
    # a correction (two people) and a request still pending
    req = b.p.corrections.request(u1, b.lab_id, pos, CorrectionKind.CORRECTION, "swap",
                                  "negative")
    b.p.corrections.approve(u2, req.id)
    b.p.corrections.request(u1, b.lab_id, neg, CorrectionKind.CANCELLATION, "lost log")

    report = b.p.lab_reports.report(u1, b.lab_id, since=start)
    c = report.counts
    assert (c.received, c.in_lab, c.on_plates, c.late) == (6, 2, 1, 2)
    assert c.released == {"negative": 2, "positive": 1}
    assert c.rejected == {"leaked": 1}
    assert (c.plates_imported, c.control_failures) == (2, 1)
    # wells of the passing plate: 5 interpreted, one invalid, one single target; re-runs: the
    # failed plate's two, and the single-target and invalid wells
    assert (c.tube_wells, c.invalid, c.single_target, c.reruns) == (5, 1, 1, 4)
    assert c.corrections == {"pending": 1, "corrected": 1, "cancelled": 0, "declined": 0}
    assert (report.invalid_rate, report.single_target_rate, report.control_failure_rate) == (
        0.2, 0.2, 0.5)
    assert report.target_min == 360 and report.since == start
    assert report.intact, report.integrity
    # the window: nothing happened in the last hour
    quiet = b.p.lab_reports.report(u1, b.lab_id, since=b.clock.now() - timedelta(hours=1))
    assert (quiet.counts.received, quiet.counts.plates_imported, quiet.counts.released) == (
        0, 0, {})
    assert quiet.counts.corrections["corrected"] == 1


def test_the_integrity_list_names_each_break(bench: Bench) -> None:
    b, u1, u2 = bench, bench.lab_user(1), bench.lab_user(2)
    direct, alone, watched = b.tubes(3)
    # a result posted by the direct results path: no run file
    b.p.lab.record(u1, b.lab_id, [ResultInput(direct, "negative")])
    # a plate released by the one who built and imported it, where an administrator allowed it
    b.p.plates.set_one_person_release(ADMIN, b.lab_id, True)
    plate, wells = b.plate(u1, [alone])
    b.p.runs.import_run(u1, plate.id, "run.csv", plate_file(CONTROLS, wells, {alone: NEG}))
    b.p.runs.release(u1, plate.id)
    # a released plate whose stored QC says its controls failed, and a tube holding more
    # samples than it pools: states the services never write, which the list must catch
    other, wells = b.plate(u1, [watched])
    b.p.runs.import_run(u1, other.id, "other.csv", plate_file(CONTROLS, wells,
                                                               {watched: NEG}))
    b.p.runs.release(u2, other.id)
    _corrupt(b, other.id, direct)
    i = b.p.lab_reports.report(ADMIN, b.lab_id).integrity
    assert [(r.barcode, r.result) for r in i.results_without_run_file.items] == [
        (direct, "negative")]
    assert [(r.plate_id, r.qc_passed, r.released_results) for r in
            i.runs_without_passing_controls.items] == [(other.id, False, 1)]
    assert [(t.barcode, t.capacity, t.people) for t in i.tubes_above_pool_size.items] == [
        (direct, 1, 2)]
    assert [(r.kind, r.id, r.by) for r in i.releases_by_one_person.items] == [
        ("plate", plate.id, u1.user_id)]
    assert not b.p.lab_reports.report(ADMIN, b.lab_id).intact


def _corrupt(b: Bench, plate_id: str, barcode: str) -> None:
    with b.p.deps.uow() as uow:
        conn = uow.conn  # type: ignore[attr-defined]
        conn.execute(text("UPDATE plates SET qc_passed = :f WHERE id = :p"),
                     {"f": False, "p": plate_id})
        tube = conn.execute(text("SELECT id, sealed_at FROM tubes WHERE barcode = :b"),
                            {"b": barcode}).one()
        someone = conn.execute(text("SELECT id FROM people WHERE id NOT IN (SELECT person_id "
                                    "FROM samples) ORDER BY id LIMIT 1")).scalar_one()
        conn.execute(text("INSERT INTO samples (tube_id, person_id, event_id, sampled_at) "
                          "VALUES (:t, :p, 'corrupt', :at)"),
                     {"t": tube[0], "p": someone, "at": tube[1]})
        uow.commit()


def test_who_reads_a_lab_report(bench: Bench) -> None:
    b = bench
    officer = Principal("u-o", "officer", Role.HEALTH_OFFICER, "1401")
    elsewhere = Principal("u-o2", "officer", Role.HEALTH_OFFICER, "1402")
    assert b.p.lab_reports.report(officer, b.lab_id).lab_id == b.lab_id
    assert b.p.lab_reports.report(b.lab_user(1), b.lab_id).lab_id == b.lab_id
    for who, code in ((elsewhere, "wrong_scope"), (b.lab_user(1, "lab2"), "wrong_scope"),
                      (Principal("u-s", "sampler", Role.SAMPLER, "s"), "wrong_role")):
        with pytest.raises(PermissionDenied) as denied:
            b.p.lab_reports.report(who, b.lab_id)
        assert denied.value.code == code
    every = b.p.lab_reports.reports(ADMIN)
    assert {r.lab_id for r in every} == set(b.city.labs.values())
    assert [r.lab_id for r in b.p.lab_reports.reports(b.lab_user(1))] == [b.lab_id]


def test_hesuan_report_lab_json(bench: Bench, settings: Settings,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    b = bench
    (direct,) = b.tubes(1)
    b.p.lab.record(b.lab_user(1), b.lab_id, [ResultInput(direct, "negative")])
    for name, value in {"DATABASE_URL": settings.database_url, "ENVIRONMENT": "test",
                        "SECRET_KEY": "test-secret", "KEY_FILE": str(settings.key_file),
                        "PASS_KEY_DIR": str(settings.pass_key_dir),
                        "AUDIT_CHECKPOINT_DIR": str(settings.audit_checkpoint_dir),
                        "SMS_FILE": str(settings.sms_file)}.items():
        monkeypatch.setenv(f"HESUAN_{name}", value)
    out = CliRunner().invoke(cli_app, ["report", "lab", "--lab", b.lab_id, "--json",
                                       "--since", "2022-08-28T00:00:00+08:00"])
    assert out.exit_code == 0, out.output
    [report] = json.loads(out.stdout)
    assert (report["lab_id"], report["counts"]["received"], report["intact"]) == (
        b.lab_id, 1, False)
    assert report["counts"]["released"] == {"negative": 1}
    assert report["integrity"]["results_without_run_file"]["items"][0]["barcode"] == direct
    every = CliRunner().invoke(cli_app, ["report", "lab", "--json"])
    assert every.exit_code == 0, every.output
    assert {r["lab_id"] for r in json.loads(every.stdout)} == set(b.city.labs.values())
    unknown = CliRunner().invoke(cli_app, ["report", "lab", "--lab", "nope", "--json"])
    assert unknown.exit_code == 3
