"""SMS through Kannel (the open SMS gateway) over its smsbox HTTP ``sendsms`` interface — the
``Sender`` port for production.

One GET to ``<url>?username=…&password=…&to=…&text=…&charset=UTF-8&coding=2`` per message:
the text goes as UTF-8 and Kannel sends it to the operator's SMSC as UCS-2 (``coding=2``), which
Chinese needs. Kannel answers ``202`` ("0: Accepted for delivery" / "3: Queued for later
delivery") when it has taken the message; anything else raises, and the outbox retries with
back-off — unless the request reached Kannel and its answer did not come back (a read timeout, a
dropped connection): Kannel may have taken the message, so ``SendInDoubt`` is raised and the
outbox keeps it claimed, in doubt, rather than send it twice. Kannel's ``sendsms`` has no
parameter that makes it drop a duplicate (each request is a new message), so that is all a
client can do (docs/SMS.md).

Timeouts are short (connect 3 s, total 10 s by default) so a stuck gateway never holds the
delivery loop. The password, the phone number and the text travel in the query string, as
Kannel wants; httpx's request log line (INFO) shows the URL without it, and Hesuan logs none of
them.

Imports: ``httpx``, the standard library, ``hesuan.services.ports``, ``hesuan.domain``.
"""

from __future__ import annotations

import logging

import httpx

from hesuan.domain.people import mask_phone
from hesuan.services.outbox_ports import OutboxMessage
from hesuan.services.ports import SendInDoubt

__all__ = ["KannelError", "KannelSender"]


#: Failures before the request reached Kannel: it cannot have taken the message.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
             httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)


class _WithoutQuery(logging.Filter):
    """httpx logs each request's URL at INFO, and Kannel's carries the password, the phone
    number and the text in its query string: the URL is logged without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(a.copy_with(query=None) if isinstance(a, httpx.URL) and a.query
                                else a for a in record.args)
        return True


_HTTPX_LOG = logging.getLogger("httpx")
if not any(isinstance(f, _WithoutQuery) for f in _HTTPX_LOG.filters):
    _HTTPX_LOG.addFilter(_WithoutQuery())


class KannelError(RuntimeError):
    """Kannel refused or did not take the message (the outbox will retry)."""


class KannelSender:
    """Sends through a Kannel smsbox. Thread-safe (one pooled HTTP client)."""

    def __init__(self, url: str, username: str, password: str, *, sender_id: str | None = None,
                 smsc_id: str | None = None, timeout: float = 10.0,
                 connect_timeout: float = 3.0, client: httpx.Client | None = None) -> None:
        self._url = url
        self._auth = {"username": username, "password": password}
        self._sender_id = sender_id
        self._smsc_id = smsc_id
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout))

    def send(self, phone: str | None, text: str, message: OutboxMessage) -> None:
        if not phone:
            raise KannelError(f"message {message.id}: the person has no phone number")
        params = {**self._auth, "to": phone, "text": text, "charset": "UTF-8", "coding": "2"}
        if self._sender_id:
            params["from"] = self._sender_id
        if self._smsc_id:
            params["smsc"] = self._smsc_id
        try:
            resp = self._client.get(self._url, params=params)
        except _NOT_SENT as exc:  # the request never reached Kannel: retried
            raise KannelError(f"message {message.id} to {mask_phone(phone)}: Kannel unreachable "
                              f"({type(exc).__name__})") from None
        except httpx.HTTPError as exc:  # the request went out; the answer did not come back
            raise SendInDoubt(f"message {message.id}: no answer from Kannel "
                              f"({type(exc).__name__})") from None
        if not 200 <= resp.status_code < 300:  # 202 Accepted; old versions say 200
            raise KannelError(f"message {message.id} to {mask_phone(phone)}: Kannel answered "
                              f"{resp.status_code} {resp.text.strip()[:100]!r}")

    def close(self) -> None:
        self._client.close()
