"""Every JSON report the ``hesuan`` command prints holds to its JSON Schema, the one
docs/REPORTS.md documents (``docs/schemas/``): lists are lists, times are ISO 8601 UTC strings,
counts are integers — on both backends, over a simulated round with every fault injected, so
every reconciliation list has items. Without ``--json`` the coverage report and the open alerts
are tables, never a Python dict; progress goes to stderr and never into the JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from hesuan.config import Settings
from hesuan.entrypoints.cli.app import app as cli_app
from hesuan.entrypoints.cli.simulate import _lab_reports, _lis
from tests.helpers import schema_problems

#: Each report, the command that prints it and the schema it holds to.
REPORTS: dict[str, list[str]] = {
    "turnaround": ["report", "turnaround", "--json"],
    "reconcile": ["report", "reconcile", "--json"],
    "coverage": ["report", "coverage", "--json", "--level", "district"],
    "coverage-grid": ["report", "coverage", "--json"],
    "coverage-snapshot": ["report", "coverage", "--json", "--snapshot"],
    "positives": ["report", "positives", "--json"],
    "prevalence": ["report", "prevalence", "--json"],
    "sites": ["report", "sites", "--json"],
    "lab": ["report", "lab", "--json", "--since", "2022-08-28T00:00:00Z"],
    "alerts": ["alerts", "--json"],
}
SCHEMA_OF = {"coverage-grid": "coverage", "coverage-snapshot": "coverage"}


def _utc(text: str) -> datetime:
    """A report's time: ISO 8601 in UTC with the Z offset."""
    assert text.endswith("Z"), text
    t = datetime.fromisoformat(text)
    assert t.utcoffset() == timedelta(0), text
    return t


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {"DATABASE_URL": settings.database_url, "ENVIRONMENT": "test",
                        "SECRET_KEY": "test-secret", "KEY_FILE": str(settings.key_file),
                        "PASS_KEY_DIR": str(settings.pass_key_dir),
                        "AUDIT_CHECKPOINT_DIR": str(settings.audit_checkpoint_dir),
                        "SMS_FILE": str(settings.sms_file)}.items():
        monkeypatch.setenv(f"HESUAN_{name}", value)
    monkeypatch.setenv("COLUMNS", "160")
    return settings


ELR_ROUTE = {"ENABLED": "true", "SENDING_APPLICATION_OID": "2.16.156.10011.99.1",
             "SENDING_FACILITY": "city", "SENDING_FACILITY_OID": "2.16.156.10011.99.2",
             "RECEIVING_APPLICATION": "elr", "RECEIVING_APPLICATION_OID": "2.16.156.10011.99.3",
             "RECEIVING_FACILITY": "authority", "RECEIVING_FACILITY_OID": "2.16.156.10011.99.4"}


