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
one malformed event is rejected alone: the whole body is validated in one go in pydantic's core
(the usual case, as fast as before); only when that fails is it read again as an envelope of
loose items, each validated by itself, and a malformed one answered as a per-item rejection
naming the rule and the field. Only a body that is not a batch at all is refused whole.

Imports: Starlette's ASGI types, FastAPI's header parsing, pydantic, ``hesuan.bootstrap``
(types), ``hesuan.domain``, ``hesuan.services``, ``hesuan.entrypoints.api.schemas``.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hesuan.bootstrap import Platform
from hesuan.domain.access import Action, Principal, allows
from hesuan.domain.errors import HesuanError
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.bad_input import is_json
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


class _LooseBatch(BaseModel):
    """A batch's envelope with its items unread: what is refused whole (not an object, unknown
    keys, no ``events`` list, more than 1,000 items)."""

    model_config = ConfigDict(extra="forbid")
    events: list[Any] = Field(max_length=1000)


_LOOSE = TypeAdapter(_LooseBatch)

#: Reasons for what pydantic finds wrong with one item's field, named as the service names the
#: same rules (``at`` without a zone: ``naive_time``, as ``domain.instants``).
_AT_REASONS = {"timezone_aware": "naive_time", "greater_than_equal": "implausible_time",
               "less_than": "implausible_time"}


def read_batch(raw: bytes) -> list[StationEvent | EventOutcome]:
    """The events of a batch body ``raw`` (``schemas.StationBatchIn``), in order; a malformed
    item as its rejection. Raises ``ValidationError`` when the body is not a batch at all."""
    try:
        body = s.StationBatchIn.model_validate_json(raw)
    except ValidationError:
        pass
    else:
        return [to_event(e) for e in body.events]
    loose = _LOOSE.validate_json(raw)  # raises: not a batch
    out: list[StationEvent | EventOutcome] = []
    for item in loose.events:
        try:
            out.append(to_event(s.StationEventIn.model_validate(item)))
        except ValidationError as exc:
            out.append(_malformed(item, exc))
    return out


def _malformed(item: Any, exc: ValidationError) -> EventOutcome:
    error = exc.errors(include_url=False, include_input=False)[0]
    loc = [str(part) for part in error["loc"]]
    field = ".".join(loc) or None
    kind = error["type"]
    if field is None:
        reason = "bad_event"  # not an object
    elif kind == "extra_forbidden":
        reason = "unknown_field"
    elif kind == "missing":
        reason = f"missing_{loc[0]}"
    elif loc[0] == "event_id":
        reason = "bad_event_id"
    elif loc[0] == "at" and kind in _AT_REASONS:
        reason = _AT_REASONS[kind]
    else:
        reason = f"bad_{loc[0]}"
    event_id = item.get("event_id") if isinstance(item, dict) else None
    return EventOutcome(event_id[:100] if isinstance(event_id, str) else "", "rejected", reason,
                        f"{field or 'event'}: {error['msg']}", field)


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
