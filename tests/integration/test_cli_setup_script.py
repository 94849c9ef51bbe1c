"""``scripts/setup.sh`` says what it is doing during the first set-up (a minute of installing on
a fresh machine): each step, the time so far, and while pip works what it is at; a second run
says it is up to date; a failed install shows the end of pip's log. Run on a copy of the script
beside a small project of its own, whose build backend is in its tree (PEP 517 ``backend-path``),
so pip installs it offline (no index) through the real steps in a few seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "setup.sh"

PYPROJECT = """\
[build-system]
requires = []
build-backend = "probe_backend"
backend-path = ["."]

[project]
name = "setup-sh-probe"
version = "0"

[project.optional-dependencies]
dev = []
lab = []
interop = []
"""

#: The smallest PEP 517/660 backend: a wheel holding the one module, for a build or an
#: editable install alike.
BACKEND = """\
import zipfile

NAME = "setup_sh_probe-0"
FILES = {"probe.py": "", NAME + ".dist-info/METADATA":
         "Metadata-Version: 2.1\\nName: setup-sh-probe\\nVersion: 0\\n"
         "Provides-Extra: dev\\nProvides-Extra: lab\\nProvides-Extra: interop\\n",
         NAME + ".dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: probe\\n"
         "Root-Is-Purelib: true\\nTag: py3-none-any\\n"}


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = NAME + "-py3-none-any.whl"
    with zipfile.ZipFile(f"{wheel_directory}/{name}", "w") as z:
        for path, text in FILES.items():
            z.writestr(path, text)
        z.writestr(NAME + ".dist-info/RECORD",
                   "".join(f"{p},," + "\\n" for p in [*FILES, NAME + ".dist-info/RECORD"]))
    return name


build_editable = build_wheel
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_setup_says_what_it_is_doing(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts" / "setup.sh")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (tmp_path / "probe_backend.py").write_text(BACKEND, encoding="utf-8")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHON": sys.executable,
           "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}  # offline
    first = subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], env=env,
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    said = first.stderr
    assert "creating the virtual environment" in said, said
    assert "installing Hesuan" in said and "about a minute" in said, said
    assert "set-up done in" in said, said
    assert (tmp_path / ".venv" / ".hesuan-installed").exists()
    again = subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stderr, again.stderr

    # an install that fails says which step failed and shows the end of pip's log
    (tmp_path / "probe_backend.py").write_text("raise ImportError('no-such-package-x')\n")
    # pyproject.toml newer than the last install: install again
    os.utime(tmp_path / ".venv" / ".hesuan-installed", (1, 1))
    failed = subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], env=env,
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0
    assert "installing Hesuan" in failed.stderr and "failed" in failed.stderr, failed.stderr
    assert "no-such-package-x" in failed.stderr, failed.stderr
