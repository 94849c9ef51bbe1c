"""(h) A round's results as the lab's own system (LIS) sends them: one HL7 v2.5.1 ORU^R01 message
per tube over MLLP to the listener, each ACK read before the next message goes (closed loop).

Set-up, not measured: the round received by the lab (``World.received_round``, as for the
fan-out); the lab's interop setting naming its tubes by SPM-2 (the placer's specimen id); one
message per tube (the ORU^R01 of the ELR writer ``to_hl7_oru``, shaped as ReportStream writes
it, result not detected, written once and given each tube's barcode as its specimen id and a
control id of its own); the listener (``MllpListener``) started on a
thread of its own on 127.0.0.1, and the connections opened.

Measured: the messages sent over ``connections`` MLLP connections at once (a thread each, its
share of the tubes), every ACK read and checked to be AA for its message; the listener takes each
through ``LabMessageService.receive`` into released results. messages/s and people/s = people
whose status now shows this result / wall time; the count of resulted tubes and people is
checked.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bench.world import World
from hesuan.adapters.db.schema import person_status, to_ms
from hesuan.adapters.db.schema import tubes as tubes_table
from hesuan.adapters.elr.hl7_oru import to_hl7_oru
from hesuan.domain.results import Result
from hesuan.entrypoints.mllp import MllpListener
from hesuan.services.elr_ports import (
    Application,
    Disclosure,
    District,
    ElrAssay,
    ElrReport,
    ElrRoute,
    Organization,
    entitled_person,
)

__all__ = ["mllp_results"]

START, END = b"\x0b", b"\x1c\r"
LAB = Organization("基准测试实验室", "2.16.156.10011.99.9", short_name="BENCHLAB")
ROUTE = ElrRoute(Application("BENCH-LIS", "2.16.156.10011.99.10"), LAB,
                 Application("Hesuan", "2.16.156.10011.99.1"),
                 Organization("太原市核酸检测平台", "2.16.156.10011.99.2"),
                 disclosure=Disclosure.PSEUDONYMOUS)
DISTRICT = District("140105", "小店区")
#: Stand-ins in the message template for the tube's barcode and the message's control id.
SPECIMEN, CONTROL = "BENCHSPECIMEN", "BENCHCONTROLID"


def _messages(barcodes: list[str]) -> list[bytes]:
    """One ORU^R01 per tube, result not detected: the message ``to_hl7_oru`` writes (strict
    v2.5.1, a few ms each) once, then per tube its barcode as the specimen id (SPM-2) and as
    the order number (ORC-2/3, OBR-2/3), a control id (MSH-10) of its own."""
    now = datetime.now(UTC)
    template = to_hl7_oru(ElrReport(
        message_id=CONTROL, report_id=SPECIMEN, specimen_id=SPECIMEN, lab=LAB,
        assay=ElrAssay("orf1ab-n@1", "ORF1ab/N 双靶标"), result=Result.NEGATIVE,
        collected_at=now - timedelta(hours=3), released_at=now,
        person=entitled_person(Disclosure.PSEUDONYMOUS, "bench-person", DISTRICT, None),
        route=ROUTE, received_at=now - timedelta(hours=1), resulted_at=now))
    if template.count(CONTROL.encode()) != 1:
        raise RuntimeError("mllp: the message template names its control id more than once")
    return [template.replace(SPECIMEN.encode(), barcode.encode())
            .replace(CONTROL.encode(), uuid.uuid4().hex.encode()) for barcode in barcodes]


def _control_id(message: bytes) -> str:
    return message.split(b"\r", 1)[0].split(b"|")[9].decode()


def _send_all(sock: socket.socket, messages: list[bytes], failures: list[str]) -> None:
    """Each message in a frame, its ACK read before the next: MSA-1 AA, MSA-2 its control id."""
    pending = b""
    try:
        for message in messages:
            sock.sendall(START + message + END)
            while END not in pending:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the listener closed the connection")
                pending += chunk
            frame, pending = pending.split(END, 1)
            msa = next((s for s in frame[len(START):].split(b"\r") if s.startswith(b"MSA|")),
                       b"")
            fields = msa.decode("utf-8", "replace").split("|")
            if fields[1:3] != ["AA", _control_id(message)]:
                failures.append(msa.decode("utf-8", "replace")[:200])
    except Exception as exc:  # the run fails with it, after the other connections end
        failures.append(repr(exc))


def _resulted(world: World) -> int:
    """The bench lab's tubes that have a result (a round's tubes are all received before)."""
    with world.platform.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(tubes_table).where(
            tubes_table.c.lab_id == world.lab_id,
            tubes_table.c.status == "resulted")).scalar_one())


def mllp_results(world: World, log: Any = print, connections: int = 1) -> dict[str, Any]:
    """One run: a fresh round's results, a message a tube, over ``connections`` MLLP
    connections to the listener."""
    t0 = time.perf_counter()
    barcodes, expected = world.received_round()
    p, lab = world.platform, world.users["bench-lab"]
    p.lab_messages.configure(lab, world.lab_id, id_order=["specimen_placer"])
    messages = _messages(barcodes)
    resulted_before = _resulted(world)
    setup_s = time.perf_counter() - t0
    log(f"  mllp set-up: {len(messages)} messages built in {setup_s:.1f} s")
    listener = MllpListener(p, world.lab_id, "127.0.0.1", 0)
    listener.start()
    try:
        socks = [socket.create_connection(listener.address, timeout=60)
                 for _ in range(connections)]
        shares = [messages[k::connections] for k in range(connections)]
        failures: list[str] = []
        threads = [threading.Thread(target=_send_all, args=(s, share, failures))
                   for s, share in zip(socks, shares, strict=True)]
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        for s in socks:
            s.close()
    finally:
        listener.stop()
    if failures:
        raise RuntimeError(f"mllp: {len(failures)} messages not answered AA; "
                           f"first: {failures[0]}")
    resulted = _resulted(world) - resulted_before
    with p.engine.connect() as c:
        people = c.execute(select(func.count()).select_from(person_status).where(
            person_status.c.last_result == "negative",
            person_status.c.last_result_at >= to_ms(started))).scalar_one()
    if resulted != len(barcodes):
        raise RuntimeError(f"mllp: {resulted} tubes resulted, expected {len(barcodes)}")
    if people != expected:
        raise RuntimeError(f"mllp: the results reached {people} people, expected {expected}")
    world.vacuum()  # PostgreSQL: clear the round's dead rows before the next figure (untimed)
    return {"tubes": len(barcodes), "messages": len(messages), "connections": connections,
            "people": people, "elapsed_s": round(elapsed, 3),
            "messages_per_s": round(len(messages) / elapsed, 1),
            "people_per_s": round(people / elapsed), "setup_s": round(setup_s, 1)}