@pytest.fixture
def simulated(cli_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A city of 2,000 and a 24 h round with every fault, through the commands, its lab reports
    to the authority written to a folder beside the database; the round's summary
    (``simulate --json``)."""
    for name, value in {**ELR_ROUTE, "FOLDER": str(_elr_folder(cli_env))}.items():
        monkeypatch.setenv(f"HESUAN_ELR_{name}", value)
    runner = CliRunner()
    # this start puts the round's correction of a pool past the lab's 6 h target: the
    # corrected result is a late one, and the round's own check must expect it
    start = "2026-11-30T00:00:00+08:00"
    city = runner.invoke(cli_app, ["city", "generate", "--people", "2000", "--seed", "5",
                                   "--workers", "0", "--start", start])
    assert city.exit_code == 0, city.output
    out = runner.invoke(cli_app, [
        "simulate", "--hours", "24", "--prevalence", "0.01", "--seed", "5", "--json",
        "--start", start, "--faults", "lost_tube,box_missing_tube,unknown_result,late_courier"])
    assert out.exit_code == 0, out.stderr
    yield json.loads(out.stdout)  # the summary's table goes to stderr



def _city_generated(people: int, seed: int) -> CliRunner:
    """A runner, after ``hesuan city generate`` made a city of ``people`` (one process)."""
    runner = CliRunner()
    city = runner.invoke(cli_app, ["city", "generate", "--people", str(people), "--seed",
                                   str(seed), "--workers", "0"])
    assert city.exit_code == 0, city.output
    return runner

def _elr_folder(settings: Settings) -> Path:
    return Path(settings.sms_file).parent / "elr"


def test_every_json_report_holds_to_its_schema(simulated: dict[str, Any],
                                               cli_env: Settings) -> None:
    assert not schema_problems("simulate", simulated)
    # the round's lab reports reached the authority's folder, each message once
    out = simulated["housekeeping"]["lab_reports_out"]
    files = list(_elr_folder(cli_env).iterdir())
    assert out["sent"] == len(files) > 0 and out["failed"] == out["in_doubt"] == 0, out
    assert {f.suffix for f in files} == {".hl7", ".json"}
    assert _lab_reports(simulated["housekeeping"]).startswith(f"{out['sent']:,} sent")
    assert _lab_reports({"lab_reports_out": None}).startswith("off")
    # the round's LIS checked its link with a training message: refused
    assert simulated["lis"]["link_check"] == "AR"
    assert _lis(simulated["lis"]).endswith("link check AR"), _lis(simulated["lis"])
    assert _lis({"lab_id": None}).startswith("no LIS lab")
    runner = CliRunner()
    reports: dict[str, Any] = {}
    for name, args in REPORTS.items():
        out = runner.invoke(cli_app, args)
        assert out.exit_code == 0, (name, out.stderr)
        reports[name] = data = json.loads(out.stdout)
        assert not schema_problems(SCHEMA_OF.get(name, name), data), (name, schema_problems(
            SCHEMA_OF.get(name, name), data))
    recon = reports["reconcile"]
    [box] = recon["box_discrepancies"]["items"]
    assert isinstance(box["missing"], list) and len(box["missing"]) == 1, box
    assert box["extra"] == []
    [unknown] = recon["results_for_unknown_tubes"]["items"]
    _utc(unknown["at"])
    for lab in reports["lab"]:
        _utc(lab["as_of"])
    assert reports["alerts"] and all(a["closed_at"] is None for a in reports["alerts"])
    assert {a["kind"] for a in reports["alerts"]} >= {"late_box"}
    # the audit chain's verification, with a checkpoint signed now
    assert runner.invoke(cli_app, ["audit", "checkpoint"]).exit_code == 0
    verified = runner.invoke(cli_app, ["audit", "verify", "--json"])
    assert verified.exit_code == 0, verified.stderr
    audit = json.loads(verified.stdout)
    assert not schema_problems("audit-verify", audit), schema_problems("audit-verify", audit)
    assert audit["checkpoint"] is not None
    # district level: the levels below are empty lists
    assert reports["coverage"]["streets"] == reports["coverage"]["grids"] == []
    assert reports["coverage-grid"]["grids"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_coverage_and_alerts_print_tables_and_progress_stays_on_stderr(
        simulated: dict[str, Any]) -> None:
    runner = CliRunner()
    coverage = runner.invoke(cli_app, ["report", "coverage", "--level", "district"])
    assert coverage.exit_code == 0, coverage.stderr
    text = coverage.stdout
    assert "{" not in text and "'due'" not in text, text
    assert "小店区" in text and "140105" in text, text
    assert "district" in text and "coverage" in text and "outstanding" in text, text
    assert "│" in text or "┃" in text, text  # a Rich table
    total = runner.invoke(cli_app, ["report", "coverage", "--level", "district", "--json"])
    due = json.loads(total.stdout)["total"]["due"]
    assert f"{due:,}" in text
    snapshot = runner.invoke(cli_app, ["report", "coverage", "--snapshot", "--level",
                                       "district"])
    assert snapshot.exit_code == 0 and "{" not in snapshot.stdout, snapshot.stdout
    assert "小店区" in snapshot.stdout

    # every report, read by a person: tables, never a Python dict
    for name in ("turnaround", "reconcile", "positives", "prevalence", "sites", "lab"):
        shown = runner.invoke(cli_app, ["report", name])
        assert shown.exit_code == 0, (name, shown.stderr)
        assert "{'" not in shown.stdout and "│" in shown.stdout, (name, shown.stdout)

    # the reconciliation's lists: a row each, its count and its first items by their first key
    recon = json.loads(runner.invoke(cli_app, ["report", "reconcile", "--json"]).stdout)
    shown_recon = runner.invoke(cli_app, ["report", "reconcile"]).stdout
    [box] = recon["box_discrepancies"]["items"]
    assert re.search(rf"box discrepancies\s*│\s*1\s*│\s*{next(iter(box.values()))}",
                     shown_recon), shown_recon
    lab = recon["lab"]
    assert f"lab stage: plates {lab['plates']:,} (released {lab['plates_released']:,}" \
        in shown_recon, shown_recon

    alerts = runner.invoke(cli_app, ["alerts"])
    assert alerts.exit_code == 0, alerts.stderr
    listed = json.loads(runner.invoke(cli_app, ["alerts", "--json"]).stdout)
    assert listed
    for a in listed:
        subject = a["detail"].get("box_code") or a["detail"].get("barcode") or a["subject_id"]
        assert a["kind"] in alerts.stdout and subject in alerts.stdout, (a, alerts.stdout)
    assert "open" in alerts.stderr and "raised" in alerts.stderr

    # a long command's progress: on stderr, the JSON alone on stdout
    for args in (["report", "reconcile", "--json"], ["report", "coverage", "--json"],
                 ["alerts", "--json"], ["audit", "verify", "--json"]):
        out = runner.invoke(cli_app, args)
        json.loads(out.stdout)
        assert any(w in out.stderr for w in ("computing", "checking")), (args, out.stderr)
    for args, doing in ((["sweep"], "sweeping"), (["notify"], "delivering"),
                        (["roster", "snapshot"], "counting")):
        out = runner.invoke(cli_app, args)
        assert out.exit_code == 0, (args, out.stderr)
        assert doing in out.stderr, (args, out.stderr)
    in_doubt = runner.invoke(cli_app, ["notify", "--in-doubt"])
    assert in_doubt.exit_code == 0 and json.loads(in_doubt.stdout) == [], in_doubt.stderr


def test_a_time_span_is_an_iso_8601_duration(capsys: pytest.CaptureFixture[str]) -> None:
    from hesuan.entrypoints.cli.common import print_json

    print_json({"interval": timedelta(days=3), "grace": timedelta(hours=24),
                "lead": timedelta(hours=12, minutes=30), "tick": timedelta(seconds=1.5),
                "none": timedelta(0), "back": -timedelta(minutes=5),
                "at": datetime(2022, 8, 29, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))})
    assert json.loads(capsys.readouterr().out) == {
        "interval": "P3D", "grace": "P1D", "lead": "PT12H30M", "tick": "PT1.5S",
        "none": "PT0S", "back": "-PT5M", "at": "2022-08-29T00:00:00Z"}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_policy_list_and_roster_snapshot_write_iso_8601(cli_env: Settings) -> None:
    runner = _city_generated(people=300, seed=5)
    out = runner.invoke(cli_app, ["policy", "list"])
    assert out.exit_code == 0, out.stderr
    policies = json.loads(out.stdout)
    assert policies
    for policy in policies:
        for key in ("interval", "grace", "reminder_lead"):
            assert re.fullmatch(r"-?P(\d+D)?(T(\d+H)?(\d+M)?([\d.]+S)?)?", policy[key]), policy
        _utc(policy["valid_from"])
    snapshot = runner.invoke(cli_app, ["roster", "snapshot"])
    assert snapshot.exit_code == 0, snapshot.stderr
    _utc(json.loads(snapshot.stdout)["as_of"])


@pytest.mark.parametrize("backend", ["sqlite"])
def test_results_import_shows_its_progress(cli_env: Settings, tmp_path: Path) -> None:
    runner = _city_generated(people=300, seed=5)
    lab = json.loads(runner.invoke(cli_app, ["report", "lab", "--json"]).stdout)[0]["lab_id"]
    rows = tmp_path / "results.csv"
    rows.write_text("barcode,result\n" + "".join(f"99999900{i:04d}0,negative\n"
                                                  for i in range(2500)), encoding="utf-8")
    out = runner.invoke(cli_app, ["results", "import", str(rows), "--lab", lab])
    assert out.exit_code == 0, out.stderr
    assert "recording results.csv" in out.stderr and "2500/2500" in out.stderr, out.stderr
    assert "rows 2500" in out.stderr and out.stdout == ""


def test_venues_from_the_command_line(cli_env: Settings) -> None:
    """``hesuan fence add-venue`` registers a venue and prints its id (the scope of its door
    device's account); ``hesuan fence venues`` lists them as JSON; a bad code and a region that
    does not exist are refused, saying so."""
    runner = _city_generated(people=50, seed=1)
    added = runner.invoke(cli_app, ["fence", "add-venue", "mall-0001", "万达广场",
                                    "--region", "140105"])
    assert added.exit_code == 0, added.output
    vid = re.search(r"registered venue MALL-0001 id=([0-9a-f]{32})", added.output)
    assert vid is not None, added.output
    listed = runner.invoke(cli_app, ["fence", "venues"])
    assert listed.exit_code == 0, listed.output
    rows = {v["code"]: v for v in json.loads(listed.stdout)}
    assert rows["MALL-0001"]["id"] == vid.group(1) and rows["MALL-0001"]["name"] == "万达广场"
    assert len(rows) == 2  # and the generated city's venue
    _utc(rows["MALL-0001"]["created_at"])
    nowhere = runner.invoke(cli_app, ["fence", "add-venue", "NOWHERE-1", "无",
                                      "--region", "999999"])
    assert nowhere.exit_code != 0 and "unknown_region" in nowhere.output
    bad = runner.invoke(cli_app, ["fence", "add-venue", "a b", "x", "--region", "140105"])
    assert bad.exit_code != 0 and "bad_venue_code" in bad.output


def test_checkpoints_from_the_command_line(cli_env: Settings) -> None:
    """``hesuan fence add-checkpoint`` registers a checkpoint and prints its id (the scope of
    its device's account, ``hesuan users create … --role venue --scope ID``); ``hesuan fence
    checkpoints`` lists them as JSON; a region that does not exist is refused, saying so."""
    runner = _city_generated(people=50, seed=1)
    added = runner.invoke(cli_app, ["fence", "add-checkpoint", "TYN-RAIL", "太原站",
                                    "--kind", "station", "--region", "140105"])
    assert added.exit_code == 0, added.output
    cid = re.search(r"id=([0-9a-f]{32})", added.output)
    assert cid is not None, added.output
    listed = runner.invoke(cli_app, ["fence", "checkpoints"])
    assert listed.exit_code == 0, listed.output
    rows = {c["code"]: c for c in json.loads(listed.stdout)}
    assert rows["TYN-RAIL"]["id"] == cid.group(1) and rows["TYN-RAIL"]["kind"] == "station"
    assert any(code.startswith("GS-") for code in rows)  # the generated city's highway exit
    _utc(rows["TYN-RAIL"]["created_at"])
    nowhere = runner.invoke(cli_app, ["fence", "add-checkpoint", "NOWHERE-1", "无",
                                      "--kind", "highway", "--region", "999999"])
    assert nowhere.exit_code != 0 and "unknown_region" in nowhere.output
    wrong = runner.invoke(cli_app, ["fence", "add-checkpoint", "X-1234", "x", "--kind", "boat",
                                    "--region", "140105"])
    assert wrong.exit_code != 0


def test_zones_tick_from_the_command_line(cli_env: Settings) -> None:
    """``hesuan zones tick`` runs the scheduler's zone step once and says what it did."""
    runner = _city_generated(people=50, seed=1)
    ticked = runner.invoke(cli_app, ["zones", "tick"])
    assert ticked.exit_code == 0, ticked.output
    assert "started 0, expired 0" in ticked.output
