"""The LIS lab of a simulated round: a lab whose own system (LIS) reports its results as HL7 v2
ORU^R01 messages over MLLP instead of plates and run files (docs/INTEROP.md "MLLP").

* **Which lab.** The last of the city's labs, for a seeded share (:data:`LIS_SHARE`) of the
  boxes it scans in; its other boxes go onto plates. Each message costs the platform a
  transaction of its own, where a plate takes 90 tubes in a few: the share keeps a round as
  quick as one all on plates, and still sends a LIS's messages every few hours of a round (and
  at least one box's, past a quarter of the round, as every seeded event).
* **The listener.** The round starts a listener for that lab on 127.0.0.1 (a port the system
  chooses) before its first action and stops it at the end; the round connects to it as the
  lab's system does, one connection for the round. The listener is the MLLP entry point's
  (``entrypoints.mllp.MllpListener``), handed in by the caller (:data:`ListenerFactory`: the
  simulator sits below the entry points); a round without one has no LIS lab.
* **Results.** 2-4 h after a box is scanned in, the LIS sends each of its received tubes'
  final result (what the tube holds: positive when a member is infected) as one ORU^R01
  (``adapters.elr.hl7_oru``; the tube barcode is the specimen id in SPM-2, which the lab's
  interop setting reads first) and reads its ACK: AA is the result applied (released as the
  lab's own, its people told), AE or AR counted. Its results trace to no run file: the lab
  report's integrity list shows each (``results_without_run_file``), as the round expects.
* **A resend.** The first message of the round is sent a second time, as a LIS that lost the
  ACK retries: the same ACK comes back and nothing changes.
* **A link check.** Before its first result the LIS checks its link with that result as a
  training message (MSH-11 ``T``, MSH-10 ``CHECK-<barcode>``; ``D`` on a training platform):
  the platform takes only its own processing id, so it is refused (AR), applies nothing and
  waits in the lab's inbox with its reason (docs/INTEROP.md "Receiving").

Imports: standard library, ``hesuan.bootstrap`` (types), ``hesuan.adapters``,
``hesuan.services``, ``hesuan.domain``, ``hesuan.sim``.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from hesuan.adapters.elr.hl7_oru import to_hl7_oru
from hesuan.bootstrap import Platform
from hesuan.domain.local_time import local
from hesuan.domain.results import Result
from hesuan.services.elr_ports import (
    Application,
    District,
    ElrAssay,
    ElrPerson,
    ElrReport,
    ElrRoute,
    Organization,
)
from hesuan.sim.instrument_runs import Shows
from hesuan.sim.round_labs import SEEDED_AT_LEAST_ONCE, Labs
from hesuan.sim.round_state import HOUSEKEEPING

__all__ = ["LIS_RESULTS", "LIS_SHARE", "LisLab", "LisTally", "Listener", "ListenerFactory"]

#: The share of the LIS lab's boxes its LIS reports (the rest go onto plates).
LIS_SHARE = 0.05
#: The action of a LIS sending a box's results (after the round's own kinds).
LIS_RESULTS = HOUSEKEEPING + 1
START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\r"
#: Who the LIS's messages say they come from and go to (MSH-3..6).
_ROUTE = ElrRoute(Application("SIM-LIS", "2.16.156.10011.99.10"),
                  Organization("模拟实验室信息系统", "2.16.156.10011.99.11", short_name="SIMLIS"),
                  Application("Hesuan", "2.16.156.10011.99.1"),
                  Organization("太原市核酸检测平台", "2.16.156.10011.99.2", short_name="HESUAN"))
_ASSAY = ElrAssay("orf1ab-n@1", "ORF1ab/N 双靶标")
_DISTRICT = District("140105", "小店区")
#: The placeholders of a message template: a barcode no tube has, two instants no round has.
_TUBE = "LISTUBEPLACEHOLDER"
_RECEIVED = datetime(2001, 1, 1, 1, 1, 1, tzinfo=UTC)
_RELEASED = datetime(2002, 2, 2, 2, 2, 2, tzinfo=UTC)


def _hl7_time(t: datetime) -> bytes:
    """An instant as the message writes it (local time with its offset)."""
    return local(t).strftime("%Y%m%d%H%M%S%z").encode()


class Listener(Protocol):
    """An MLLP listener for one lab, on a thread of its own."""

    @property
    def address(self) -> tuple[str, int]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


#: Makes the listener of a lab: ``(platform, lab_id, host, port)`` (``MllpListener``).
ListenerFactory = Callable[[Platform, str, str, int], Listener]


class LisTally:
    """What the LIS lab sent and heard back in the round."""

    def __init__(self, lab_id: str | None) -> None:
        self.lab_id = lab_id
        self.boxes = 0  # boxes its LIS reports
        self.messages_sent = 0
        self.acks: Counter[str] = Counter()
        self.applied: Counter[str] = Counter()  # results applied by an AA, by result
        self.resent = 0
        self.resend_same_ack = True
        self.link_check: str | None = None  # the training message's ACK code

    def as_dict(self) -> dict[str, object]:
        return {"lab_id": self.lab_id, "boxes": self.boxes, "messages_sent": self.messages_sent,
                "acks": dict(sorted(self.acks.items())),
                "applied": dict(sorted(self.applied.items())), "resent": self.resent,
                "resend_same_ack": self.resend_same_ack, "link_check": self.link_check}


class _Connection:
    """The LIS's MLLP connection: a framed message out, its ACK back."""

    def __init__(self, address: tuple[str, int]) -> None:
        self._sock = socket.create_connection(address, timeout=60)
        self._pending = b""

    def send(self, data: bytes) -> bytes:
        self._sock.sendall(START_BLOCK + data + END_BLOCK)
        while END_BLOCK not in self._pending:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the MLLP listener closed the connection")
            self._pending += chunk
        frame, self._pending = self._pending.split(END_BLOCK, 1)
        return frame[frame.index(START_BLOCK) + 1:]

    def close(self) -> None:
        self._sock.close()


