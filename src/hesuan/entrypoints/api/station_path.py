"""The short path of ``POST /scans`` (单扫, one scan from a window), below the framework.

Every scan of every window in the city is one ``POST /scans``, so the cost the framework adds
to each request (middleware, routing, the request and response objects: more than validating
the event) is paid thousands of times a second. ``StationFastPath`` is an
ASGI middleware that answers the ordinary case itself: a bearer token whose principal is in the
token cache (the same cache and the same header parsing as the full application's bearer check),
a principal the access policy lets record station events (``access.allows``, the policy's own
function), a body declared JSON that validates, no query string. It validates the body, hands
the event to the same service call, which checks access again as for every caller, and writes
the same answer bytes. ``tests/e2e/test_station_path.py`` checks that both paths answer alike.

Anything else — no token, a token not yet in the cache, another role, a body that does not
validate, a failure of the service call — goes to the full application, with the body it has
already read, so it is answered exactly as before: the same error bodies, status codes and
headers, the same 422 shape. A failed service call wrote nothing (its transaction rolled back),
and the full application's second attempt is safe because station writes are idempotent by
event id. The route stays registered for OpenAPI and for those cases.

``read_batch`` reads a station batch (``POST /scans/batch``, the station page's sync) so that
one malformed event is rejected alone (``batch_body.py``).

Imports: Starlette's ASGI types, FastAPI's header parsing, pydantic, ``hesuan.bootstrap``
(types), ``hesuan.domain``, ``hesuan.services``, ``hesuan.entrypoints.api.schemas``.
"""

from __future__ import annotations

from datetime import UTC

from fastapi.security.utils import get_authorization_scheme_param
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hesuan.bootstrap import Platform
from hesuan.domain.access import Action, Principal, allows
from hesuan.domain.errors import HesuanError
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.bad_input import is_json
from hesuan.entrypoints.api.batch_body import read_items
from hesuan.services.sampling import EventKind, EventOutcome, StationEvent

__all__ = ["OUTCOME", "StationFastPath", "read_batch", "to_event"]

#: The answer to one station event, as bytes (the service's dataclass, no copy).
OUTCOME = TypeAdapter(EventOutcome)

_JSON_HEADERS = [(b"content-type", b"application/json")]


_KINDS = {k.value: k for k in EventKind}


def _declares_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return is_json(value.decode("latin-1"))
    return False


def to_event(e: s.StationEventIn) -> StationEvent:
    # the time in UTC once, here: pydantic's own ``TzInfo`` is asked for its offset on every
    # later conversion to epoch ms, four of them an event
    return StationEvent(event_id=e.event_id, kind=_KINDS[e.kind], site_id=e.site_id,
                        at=e.at.astimezone(UTC), barcode=e.barcode, mode=e.mode, code=e.code,
                        box_code=e.box_code, window=e.window)


def read_batch(raw: bytes) -> list[StationEvent | EventOutcome]:
    """The events of a station batch body ``raw`` (``schemas.StationBatchIn``), in order; a
    malformed item as its rejection (``batch_body.read_items``). Raises ``ValidationError``
    when the body is not a batch at all."""
    return read_items(raw, s.StationBatchIn, s.StationEventIn, to_event)


class StationFastPath:
    """ASGI middleware: ``POST /scans`` answered without the framework when nothing about it
    is unusual; every other request, and every unusual scan, to ``app``."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self._platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] != "/scans" or scope["method"] != "POST"
                or scope["query_string"] or scope.get("root_path") or not _declares_json(scope)):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        raw = bytes(body)
        principal = self._principal(scope)
        if principal is not None and allows(principal, Action.RECORD_STATION_EVENTS):
            try:
                event = to_event(s.StationEventIn.model_validate_json(raw))
                outcome = await self._platform.sampling.submit_one(principal, event)
            except (ValidationError, HesuanError):
                pass  # the full application answers it, as it always has
            else:
                answer = OUTCOME.dump_json(outcome)
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*_JSON_HEADERS,
                                        (b"content-length", str(len(answer)).encode())]})
                await send({"type": "http.response.body", "body": answer})
                return
        await self.app(scope, _replay(raw, receive), send)

    def _principal(self, scope: Scope) -> Principal | None:
        for name, value in scope["headers"]:
            if name == b"authorization":
                # parsed as FastAPI's HTTPBearer parses it
                scheme, token = get_authorization_scheme_param(value.decode("latin-1"))
                if scheme.lower() != "bearer" or not token:
                    return None
                return self._platform.auth.cached(token)
        return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` as if the body had not been read yet."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed
