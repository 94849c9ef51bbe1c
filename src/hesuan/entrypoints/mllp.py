"""The MLLP listener: a lab's own system (LIS) sends HL7 v2 ORU^R01 over TCP, each message framed
as MLLP (``0x0B`` … ``0x1C 0x0D``), and gets its ACK back in a frame (docs/INTEROP.md "MLLP").

The listener speaks for one lab (``HESUAN_MLLP_LAB``, ``hesuan mllp --lab``) and acts as that
lab's system (:func:`lab_system`). One connection carries many messages, answered one by one in
order; each frame's bytes go as they came to ``LabMessageService.receive`` (via ``mllp``) on a
worker thread, so the event loop never waits on the database, and ``Receipt.ack`` goes back
(a resend gets the first ACK again). A frame that cannot be read is answered AR and the
connection stays open; bytes before a frame's start (a stray line end between frames) are left
out. python-hl7's asyncio MLLP server accepts the connections and writes the frames; the frames
are read here, as bytes, so the service decodes them (UTF-8) as it decodes every other way in.

Imports: the standard library, ``hesuan.bootstrap`` (types), ``hesuan.domain``,
``hesuan.services``; at start ``hl7.mllp`` and ``hesuan.adapters.interop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from hesuan.bootstrap import Platform
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import HesuanError, InvalidInput
from hesuan.services.interop_ports import LabMessageFormat
from hesuan.services.lab_messages_ports import MessageVia

__all__ = ["MAX_FRAME_BYTES", "MllpListener", "lab_system"]

log = logging.getLogger("hesuan.mllp")

START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\r"
#: The largest frame read (the same bound as a message posted to the API); a longer one is
#: answered AR and its bytes dropped.
MAX_FRAME_BYTES = 8 * 1024 * 1024


def lab_system(lab_id: str) -> Principal:
    """The principal a listener acts as: the lab's own system, a lab principal of ``lab_id``
    (it may send that lab's messages only), audited as ``mllp``."""
    return Principal(user_id="mllp", username="mllp", role=Role.LAB, scope=lab_id)


class MllpListener:
    """An asyncio TCP server speaking MLLP for one lab: :meth:`serve` runs it on the caller's
    event loop until cancelled; :meth:`start` runs it on a thread of its own (inside ``serve``)
    and returns once it listens; :meth:`stop` ends that thread."""

    def __init__(self, platform: Platform, lab_id: str, host: str, port: int) -> None:
        self._p = platform
        self._actor = lab_system(lab_id)
        self._lab_id = lab_id
        self._host = host
        self._port = port
        self._bound: tuple[str, int] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The host and port it listens on (the port the system chose when asked for 0)."""
        if self._bound is None:
            raise RuntimeError("the MLLP listener is not listening")
        return self._bound

    # -- running ------------------------------------------------------------------------------

    async def serve(self, ready: Callable[[], None] | None = None) -> None:
        """Listen until cancelled (or :meth:`stop`); ``ready`` is called once listening.
        ``unknown_lab`` when the lab is not there, ``mllp_unavailable`` when the address
        cannot be listened on."""
        from hesuan.adapters.interop.extra import extra_missing

        try:
            from hl7.mllp import start_hl7_server
        except ImportError as e:
            raise extra_missing("python-hl7", e) from e
        # the lab must be there (``unknown_lab``) before a sender is answered for it
        await asyncio.to_thread(self._p.lab_messages.messages, self._actor, self._lab_id,
                                limit=1)
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            server = await start_hl7_server(self._connection, self._host, self._port,
                                            limit=MAX_FRAME_BYTES)
        except OSError as exc:  # the port taken, the address not this machine's
            raise InvalidInput(f"cannot listen on {self._host}:{self._port}: "
                               f"{exc.strerror or exc}", code="mllp_unavailable",
                               field="mllp_port") from exc
        sock = server.sockets[0].getsockname()
        self._bound = (str(sock[0]), int(sock[1]))
        log.info("MLLP listening on %s:%d for lab %s", *self._bound, self._lab_id)
        if ready is not None:
            ready()
        try:
            await self._stopping.wait()
        finally:  # the connections still open are cancelled as the loop ends
            server.close()

    def start(self) -> None:
        """Listen on a thread of its own; returns once listening, or raises why it cannot (the
        port taken, the interop extra missing)."""
        listening = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self.serve(listening.set))
            except BaseException as exc:  # handed to the caller of start
                failure.append(exc)
                listening.set()

        self._thread = threading.Thread(target=run, name="hesuan-mllp", daemon=True)
        self._thread.start()
        listening.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        """Stop listening and end the thread :meth:`start` began."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- one connection -----------------------------------------------------------------------

    async def _connection(self, reader: Any, writer: Any) -> None:
        """Frames in, one ACK per frame out, in order, until the sender closes."""
        try:
            while True:
                try:
                    block = await reader.readuntil(END_BLOCK)
                except asyncio.LimitOverrunError:
                    await _skip_frame(reader)
                    answer = self._ar(b"", f"frame_too_large: an MLLP frame of at most "
                                      f"{MAX_FRAME_BYTES} bytes", error=_NOT_A_FRAME)
                else:
                    answer = await asyncio.to_thread(self._answer, block)
                writer.writeblock(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the sender closed (anything after its last frame is no message)
        finally:
            writer.close()

    def _answer(self, block: bytes) -> bytes:
        """The ACK of one frame (its bytes up to and including the end block)."""
        body = block[:-len(END_BLOCK)]
        if START_BLOCK not in body:
            return self._ar(body, "not_mllp: the frame does not begin with 0x0B",
                            error=_NOT_A_FRAME)
        data = body[body.index(START_BLOCK) + 1:]
        try:
            return self._p.lab_messages.receive(self._actor, self._lab_id, data,
                                                LabMessageFormat.HL7V2, MessageVia.MLLP).ack
        except HesuanError as exc:  # the lab unknown, the store unavailable: not taken
            log.warning("MLLP message refused: %s", exc.code)
            return self._ar(data, f"{exc.code}: {exc.message}", error="207")
        except Exception:  # a bug: the sender hears AR, the log has the trace
            log.exception("MLLP message failed")
            return self._ar(data, "internal_error: the message could not be received",
                            error="207")

    def _ar(self, data: bytes, text: str, *, error: str = "100") -> bytes:
        from hesuan.adapters.interop.hl7_ack import ack_unreadable

        return ack_unreadable(data, text, at=self._p.deps.clock.now(), error=error)


#: Table 0357's code for a frame that is none (no start block, over the limit): the transport
#: failed, not the message's segments; sent again whole, it is read.
_NOT_A_FRAME = "207"


async def _skip_frame(reader: Any) -> None:
    """Drop the bytes of a frame longer than the limit, up to and including its end block."""
    while True:
        try:
            await reader.readuntil(END_BLOCK)
            return
        except asyncio.LimitOverrunError as exc:
            await reader.readexactly(exc.consumed)
