"""Request and response bodies of the HTTP API (pydantic models; they appear in OpenAPI).

Imports: pydantic, FastAPI's ``Query`` (for a shared query parameter), the standard library,
``hesuan.domain`` enums.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from hesuan.domain.access import USERNAME_PATTERN, Role
from hesuan.domain.instants import EARLIEST, LATEST
from hesuan.domain.people import IdKind
from hesuan.domain.regions import Level
from hesuan.domain.sampling import SiteKind

__all__ = [
    "AuditCheckpointOut",
    "AuditVerifyOut",
    "BoxCode",
    "Created",
    "ErrorBody",
    "ErrorResponse",
    "EventOutcomeOut",
    "FieldError",
    "HandoverIn",
    "HandoverOut",
    "Id",
    "Instant",
    "LabIn",
    "NoNul",
    "Note",
    "PersonIn",
    "ReceiptOut",
    "ReceiveIn",
    "RegionFilter",
    "RegionIn",
    "RegionsIn",
    "ResultIn",
    "ResultOutcomeOut",
    "ResultsFileOut",
    "ResultsIn",
    "ResultsOut",
    "SamplingCodeOut",
    "SiteIn",
    "StationBatchIn",
    "StationBatchOut",
    "StationEventIn",
    "Strict",
    "TokenRequest",
    "TokenResponse",
    "UserCreate",
]

#: A record's id in a path or body (a person, site, place, staff member...).
Id = Annotated[str, Field(min_length=1, max_length=40)]
#: A free-text note beside an action.
Note = Annotated[str | None, Field(default=None, max_length=200)]
#: The ``region`` query parameter: a region code, or its prefix (digits only).
RegionFilter = Annotated[str | None, Query(max_length=15, pattern=r"^\d*$")]

Barcode = Field(min_length=1, max_length=40, description="13-digit tube barcode, Luhn check")

# The formats the server enforces, written into the document as patterns. The checks stay in
# the domain, which names the rule a value breaks (a Luhn or ID-number check digit, a birth
# date, a region's level), and which reads a code with blanks around it or in lower case as
# the same code; the patterns give the canonical form.
#: A tube barcode: 13 digits, the last a Luhn check digit.
BARCODE = r"^[0-9]{13}$"
#: A transport box code: ``BX`` and 10 digits, the last a Luhn check digit.
BOX_CODE = r"^BX[0-9]{10}$"
#: A resident ID number (18 characters with the GB 11643 check, or 15 digits), a passport
#: number (1-2 letters, 6-8 digits) or a Hong Kong/Macau permit (H or M, 8 digits).
ID_NUMBER = r"^([0-9]{17}[0-9Xx]|[0-9]{15}|[A-Za-z]{1,2}[0-9]{6,8}|[HhMm][0-9]{8})$"
#: A region code: province 2 digits, city 4, district 6, street 9, community 12, grid 15.
REGION_CODE = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12}|[0-9]{15})$"
GRID_CODE = r"^[0-9]{15}$"
#: Any text of a request body: no NUL character (``Strict``).
NO_NUL = r"^[^\x00]*$"


def documented(pattern: str) -> dict[str, Any]:
    """A field's ``json_schema_extra``: the format the domain checks, in the document."""
    return {"pattern": pattern}


#: A box code in a path.
BoxCode = Annotated[str, Path(json_schema_extra=documented(BOX_CODE),
                              description="BX and 10 digits, Luhn check")]

#: An aware time inside the platform's life (``hesuan.domain.instants``: 2020-01-01 to
#: 2100-01-01 UTC), checked inside pydantic's core; outside it is a 422 naming the field.
Instant = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST)]


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL (\\x00) characters")
    if isinstance(value, list | tuple):
        for item in value:
            _no_nul(item)
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_nul(k)
            _no_nul(v)
    return value


def _text_without_nul(schema: Any) -> None:
    """Write ``NO_NUL`` into a property's schema wherever it is plain text (a string without a
    pattern, format, enum or const of its own), in place."""
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(
            schema):
        schema["pattern"] = NO_NUL
    for branch in schema.get("anyOf", []):
        _text_without_nul(branch)
    _text_without_nul(schema.get("items"))


def _no_nul_in_document(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        _text_without_nul(prop)


class Strict(BaseModel):
    """Request bodies: unknown fields are refused, and so is a NUL character in any text (no
    store keeps it: PostgreSQL rejects it outright); the document says so with a pattern."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_nul_in_document)

    @field_validator("*", mode="after")
    @classmethod
    def _text_has_no_nul(cls, value: Any) -> Any:
        return _no_nul(value)


class FieldError(BaseModel):
    """One field's failure of a request's schema, as FastAPI reports it (``bad_input.py``)."""

    type: str
    loc: list[str | int]
    msg: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    code: str
    field: str | None
    message: str
    #: A request that fails its schema: each field's failure (at most 20); absent otherwise.
    errors: list[FieldError] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class TokenRequest(Strict):
    username: str = Field(min_length=1, max_length=60)
    password: str = Field(min_length=1, max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class UserCreate(Strict):
    username: str = Field(min_length=3, max_length=60, pattern=USERNAME_PATTERN)
    password: str = Field(min_length=8, max_length=200)
    role: Role
    scope: str | None = Field(default=None, max_length=32)


class Created(BaseModel):
    id: str


class RegionIn(Strict):
    code: str = Field(min_length=2, max_length=15, json_schema_extra=documented(REGION_CODE))
    level: Level
    name: str = Field(min_length=1, max_length=100)
    parent_code: str | None = Field(default=None, max_length=15,
                                    json_schema_extra=documented(REGION_CODE))


class RegionsIn(Strict):
    regions: list[RegionIn] = Field(max_length=10000)


class SiteIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    kind: SiteKind
    region_code: str = Field(min_length=2, max_length=15,
                             json_schema_extra=documented(REGION_CODE))
    opening_hours: str = Field(default="07:00-21:00", max_length=11)
    windows: int = Field(default=2, ge=1, le=50)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)



class LabIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    region_code: str = Field(min_length=2, max_length=15,
                             json_schema_extra=documented(REGION_CODE))
    daily_capacity: int = Field(ge=1, le=10_000_000)


class PersonIn(Strict):
    id_kind: IdKind = IdKind.RESIDENT
    id_number: str = Field(min_length=1, max_length=40, json_schema_extra=documented(ID_NUMBER))
    name: str = Field(min_length=1, max_length=40)
    phone: str | None = Field(default=None, max_length=20)
    grid_code: str = Field(min_length=15, max_length=15, json_schema_extra=documented(GRID_CODE))
    groups: list[str] = Field(default_factory=list, max_length=10)
    language: Literal["zh", "en"] = "zh"
    household_id: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=80)



class SamplingCodeOut(BaseModel):
    code: str


#: Text without NUL characters, checked inside pydantic's core by a pattern instead of by
#: ``Strict``'s Python validator on every field: a station batch is 1,000 of these models, and
#: a Python call per field costs more than the rest of an event's validation.
NoNul = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]


class StationEventIn(BaseModel):
    """One station event (unknown fields refused; no NUL in any text, as with ``Strict``)."""

    model_config = ConfigDict(extra="forbid")

    event_id: NoNul = Field(min_length=1, max_length=45,
                            description="client-made UUID, any spelling (canonical: lower-case "
                                        "8-4-4-4-12); time-ordered (UUIDv7) preferred")
    kind: Literal["open_tube", "sample", "seal_tube", "box_tube", "seal_box"]
    site_id: NoNul = Field(min_length=1, max_length=32)
    at: Instant = Field(description="the station's clock when the event happened")
    barcode: NoNul | None = Field(default=None, max_length=40,
                                  json_schema_extra=documented(BARCODE))
    mode: int | None = Field(default=None, ge=0, le=100)
    code: NoNul | None = Field(default=None, max_length=200, description="sampling-code token")
    box_code: NoNul | None = Field(default=None, max_length=40,
                                   json_schema_extra=documented(BOX_CODE))
    window: int | None = Field(default=None, ge=0, le=100)


class StationBatchIn(Strict):
    events: list[StationEventIn] = Field(max_length=1000)


class EventOutcomeOut(BaseModel):
    event_id: str
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None
    message: str | None = None
    field: str | None = None
    tube: dict[str, Any] | None = None
    person: dict[str, Any] | None = None


class StationBatchOut(BaseModel):
    results: list[EventOutcomeOut]
    accepted: int
    duplicate: int
    rejected: int


_DELIVERY_ID = "client-made UUID, any spelling (canonical: lower-case 8-4-4-4-12)"


class HandoverIn(Strict):
    event_id: str = Field(min_length=1, max_length=45, description=_DELIVERY_ID)
    at: Instant
    counted: int | None = Field(default=None, ge=0, le=1000,
                                description="the tubes the box's label says; another count "
                                            "than the box's record is refused")


class HandoverOut(BaseModel):
    box_code: str
    duplicate: bool


class ReopenIn(Strict):
    event_id: str = Field(min_length=1, max_length=45, description=_DELIVERY_ID)
    at: Instant
    take_out: list[str] = Field(default_factory=list, max_length=1000,
                                description="tubes recorded in the box that are not in it: "
                                            "taken out of its record, sealed and waiting for "
                                            "a box again")


class ReopenOut(BaseModel):
    box_code: str
    tubes: int = Field(description="the tubes the box now holds")
    taken_out: list[str]
    duplicate: bool


class RejectionIn(Strict):
    """A tube the lab cannot test: the code of the reason (leaked, insufficient_volume,
    label_unreadable, ...: docs/LAB.md), and a note (required with ``other``)."""

    barcode: str = Field(min_length=1, max_length=40)
    code: str = Field(min_length=1, max_length=40)
    note: str | None = Field(default=None, max_length=500)


class ReceiveIn(Strict):
    event_id: str = Field(min_length=1, max_length=45, description=_DELIVERY_ID)
    lab_id: str = Field(min_length=1, max_length=32)
    at: Instant
    tube_barcodes: list[str] | None = Field(default=None, max_length=1000)
    counted: int | None = Field(default=None, ge=0, le=1000)
    rejected: list[RejectionIn] = Field(default_factory=list, max_length=1000,
                                        description="tubes of the box rejected at receipt")


class ReceiptOut(BaseModel):
    box_code: str
    expected: int
    received: int
    missing: list[str]
    extra: list[str]
    discrepancy: bool
    duplicate: bool
    custody_break: bool = Field(description="no courier's hand-over was on record: received, "
                                            "and a custody_break alert raised")
    rejected: list[str] = Field(default_factory=list,
                                description="the tubes rejected at receipt")
    received_extra: list[str] = Field(
        default_factory=list, description="tubes of the platform found in the box though "
                                          "another box's record (or none) holds them: received "
                                          "as this lab's")


class ResultIn(Strict):
    barcode: str = Field(min_length=1, max_length=40, json_schema_extra=documented(BARCODE))
    result: str = Field(min_length=1, max_length=20)
    ct: dict[str, float] | None = None
    correction_reason: str | None = Field(default=None, max_length=500)


class ResultsIn(Strict):
    results: list[ResultIn] = Field(max_length=20000)


class ResultOutcomeOut(BaseModel):
    barcode: str
    # a released result changed (``correction_reason``) is a correction request, applied once
    # a second lab user of the lab approves it (``POST /corrections/{correction_id}/approve``)
    status: Literal["accepted", "correction_requested", "duplicate", "rejected"]
    reason: str | None = None
    message: str | None = None
    row: int | None = None
    correction_id: str | None = None


class ResultsOut(BaseModel):
    results: list[ResultOutcomeOut]


class ResultsFileOut(BaseModel):
    rows: int
    problems: list[ResultOutcomeOut]


class AuditCheckpointOut(BaseModel):
    seq: int
    head: str
    at: str


class AuditVerifyOut(BaseModel):
    """``domain/audit.py``'s ``AuditReport``; docs/SECURITY.md explains each verdict."""

    verdict: Literal["intact", "broken", "truncated", "rewritten", "forged_checkpoint"]
    intact: bool
    entries: int = Field(description="entries verified, up to the first broken one")
    head_seq: int = Field(description="the last entry's seq")
    legacy_entries: int = Field(description="entries at or below the legacy boundary, "
                                            "hashed with plain SHA-256")
    first_broken_seq: int | None
    checkpoint: AuditCheckpointOut | None = Field(description="the latest validly signed one")
    bad_checkpoints: list[str] = Field(description="unsigned, unreadable or forged ones")
