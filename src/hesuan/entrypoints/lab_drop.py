"""The drop folder: a lab's own system (LIS) writes its results files — HL7 v2 (``.hl7``, one
message or an FHS/BHS batch) or a FHIR Bundle (``.json``, ``.fhir``) — into the folder named by
its lab id under ``HESUAN_LAB_DROP_FOLDER``, and the scheduler's pass collects them
(docs/INTEROP.md "Files").

Each file is received as that lab's system (``mllp.lab_system``: it may send that lab's
results only), exactly as a message over MLLP is: kept, matched, applied as far as it can be.
Its acknowledgment is written to ``ack/<name>.ack`` (temporary name, then renamed) and the file
is then moved to ``done/``; both folders take the lab folder's mode, an ACK file that mode
without execute bits, so that the lab's own account reads them (docs/DEPLOY.md). A crash
between the two leaves the file where it was; the next pass receives it again, which changes
nothing (a message is known by its sender and control id) and writes the same acknowledgment.
A file still being written — a name starting with a dot or ending ``.part`` or ``.tmp``, as
senders write before they rename — is left for a later pass; so is a folder that names no lab
(logged once a pass). A file the platform refuses (too large,
the store unavailable) is left in place and counted, for the next pass.

Imports: the standard library, ``hesuan.bootstrap`` (types), ``hesuan.domain``,
``hesuan.services``, ``hesuan.entrypoints.mllp`` (the lab's principal).
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from hesuan.bootstrap import Platform
from hesuan.domain.errors import HesuanError
from hesuan.entrypoints.mllp import MAX_FRAME_BYTES, lab_system
from hesuan.services.interop_ports import LabMessageFormat
from hesuan.services.lab_messages_ports import MessageVia

__all__ = ["DropReport", "LabDropFolder"]

log = logging.getLogger("hesuan.lab_drop")

FORMATS = {".hl7": LabMessageFormat.HL7V2, ".json": LabMessageFormat.FHIR,
           ".fhir": LabMessageFormat.FHIR}
#: Names a sender writes to before renaming the finished file.
_UNFINISHED = (".part", ".tmp")
DONE, ACKS = "done", "ack"


@dataclass(frozen=True, slots=True)
class DropReport:
    """One pass: files received (their messages kept), of those the ones that could not be read
    (answered AR), and files the platform refused (left in place for the next pass)."""

    received: int
    unreadable: int
    refused: int


class LabDropFolder:
    """Collects the results files under ``root``, a folder per lab named by its id."""

    def __init__(self, platform: Platform, root: Path) -> None:
        self._p = platform
        self._root = root

    def collect(self) -> DropReport:
        received = unreadable = refused = 0
        if not self._root.is_dir():
            return DropReport(0, 0, 0)
        for folder in sorted(p for p in self._root.iterdir() if p.is_dir()):
            files = [f for f in sorted(folder.iterdir()) if _ready(f)]
            if not files:
                continue
            for f in files:
                try:
                    outcome = self._receive(folder.name, f)
                except HesuanError as exc:
                    if exc.code != "unknown_lab":  # the store unavailable: the next pass
                        log.warning("drop file of lab %s refused: %s", folder.name, exc.code)
                        refused += 1
                        continue
                    log.warning("drop folder %s names no lab: its files are left", folder.name)
                    break
                except Exception as exc:  # a fault of the platform's: left for the next
                    # pass, and the files after it (this lab's and the others') are received;
                    # the error's type only, its words may quote the file
                    log.error("drop file %s of lab %s failed (%s): left", f.name, folder.name,
                              type(exc).__name__)
                    refused += 1
                    continue
                if outcome is None:
                    refused += 1
                    continue
                received += 1
                unreadable += outcome
        return DropReport(received, unreadable, refused)

    def _receive(self, lab_id: str, f: Path) -> int | None:
        """Receive one file; 1 when it could not be read, 0 when it could, None when it is too
        large (left in place). The platform's refusals are raised."""
        if f.stat().st_size > MAX_FRAME_BYTES:
            log.warning("drop file of lab %s larger than %d bytes: left", lab_id, MAX_FRAME_BYTES)
            return None
        receipt = self._p.lab_messages.receive(lab_system(lab_id), lab_id, f.read_bytes(),
                                               FORMATS[f.suffix.lower()], MessageVia.FILE)
        if receipt.ack:
            _write_atomically(_lab_folder(f.parent, ACKS) / f"{f.name}.ack", receipt.ack,
                              _mode(f.parent) & 0o666)
        os.replace(f, _lab_folder(f.parent, DONE) / f.name)
        return int(receipt.code == "AR")


def _ready(f: Path) -> bool:
    return (f.is_file() and not f.name.startswith(".")
            and not f.name.lower().endswith(_UNFINISHED) and f.suffix.lower() in FORMATS)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _lab_folder(folder: Path, name: str) -> Path:
    """The lab folder's ``ack`` or ``done`` folder, made with the lab folder's mode (and, the
    lab folder being set-group-id, its group): what the lab's account may read is the lab
    folder's to say, not the service's umask."""
    path = folder / name
    if not path.is_dir():
        path.mkdir(exist_ok=True)
        path.chmod(_mode(folder))
    return path


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    os.replace(tmp, path)
