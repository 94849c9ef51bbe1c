"""docs/API.md's examples work on a fresh demo: the shell block of "Try it on the demo" runs,
as written (only the server's address changed), with curl and jq against a real server over a
fresh example city, and each step answers what the text says it answers. Its tube barcode and
box code are valid, and out of reach of the serials a simulated round hands out."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.domain.sampling import check_box_code, check_tube_barcode
from hesuan.sim.example import seed_example_city

DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"
#: Serials a simulated round hands out count up from the database's highest (one per tube,
#: one per box): a demo city of millions stays far below these.
SIM_SERIALS_BELOW = 10**10

pytestmark = pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")),
                                reason="the documented examples need curl and jq")


def _try_it_block() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Try it on the demo", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, "the section holds one shell block"
    return str(blocks[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Platform]]:
    import uvicorn

    from hesuan.entrypoints.api import create_app

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}", environment="test",
                        secret_key="examples-secret", key_file=tmp_path / "k",
                        pass_key_dir=tmp_path / "keys", sms_file=tmp_path / "sms.jsonl")
    platform = bootstrap(settings)  # the real clock: the examples stamp events with `date`
    seed_example_city(platform, people=60)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", platform
    server.should_exit = True
    thread.join(timeout=10)
    platform.close()


def test_documented_codes_are_valid_and_unused_by_a_round() -> None:
    block = _try_it_block()
    tube = re.search(r"^TUBE=(\d+)", block, re.MULTILINE)
    box = re.search(r"^BOX=(BX\d+)", block, re.MULTILINE)
    assert tube and box, block
    assert check_tube_barcode(tube[1]) == tube[1] and int(tube[1][:12]) > SIM_SERIALS_BELOW
    assert check_box_code(box[1]) == box[1] and int(box[1][2:11]) > SIM_SERIALS_BELOW // 1000
    # every barcode the page shows is that one: no example names a tube a demo has used
    barcodes = set(re.findall(r"\b\d{13}\b", DOC.read_text(encoding="utf-8")))
    assert barcodes == {tube[1]}, barcodes


def test_try_it_block_runs_on_a_fresh_example_city(server: tuple[str, Platform]) -> None:
    url, platform = server
    script = re.sub(r"^API=.*$", f"API={url}", _try_it_block(), count=1, flags=re.MULTILINE)
    assert f"API={url}" in script
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert lines[:4] == [{"status": "accepted", "reason": None}] * 4, lines
    assert lines[4]["duplicate"] is False, lines
    assert lines[5] == {"expected": 1, "received": 1, "missing": []}, lines
    assert [r["status"] for r in lines[6]["results"]] == ["accepted"], lines
    assert lines[7]["colour"] == "green", lines
    assert len(lines) == 8, lines
    with platform.engine.connect() as c:  # the server stored what it answered
        stored = c.exec_driver_sql("SELECT status, result FROM tubes").all()
    assert [tuple(r) for r in stored] == [("resulted", "negative")], stored
