"""The one error hierarchy of Hesuan.

Every error a caller can cause is a :class:`HesuanError`. Each carries a stable machine ``code``
(the reason code that batch endpoints report per item), the ``field`` it concerns when there is
one, and a message in plain words naming the field and the rule. Entry points map the classes
once: to HTTP status codes for the API and the web pages alike (``entrypoints.errors``) and to
CLI exit codes (the CLI's exit-code table). The database drivers' errors that mean something
here (the store cannot write; a concurrent writer won a unique key) are translated once, where
the adapters meet the drivers (``adapters.db.engine``).

::

    HesuanError
    ├── InvalidInput          422 / exit 2   malformed or failing a format rule (checksum, size)
    │   └── InvalidFields     422 / exit 2   several fields of one record, each with its rule
    ├── NotFound              404 / exit 3   the thing named does not exist (or is not yours to see)
    ├── RuleViolation         409 / exit 4   well-formed, but breaks a rule in the current state
    │   └── Conflict          409 / exit 4   clashes with what is already recorded
    ├── NotAuthenticated      401 / exit 5   no valid credentials
    ├── PermissionDenied      403 / exit 6   authenticated, but role or scope does not allow it
    ├── TooManyAttempts       429 / exit 7   too many tries too fast: try again after a while
    └── StoreUnavailable      503 / exit 8   the store cannot write now (disk full, connection
                                             lost): nothing was written; try again after a while

Imports: standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "Conflict",
    "HesuanError",
    "InvalidFields",
    "InvalidInput",
    "NotAuthenticated",
    "NotFound",
    "PermissionDenied",
    "RuleViolation",
    "StoreUnavailable",
    "TooManyAttempts",
]


class HesuanError(Exception):
    """Base of every error Hesuan raises on purpose."""

    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 detail: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        #: the facts the message names (a status, who, when: ISO 8601), so that a page can
        #: say them in its own language
        self.detail: Mapping[str, str] = detail or {}

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "field": self.field, "message": self.message}


class InvalidInput(HesuanError):
    """Input is malformed or fails a format rule (bad checksum, unknown pool size, ...)."""

    default_code = "invalid_input"


class InvalidFields(InvalidInput):
    """Several fields of one record fail their rules; ``errors`` holds each field's error, so a
    row of an import is reported with all its errors, not only the first."""

    default_code = "invalid_fields"

    def __init__(self, errors: Sequence[InvalidInput]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(e.message for e in self.errors),
                         field=",".join(dict.fromkeys(e.field or "" for e in self.errors)))


class NotFound(HesuanError):
    """The named thing does not exist, or the caller may not know that it exists."""

    default_code = "not_found"


class RuleViolation(HesuanError):
    """Input is well-formed but breaks a domain rule in the current state (tube full, ...)."""

    default_code = "rule_violation"


class Conflict(RuleViolation):
    """Input clashes with what is already recorded (barcode used, different result, ...)."""

    default_code = "conflict"


class NotAuthenticated(HesuanError):
    """No valid credentials were presented."""

    default_code = "not_authenticated"


class PermissionDenied(HesuanError):
    """The caller's role or scope does not allow this."""

    default_code = "permission_denied"


class TooManyAttempts(HesuanError):
    """Refused because of how often it was tried (failed sign-ins, key rotations): the same
    request may succeed after ``retry_after`` seconds (HTTP ``Retry-After``)."""

    default_code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None,
                 field: str | None = None) -> None:
        super().__init__(message, code=code, field=field)
        self.retry_after = max(1, retry_after)


class StoreUnavailable(HesuanError):
    """The store cannot write now: its disk is full, its disk fails, or the connection to the
    database was lost. The request's transaction was rolled back, so nothing was written,
    unless ``in_doubt``: the connection was lost while the database committed, which it may
    have done. The same request may succeed after ``retry_after`` seconds (HTTP
    ``Retry-After``)."""

    default_code = "store_unavailable"

    def __init__(self, message: str, *, retry_after: int, in_doubt: bool = False,
                 code: str | None = None, field: str | None = None) -> None:
        super().__init__(message, code=code, field=field)
        self.retry_after = max(1, retry_after)
        self.in_doubt = in_doubt
