"""Results files a lab's system drops into its folder (docs/INTEROP.md "Files"), on both
backends: each file received as if it came over MLLP, its ACK written beside it, the file moved
to ``done/``; a file still being written (a dot name, ``.part``, ``.tmp``) and a folder of no
known lab are left alone; a file received again after a crash before its move changes nothing;
the scheduler's pass collects the folder."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hesuan.adapters.clock import FixedClock
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.entrypoints.lab_drop import DropReport, LabDropFolder
from hesuan.entrypoints.scheduler import Scheduler
from hesuan.sim.example import seed_example_city
from tests.integration.lab_bench import Bench
from tests.integration.test_lab_messages import DETECTED, NOT_DETECTED, _obx, _oru

pytest.importorskip("hl7")


def _msa(ack: Path) -> str:
    (msa,) = [s for s in ack.read_bytes().decode().split("\r") if s.startswith("MSA")]
    return msa.split("|")[1]


def test_dropped_files_are_received_acknowledged_and_moved(platform: Platform,
                                                            clock: FixedClock,
                                                            tmp_path: Path) -> None:
    b = Bench(platform, clock, seed_example_city(platform, people=40))
    pos, neg, late = b.tubes(3)
    root = tmp_path / "drop"
    inbox = root / b.lab_id
    inbox.mkdir(parents=True)
    (inbox / "r1.hl7").write_bytes(_oru(pos, _obx(DETECTED), control="D-1"))
    (inbox / "r2.HL7").write_bytes(_oru(neg, _obx(NOT_DETECTED), control="D-2"))
    (inbox / "r3.hl7").write_bytes(b"not a message at all")
    (inbox / "r4.hl7.part").write_bytes(_oru(late, _obx(DETECTED), control="D-4"))
    (inbox / ".r5.hl7").write_bytes(_oru(late, _obx(DETECTED), control="D-5"))
    stray = root / "no-such-lab"
    stray.mkdir()
    (stray / "x.hl7").write_bytes(_oru(late, _obx(DETECTED), control="D-6"))

    drop = LabDropFolder(platform, root)
    assert drop.collect() == DropReport(received=3, unreadable=1, refused=0)
    assert b.rows("SELECT barcode, result FROM tubes WHERE barcode IN (:a, :b) "
                  "ORDER BY result", a=pos, b=neg) == [(neg, "negative"), (pos, "positive")]
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["r1.hl7", "r2.HL7", "r3.hl7"]
    assert [_msa(inbox / "ack" / f"{n}.ack") for n in ("r1.hl7", "r2.HL7", "r3.hl7")] == [
        "AA", "AA", "AR"]
    # being written, or of no lab: left where they are, nothing received from them
    assert (inbox / "r4.hl7.part").exists() and (inbox / ".r5.hl7").exists()
    assert (stray / "x.hl7").exists() and not (stray / "done").exists()
    assert b.rows("SELECT result FROM tubes WHERE barcode = :b", b=late) == [(None,)]
    assert drop.collect() == DropReport(0, 0, 0)

    # a crash after receiving and before moving: the file is received again, changing nothing
    logged = b.scalar("SELECT count(*) FROM result_log")
    (inbox / "done" / "r1.hl7").rename(inbox / "r1.hl7")
    assert drop.collect() == DropReport(received=1, unreadable=0, refused=0)
    assert b.scalar("SELECT count(*) FROM result_log") == logged
    assert _msa(inbox / "ack" / "r1.hl7.ack") == "AA"

    # the sender renames the finished file: received by the next pass
    (inbox / "r4.hl7.part").rename(inbox / "r4.hl7")
    assert drop.collect().received == 1
    assert b.rows("SELECT result FROM tubes WHERE barcode = :b", b=late) == [("positive",)]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the folder another group needs root")
def test_a_lab_reads_its_acks_whatever_the_services_umask(platform: Platform, clock: FixedClock,
                                                         tmp_path: Path) -> None:
    """A lab's system reaches its folder as an account of its own (SFTP, docs/DEPLOY.md); the
    service runs with umask 077 (its systemd unit). The ``ack`` and ``done`` folders take the
    lab folder's mode and, set-group-id, its group; an ACK file that mode without execute bits:
    a lab folder its lab's group may use (2770) lets the lab read its ACKs, and no one else."""
    b = Bench(platform, clock, seed_example_city(platform, people=40))
    (tube,) = b.tubes(1)
    inbox = tmp_path / "drop" / b.lab_id
    inbox.mkdir(parents=True)
    lab_group = 4242  # the lab's account's group, not the service's
    os.chown(inbox, -1, lab_group)
    inbox.chmod(0o2770)
    (inbox / "r1.hl7").write_bytes(_oru(tube, _obx(DETECTED), control="U-1"))
    before = os.umask(0o077)
    try:
        assert LabDropFolder(platform, tmp_path / "drop").collect().received == 1
    finally:
        os.umask(before)
    ack = inbox / "ack" / "r1.hl7.ack"
    assert _msa(ack) == "AA"
    for path, mode in ((inbox / "ack", 0o2770), (inbox / "done", 0o2770), (ack, 0o660)):
        st = path.stat()
        assert (oct(stat.S_IMODE(st.st_mode)), st.st_gid) == (oct(mode), lab_group), path


