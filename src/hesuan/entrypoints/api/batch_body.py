"""Station batches read item by item (``POST /scans/batch``, ``POST /lanes/batch``), and the
routes that read their own JSON body.

A batch is validated whole in one go in pydantic's core (the usual case, as fast as one model);
only when that fails is it read again as an envelope of loose items, each validated by itself,
and a malformed one answered in its place as a per-item rejection naming the rule and the
field. Only a body that is not a batch at all is refused whole, with FastAPI's usual 422.

Imports: FastAPI, pydantic, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from hesuan.services.sampling import EventOutcome

__all__ = ["json_body", "read_items", "validated"]

_Item = TypeVar("_Item", bound=BaseModel)
_Event = TypeVar("_Event")
_Read = TypeVar("_Read")


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


def read_items(raw: bytes, batch: type[BaseModel], item: type[_Item],
               convert: Callable[[_Item], _Event]) -> list[_Event | EventOutcome]:
    """The events of a batch body ``raw`` (``batch``: ``events``, a list of ``item``), each
    made by ``convert``, in order; a malformed item as its rejection. Raises
    ``ValidationError`` when the body is not a batch at all."""
    try:
        body = batch.model_validate_json(raw)
    except ValidationError:
        pass
    else:
        return [convert(e) for e in body.events]  # type: ignore[attr-defined]
    loose = _LOOSE.validate_json(raw)  # raises: not a batch
    out: list[_Event | EventOutcome] = []
    for one in loose.events:
        try:
            out.append(convert(item.model_validate(one)))
        except ValidationError as exc:
            out.append(_malformed(one, exc))
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


def validated(read: Callable[[bytes], _Read], raw: bytes) -> _Read:
    """The request's JSON as ``read`` makes it, or FastAPI's usual 422 (locations under
    ``body``) when ``read`` raises a validation error."""
    try:
        return read(raw)
    except ValidationError as exc:
        # an unreadable body is echoed as FastAPI does it (no input): it may not be UTF-8
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])}
             | ({"input": {}} if isinstance(e.get("input"), bytes) else {})
             for e in exc.errors(include_url=False)]) from None


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a route that validates its own JSON body as ``model`` (``validated``):
    the body's schema, with nested models written out in place, and the bearer scheme that
    ``current_principal`` checks."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": inline(schema)}}},
            "security": [{"HTTPBearer": []}]}
