"""The error hierarchy (``domain.errors``) mapped to HTTP, once: the status each class answers
and the headers that go with it. The API's exception handler, its middlewares and the web's
error pages all answer from this table, so a page and a route answer the same status for the
same error. (A page that re-renders its form with the error in place answers 200: that is the
page's presentation, not an error answer.)

Imports: Starlette, ``hesuan.domain``.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import JSONResponse

from hesuan.domain.errors import (
    HesuanError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RuleViolation,
    StoreUnavailable,
    TooManyAttempts,
)

__all__ = ["ERROR_STATUSES", "HTTP_STATUS", "error_headers", "error_json", "status_for"]

#: Each class of the hierarchy and its HTTP status; the first match wins, so a subclass
#: (``InvalidFields``, ``Conflict``) answers its parent's status.
HTTP_STATUS: Sequence[tuple[type[HesuanError], int]] = (
    (InvalidInput, 422),
    (NotFound, 404),
    (RuleViolation, 409),
    (NotAuthenticated, 401),
    (PermissionDenied, 403),
    (TooManyAttempts, 429),
    (StoreUnavailable, 503),
)
#: A ``HesuanError`` of none of those classes: a request the server cannot act on.
_OTHER = 400
#: Every status an error can answer (the API documents an error body for each).
ERROR_STATUSES = tuple(sorted({code for _, code in HTTP_STATUS}))


def status_for(exc: HesuanError) -> int:
    return next((code for cls, code in HTTP_STATUS if isinstance(exc, cls)), _OTHER)


def error_headers(exc: HesuanError) -> dict[str, str] | None:
    """``WWW-Authenticate`` with a 401; ``Retry-After`` when the same request may succeed later."""
    if isinstance(exc, NotAuthenticated):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, TooManyAttempts | StoreUnavailable):
        return {"Retry-After": str(exc.retry_after)}
    return None


def error_json(exc: HesuanError) -> JSONResponse:
    """The JSON answer to ``exc``: ``{"error": {code, field, message}}`` with its status."""
    return JSONResponse({"error": exc.as_dict()}, status_code=status_for(exc),
                        headers=error_headers(exc))
