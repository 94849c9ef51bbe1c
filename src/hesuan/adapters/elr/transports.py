"""Where electronic lab reports go: a folder, or a receiver over MLLP (docs/INTEROP.md "Out").

``FolderTransport`` writes each report to a temporary file and renames it into place, one file
per message named by its message id (``<id>.hl7``, ``<id>.json``): a reader of the folder sees
whole files only, and the folder is its own record of what it took (``took``), which settles a
delivery a crash left in doubt.

``MllpTransport`` sends each HL7 v2 message framed as MLLP (python-hl7's framing bytes) on its
own connection and waits for the ACK: ``AA``/``CA`` taken; ``AE``/``AR`` (and ``CE``/``CR``)
refused (``ElrRefused``, retried with back-off); a refused connection is not a hand-over (retried);
no answer once the message went out (a timeout, a closed connection, an answer that is not an
ACK) is ``SendInDoubt``: the receiver may have it, so it is not sent again on a guess. Inside
TLS (:func:`tls_context`) the receiver's certificate is checked for the host's name before
anything goes out: a handshake that fails is not a hand-over either. Nor is one the receiver
refuses after it: under TLS 1.3 a receiver judges the sender's certificate once the sender's
side of the handshake is done, and answers with session tickets (taken) or an alert and a
closed connection (refused); the sender waits for that verdict before it sends
(``verdict_wait``, a second; a receiver that sends no tickets costs each report that wait).

Imports: standard library, ``hesuan.services``; ``hl7`` (the interop extra) when sending.
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from hesuan.adapters.elr.extra import interop_module
from hesuan.services.elr_queue_ports import ElrFormat, ElrRefused
from hesuan.services.ports import SendInDoubt

__all__ = ["CertificateRefused", "FolderTransport", "MllpTransport", "tls_context"]

_SUFFIX = {ElrFormat.HL7: ".hl7", ElrFormat.FHIR: ".json"}
_TAKEN = {"AA", "CA"}
_REFUSED = {"AE", "AR", "CE", "CR"}


class CertificateRefused(ConnectionRefusedError):
    """The receiver refused the TLS handshake after the sender's side of it was done (TLS 1.3):
    the sender's certificate, or none, did not satisfy it. Nothing went out: a connection that
    was not made (an ``OSError``), the report retried, this class's name its error."""


class FolderTransport:
    """Reports as files in ``folder``, each written whole (a temporary file, then a rename)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def deliver(self, message_id: str, fmt: ElrFormat, payload: bytes) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self._folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._folder / f"{message_id}{_SUFFIX[fmt]}")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def took(self, message_ids: Sequence[str]) -> set[str]:
        return {m for m in message_ids
                if any((self._folder / f"{m}{suffix}").exists() for suffix in _SUFFIX.values())}


def tls_context(ca: Path | None = None, cert: Path | None = None,
                key: Path | None = None) -> ssl.SSLContext:
    """TLS to a receiver: its certificate checked against ``ca`` (the system's CAs without
    one) and for the name it is reached by; ``cert`` and ``key``, the sender's own certificate
    when the receiver asks for one. TLS 1.2 at least."""
    ctx = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key is not None else None)
    return ctx


class MllpTransport:
    """HL7 v2 messages to ``host``:``port`` over MLLP, one connection each, waiting ``timeout``
    seconds for the ACK; inside ``tls`` when given (:func:`tls_context`)."""

    def __init__(self, host: str, port: int, timeout: float = 10.0,
                 tls: ssl.SSLContext | None = None, verdict_wait: float = 1.0) -> None:
        self._host = host
        self._port = port
        self._timeout = timeout
        self._tls = tls
        self._verdict_wait = verdict_wait

    def deliver(self, message_id: str, fmt: ElrFormat, payload: bytes) -> None:
        if fmt is not ElrFormat.HL7:
            raise ValueError("MLLP carries HL7 v2 messages only")
        client = interop_module("hl7.client")
        hl7 = interop_module("hl7")
        frame = client.SB + payload + client.EB + client.CR
        # not connected: nothing went out, the report is retried
        sock = socket.create_connection((self._host, self._port), timeout=self._timeout)
        early = b""
        if self._tls is not None:
            try:  # a receiver whose certificate does not check, or that refuses the sender's:
                # nothing went out either
                sock = self._tls.wrap_socket(sock, server_hostname=self._host)
                early = _verdict(sock, self._verdict_wait)
                sock.settimeout(self._timeout)
            except OSError:
                sock.close()
                raise
        try:
            sock.sendall(frame)
            answer = _read_frame(sock, client.SB, client.EB + client.CR, early)
        except OSError as exc:
            raise SendInDoubt(f"no ACK from {self._host}:{self._port}: "
                              f"{type(exc).__name__}") from exc
        finally:
            sock.close()
        try:
            ack = hl7.parse(answer.decode("utf-8", "replace"))
            code = str(ack.segment("MSA")[1])
            text = str(ack.segment("MSA")[3]) if len(ack.segment("MSA")) > 3 else ""
        except Exception as exc:
            raise SendInDoubt(f"an answer that is not an ACK from {self._host}:{self._port}"
                              ) from exc
        if code in _TAKEN:
            return
        if code in _REFUSED:
            raise ElrRefused(f"{code} {text}".strip()[:150])
        raise SendInDoubt(f"ACK code {code[:4]!r} from {self._host}:{self._port}")


#: How long each wait for more of the receiver's verdict lasts, within ``verdict_wait``.
_VERDICT_POLL = 0.005


def _verdict(sock: ssl.SSLSocket, wait: float) -> bytes:
    """Under TLS 1.3, the receiver's verdict on the sender's certificate, waited for up to
    ``wait`` seconds: its session tickets (taken: return), or an alert or the connection closed
    (refused: ``CertificateRefused``, nothing having gone out). A receiver that sends no
    tickets is taken at the wait's end. What the receiver sent unasked is returned, to be read
    before its answer. Under TLS 1.2 the handshake carried the verdict."""
    if sock.version() != "TLSv1.3":
        return b""
    deadline = time.monotonic() + wait
    sock.settimeout(_VERDICT_POLL)
    while time.monotonic() < deadline:
        session = sock.session
        if session is not None and session.has_ticket:
            return b""
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except (ssl.SSLError, ConnectionResetError) as exc:
            raise CertificateRefused(str(exc)) from exc
        if not data:
            raise CertificateRefused("the receiver closed the connection")
        return data
    return b""


def _read_frame(sock: socket.socket, start: bytes, end: bytes, data: bytes = b"") -> bytes:
    """One MLLP frame's content (``data``: what was read of it already);
    ``ConnectionError`` if the connection ends first."""
    while end not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the ACK")
        data += chunk
    body = data[:data.index(end)]
    return body[body.index(start) + len(start):] if start in body else body
