"""The files docs/DEPLOY.md installs hold together: the production settings example is a valid
production configuration with a replica, and the systemd units run commands and options the
``hesuan`` command has. (nginx's site file is checked by ``nginx -t`` and run in
``scripts/deploy-test.sh``.)"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hesuan.config import Settings
from hesuan.entrypoints.cli.app import app as cli_app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _env_file() -> dict[str, str]:
    out = {}
    for line in (DEPLOY / "hesuan.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_the_production_settings_example_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("HESUAN_")]:
        monkeypatch.delenv(key)
    for key, value in _env_file().items():
        monkeypatch.setenv(key, value)
    s = Settings(_env_file=None)
    assert s.environment == "production" and not s.docs_enabled
    assert s.database_url.startswith("postgresql+psycopg://")
    assert s.database_replica_url is not None and s.database_replica_url.startswith("postgresql")
    assert s.sms_sender == "kannel" and s.workers == 1
    # every app process reads this file: a listener port here would be taken by each of them
    # (labs' listeners have units and files of their own, hesuan-mllp@.service)
    assert s.mllp_port is None and s.mllp_lab is None


@pytest.mark.parametrize("unit", sorted(p.name for p in (DEPLOY / "systemd").glob("*.service")))
def test_every_unit_runs_a_command_hesuan_has(unit: str) -> None:
    text = (DEPLOY / "systemd" / unit).read_text()
    commands = re.findall(r"/opt/hesuan/\.venv/bin/hesuan ([a-z -]+?)(?: [\"/%-]|$)", text,
                          re.MULTILINE)
    assert commands, unit
    for command in commands:
        words = command.split()
        r = CliRunner().invoke(cli_app, [*words, "--help"])
        assert r.exit_code == 0, (unit, command, r.output)
        for line in re.findall(rf"hesuan {command}( .*)?$", text, re.MULTILINE):
            for flag in re.findall(r"--[a-z-]+", line):
                assert flag in r.output, (unit, command, flag)


def test_the_lab_drop_folder_is_one_folder_in_the_files_that_name_it() -> None:
    """The folder the labs' SFTP accounts are locked into (deploy/ssh/hesuan-labs.conf) is the
    one the setting names (the example's commented line) and the app processes may write."""
    (chroot,) = re.findall(r"^\s*ChrootDirectory (\S+)$",
                           (DEPLOY / "ssh" / "hesuan-labs.conf").read_text(), re.MULTILINE)
    (setting,) = re.findall(r"^# HESUAN_LAB_DROP_FOLDER=(\S+)$",
                            (DEPLOY / "hesuan.env.example").read_text(), re.MULTILINE)
    (writable,) = re.findall(r"^ReadWritePaths=(.*)$",
                             (DEPLOY / "systemd" / "hesuan@.service").read_text(), re.MULTILINE)
    assert chroot == setting and f"-{setting}" in writable.split(), (chroot, setting, writable)
