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
anything goes out: a handshake that fails is not a hand-over either.

Imports: standard library, ``hesuan.services``; ``hl7`` (the interop extra) when sending.
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hesuan.adapters.elr.extra import interop_module
from hesuan.services.elr_queue_ports import ElrFormat, ElrRefused
from hesuan.services.ports import SendInDoubt

__all__ = ["FolderTransport", "MllpTransport", "tls_context"]

_SUFFIX = {ElrFormat.HL7: ".hl7", ElrFormat.FHIR: ".json"}
_TAKEN = {"AA", "CA"}
_REFUSED = {"AE", "AR", "CE", "CR"}


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
                 tls: ssl.SSLContext | None = None) -> None:
        self._host = host
        self._port = port
        self._timeout = timeout
        self._tls = tls

    def deliver(self, message_id: str, fmt: ElrFormat, payload: bytes) -> None:
        if fmt is not ElrFormat.HL7:
            raise ValueError("MLLP carries HL7 v2 messages only")
        client = interop_module("hl7.client")
        hl7 = interop_module("hl7")
        frame = client.SB + payload + client.EB + client.CR
        # not connected: nothing went out, the report is retried
        sock = socket.create_connection((self._host, self._port), timeout=self._timeout)
        if self._tls is not None:
            try:  # a receiver whose certificate does not check: nothing went out either
                sock = self._tls.wrap_socket(sock, server_hostname=self._host)
            except OSError:
                sock.close()
                raise
        try:
            sock.sendall(frame)
            answer = _read_frame(sock, client.SB, client.EB + client.CR)
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


def _read_frame(sock: socket.socket, start: bytes, end: bytes) -> bytes:
    """One MLLP frame's content; ``ConnectionError`` if the connection ends first."""
    data = b""
    while end not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the ACK")
        data += chunk
    body = data[:data.index(end)]
    return body[body.index(start) + len(start):] if start in body else body