def ack_code(ack: bytes) -> str:
    """MSA-1 of an ACK (``AA``, ``AE``, ``AR``)."""
    for segment in ack.split(b"\r"):
        if segment.startswith(b"MSA|"):
            return segment.split(b"|")[1].decode()
    return "none"


class LisLab(Labs):
    """The round's LIS lab: its listener, its messages and their ACKs."""

    lis: LisTally
    lis_idx: int | None
    _lis_listener: Listener | None
    _lis_conn: _Connection | None
    _lis_templates: dict[tuple[str, Result, int], bytes]

    def lis_open(self, listener: ListenerFactory | None) -> None:
        """Choose the LIS lab and start its listener (none without a listener or a lab)."""
        self.lis_idx = len(self.labs) - 1 if self.labs and listener is not None else None
        self._lis_listener = self._lis_conn = None
        self._lis_templates = {}
        self.lis = LisTally(None if self.lis_idx is None else self.labs[self.lis_idx].id)
        if self.lis_idx is None or listener is None:
            return
        self._lis_listener = listener(self.p, self.labs[self.lis_idx].id, "127.0.0.1", 0)
        self._lis_listener.start()
        self._lis_conn = _Connection(self._lis_listener.address)

    def lis_close(self) -> None:
        if self._lis_conn is not None:
            self._lis_conn.close()
        if self._lis_listener is not None:
            self._lis_listener.stop()

    def lis_takes(self, lab_idx: int) -> bool:
        """Whether the box the lab scans in now is reported by its LIS (see the module)."""
        if lab_idx != self.lis_idx:
            return False
        # as the round's seeded events: past a quarter of the round, the first box if none yet
        return self.rng.random() < LIS_SHARE or (
            not self.lis.boxes and self.now_s >= self.end_s * SEEDED_AT_LEAST_ONCE)

    def lis_received(self, t: float, lab_idx: int, tubes: list[str]) -> None:
        """The LIS has the box's received tubes: it reports them 2-4 h later."""
        self.lis.boxes += 1
        if tubes:
            self.lab_batches += 1
            self.push(t + self.rng.uniform(2 * 3600, 4 * 3600), LIS_RESULTS, (lab_idx, tubes))

    def lis_results(self, t: float, lab_idx: int, tubes: list[str]) -> None:
        """Each tube's final result as an ORU^R01 over MLLP, its ACK read."""
        assert self._lis_conn is not None
        self.lab_batches -= 1
        lab = self.labs[lab_idx]
        late_after = self._late_after(t)
        for bc in tubes:
            res = "positive" if self._lis_shows(bc) is Shows.POSITIVE else "negative"
            data = self._oru(lab.id, bc, Result(res), self.at(t))
            if self.lis.link_check is None:
                self.lis.link_check = ack_code(self._lis_conn.send(self._training(bc, data)))
                self.lis.messages_sent += 1
            ack = self._lis_conn.send(data)
            self.lis.messages_sent += 1
            code = ack_code(ack)
            self.lis.acks[code] += 1
            if not self.lis.resent:
                # a LIS that lost the ACK sends the message again: the same ACK, no change
                again = self._lis_conn.send(data)
                self.lis.messages_sent += 1
                self.lis.resent += 1
                self.lis.acks[ack_code(again)] += 1
                self.lis.resend_same_ack = again == ack
            self.calls += 1
            if code != "AA":
                continue
            self.lis.applied[res] += 1
            self.late_results += self.received_ms[bc] < late_after
            self.after_result(bc, res, t)

    def _training(self, bc: str, data: bytes) -> bytes:
        """The tube's message as a LIS checking its link sends it: under a control id of its
        own, in the other processing mode than the platform's (training, or debugging on a
        training platform)."""
        mode = self.p.settings.lab_processing
        other = "T" if mode != "T" else "D"
        own = f"|LIS-{bc}|{mode}|".encode()
        assert own in data, "the message names the tube and the mode in MSH-10 and MSH-11"
        return data.replace(own, f"|CHECK-{bc}|{other}|".encode())

    def _lis_shows(self, bc: str) -> Shows:
        return (Shows.POSITIVE if any(self.infected[m] for m in self.tube_members[bc])
                else Shows.NEGATIVE)

    def _oru(self, lab_id: str, bc: str, result: Result, now: datetime) -> bytes:
        """The tube's ORU^R01. ``to_hl7_oru`` builds (and validates) one message per result and
        pool size with placeholder ids and times; each tube's message is that one with the
        tube's barcode and times in their place (building each anew costs more than the rest
        of the round's work for the tube)."""
        pool = max(1, len(self.tube_members[bc]))
        key = (lab_id, result, pool)
        template = self._lis_templates.get(key)
        if template is None:
            report = ElrReport(
                message_id=f"LIS-{_TUBE}", report_id=f"R-{_TUBE}", specimen_id=_TUBE,
                lab=Organization(lab_id, "2.16.156.10011.99.12", short_name="SIMLAB"),
                assay=_ASSAY, result=result, collected_at=_RECEIVED, released_at=_RELEASED,
                person=ElrPerson(f"P-{_TUBE}", _DISTRICT),
                # the lab's system runs in the platform's mode (a training one's: T)
                route=replace(_ROUTE, processing=self.p.settings.lab_processing),
                received_at=_RECEIVED, resulted_at=_RELEASED, pool_size=pool)
            template = self._lis_templates[key] = to_hl7_oru(report)
        received = datetime.fromtimestamp(self.received_ms[bc] / 1000, tz=now.tzinfo)
        # the tube barcode is the specimen id (SPM-2) and names the message (MSH-10)
        return (template.replace(_TUBE.encode(), bc.encode())
                .replace(_hl7_time(_RECEIVED), _hl7_time(received))
                .replace(_hl7_time(_RELEASED), _hl7_time(now)))