@pytest.fixture
def dropping(settings: Settings, clock: FixedClock, tmp_path: Path) -> Iterator[Bench]:
    """A platform whose scheduler collects the drop folder ``tmp_path/drop``, and its city."""
    p = bootstrap(settings.model_copy(update={"lab_drop_folder": tmp_path / "drop"}),
                  clock=clock, migrate=False)
    try:
        yield Bench(p, clock, seed_example_city(p, people=40))
    finally:
        p.close()


def test_the_schedulers_pass_collects_the_drop_folder(dropping: Bench, tmp_path: Path) -> None:
    b, root = dropping, tmp_path / "drop"
    (tube,) = b.tubes(1)
    (root / b.lab_id).mkdir(parents=True)
    (root / b.lab_id / "r.hl7").write_bytes(_oru(tube, _obx(DETECTED)))
    Scheduler(b.p, 3600).tick()
    assert (root / b.lab_id / "done" / "r.hl7").exists()
    assert b.rows("SELECT result FROM tubes WHERE barcode = :b", b=tube) == [("positive",)]


def test_a_file_the_platform_fails_on_leaves_the_others_and_the_tick(
        dropping: Bench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose receipt fails unexpectedly is left for the next pass and counted refused;
    the files after it are received, and the tick's housekeeping runs all the same (one such
    file stopped every lab's files and the outbox, the alerts and the checkpoints at each
    tick)."""
    b, p, root = dropping, dropping.p, tmp_path / "drop"
    (tube,) = b.tubes(1)
    inbox = root / b.lab_id
    inbox.mkdir(parents=True)
    (inbox / "a.hl7").write_bytes(_oru(tube, _obx(NOT_DETECTED), control="F-1"))
    (inbox / "b.hl7").write_bytes(_oru(tube, _obx(DETECTED), control="F-2"))
    receive = p.lab_messages.receive

    def failing(actor: object, lab_id: str, data: bytes, *args: object) -> object:
        if b"F-1" in data:
            raise RuntimeError("a fault of the platform's own")
        return receive(actor, lab_id, data, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(p.lab_messages, "receive", failing)
    assert LabDropFolder(p, root).collect() == DropReport(received=1, unreadable=0, refused=1)
    assert (inbox / "a.hl7").exists() and (inbox / "done" / "b.hl7").exists()
    assert b.rows("SELECT result FROM tubes WHERE barcode = :b", b=tube) == [("positive",)]

    ticks: list[int] = []
    housekeeping = p.housekeeping.tick

    def counted(actor: object) -> object:
        ticks.append(1)
        return housekeeping(actor)  # type: ignore[arg-type]

    monkeypatch.setattr(p.housekeeping, "tick", counted)

    def broken(self: LabDropFolder) -> DropReport:
        raise PermissionError("the drop folder cannot be read")

    monkeypatch.setattr(LabDropFolder, "collect", broken)
    Scheduler(p, 3600).tick()
    assert ticks == [1]
