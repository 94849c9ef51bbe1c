"""What an electronic lab report (ELR) says: the released result of one specimen, typed.

An :class:`ElrReport` is everything the writers of outgoing reports need (``adapters/elr``: an
HL7 v2.5.1 ORU^R01 and a FHIR R4 message Bundle), and nothing they would have to look up: the
tube (the specimen id), the lab that performed the test, the assay and its result with the Ct
value per target, the times, whether it corrects a result released before — or withdraws one
(a cancelled result: no result, the reason) —, the person as far as the receiving authority is
entitled to know them, and the route (who sends, who receives).

The person: a receiving authority is entitled either to the **full identity** (name, ID number,
birth date, sex, phone, address) or only to a **pseudonymous** id and the district
(:class:`Disclosure`). :func:`entitled_person` is the one place that decides what of a person
goes into a report; the writers write all that an :class:`ElrPerson` holds and nothing else.

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime

from hesuan.domain.errors import InvalidInput
from hesuan.domain.interop import PROCESSING_MODES, ProcessingId
from hesuan.domain.people import IdKind
from hesuan.domain.results import Result

__all__ = ["Application", "CtValue", "Disclosure", "District", "ElrAssay", "ElrCorrection",
           "ElrPerson", "ElrReport", "ElrRoute", "ElrWithdrawal", "Identity", "OrderCode",
           "Organization", "Sex", "SpecimenType", "entitled_person"]

#: An id carried as a message's or a resource's id: letters, digits, ``-`` and ``.`` (what FHIR
#: allows for a resource id, and safe in any HL7 v2 field).
_ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")
#: The longest namespace id (HL7 v2 HD.1, type IS) an organization's short name may be.
MAX_SHORT_NAME = 20


class Disclosure(enum.StrEnum):
    """What a receiving authority is entitled to know of the person."""

    FULL = "full"  # name, ID number, birth date, sex, phone, address
    PSEUDONYMOUS = "pseudonymous"  # the person's pseudonymous id and their district only


class Sex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"


class SpecimenType(enum.StrEnum):
    """The kind of swab in the tube."""

    THROAT_SWAB = "throat_swab"  # 咽拭子, the mass-testing default
    NASOPHARYNGEAL_SWAB = "nasopharyngeal_swab"  # 鼻咽拭子
    ANTERIOR_NARES_SWAB = "anterior_nares_swab"  # 鼻拭子


class OrderCode(enum.StrEnum):
    """The LOINC code of the test ordered (OBR-4, DiagnosticReport.code)."""

    PANEL = "94531-1"  # SARS-CoV-2 RNA panel, as ReportStream writes it
    RNA = "94500-6"  # SARS-CoV-2 RNA presence, the test performed itself


def _text(value: str, field: str, *, limit: int = 199) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(f"{field}: required", code="elr_field_required", field=field)
    if len(text) > limit:
        raise InvalidInput(f"{field}: at most {limit} characters", code="elr_field_too_long",
                           field=field)
    return text


def _check_id(value: str, field: str) -> None:
    if not _ID_RE.fullmatch(value):
        raise InvalidInput(f"{field}: 1 to 64 letters, digits, '-' or '.'", code="bad_elr_id",
                           field=field)


def _check_aware(value: datetime | None, field: str) -> None:
    if value is not None and value.utcoffset() is None:
        raise InvalidInput(f"{field}: an instant with its offset", code="naive_time",
                           field=field)


@dataclass(frozen=True, slots=True)
class Organization:
    """A lab, a sending or a receiving facility: its name, its id (an OID when ``id_type`` is
    ``ISO``, or a national code such as the unified social credit code), and the short name an
    HL7 v2 namespace id carries (at most 20 characters; the name when not given)."""

    name: str
    id: str
    id_type: str = "ISO"
    short_name: str | None = None

    def __post_init__(self) -> None:
        _text(self.name, "organization.name")
        _text(self.id, "organization.id")
        if len(self.namespace) > MAX_SHORT_NAME:
            raise InvalidInput(f"organization.short_name: {self.name!r} needs a short name of at "
                               f"most {MAX_SHORT_NAME} characters for HL7 v2",
                               code="elr_field_too_long", field="organization.short_name")

    @property
    def namespace(self) -> str:
        return self.short_name or self.name


@dataclass(frozen=True, slots=True)
class Application:
    """A sending or receiving application (HL7 v2 MSH-3, MSH-5; FHIR MessageHeader source and
    destination) and the endpoint FHIR names it by."""

    name: str
    id: str | None = None
    id_type: str = "ISO"
    endpoint: str | None = None  # a URL or URN; ``urn:oid:{id}`` when not given

    def __post_init__(self) -> None:
        if len(_text(self.name, "application.name")) > MAX_SHORT_NAME:
            raise InvalidInput(f"application.name: at most {MAX_SHORT_NAME} characters",
                               code="elr_field_too_long", field="application.name")
        if self.endpoint is None and (self.id is None or self.id_type != "ISO"):
            raise InvalidInput("application.endpoint: required when the id is not an OID",
                               code="elr_field_required", field="application.endpoint")

    @property
    def url(self) -> str:
        return self.endpoint or f"urn:oid:{self.id}"


@dataclass(frozen=True, slots=True)
class ElrRoute:
    """Who sends and who receives, and what the receiver is entitled to know of people.
    ``processing`` is HL7's processing id: ``P`` production, ``T`` training, ``D`` debugging."""

    sending_application: Application
    sending_facility: Organization
    receiving_application: Application
    receiving_facility: Organization
    disclosure: Disclosure = Disclosure.PSEUDONYMOUS
    processing: ProcessingId = "P"

    def __post_init__(self) -> None:
        if self.processing not in PROCESSING_MODES:
            raise InvalidInput("processing: P, T or D", code="bad_processing_id",
                               field="processing")


@dataclass(frozen=True, slots=True)
class District:
    """The person's district (区/县): its administrative division code (GB/T 2260) and name."""

    code: str
    name: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"\d{6}", self.code):
            raise InvalidInput("district.code: six digits (GB/T 2260)", code="bad_district",
                               field="district.code")
        _text(self.name, "district.name")


@dataclass(frozen=True, slots=True)
class Identity:
    """The person in full. ``family_name`` splits ``name`` into family and given names when it
    is known (a Chinese name is kept whole otherwise); ``phone`` as the platform keeps it
    (``13812345678`` or ``0351-4040404``)."""

    name: str
    id_kind: IdKind
    id_number: str
    birth_date: date | None = None
    sex: Sex | None = None
    phone: str | None = None
    address: str | None = None
    family_name: str | None = None

    def __post_init__(self) -> None:
        _text(self.name, "identity.name", limit=50)
        _text(self.id_number, "identity.id_number", limit=40)
        if self.family_name is not None and not (
                self.name.startswith(self.family_name) and self.name != self.family_name):
            raise InvalidInput("identity.family_name: the start of the name",
                               code="bad_family_name", field="identity.family_name")
        if self.address is not None:
            _text(self.address, "identity.address", limit=120)

    @property
    def given_name(self) -> str | None:
        if self.family_name is None:
            return None
        return self.name[len(self.family_name):].strip() or None


@dataclass(frozen=True, slots=True)
class ElrPerson:
    """The person as a report carries them: always the pseudonymous id and the district; the
    full identity only for a receiver entitled to it (:func:`entitled_person`)."""

    pseudonym: str
    district: District
    identity: Identity | None = None

    def __post_init__(self) -> None:
        _check_id(self.pseudonym, "person.pseudonym")


def entitled_person(disclosure: Disclosure, pseudonym: str, district: District,
                    identity: Identity | None) -> ElrPerson:
    """The person as a receiver with ``disclosure`` is entitled to know them: without the
    identity for a pseudonymous receiver, and refused when a receiver entitled to the full
    identity would get a report without it."""
    if disclosure is Disclosure.PSEUDONYMOUS:
        return ElrPerson(pseudonym, district)
    if identity is None:
        raise InvalidInput("person: the receiver is entitled to the full identity and none was "
                           "given", code="identity_required", field="person")
    return ElrPerson(pseudonym, district, identity)


@dataclass(frozen=True, slots=True)
class ElrAssay:
    """The test: the assay (kit) the lab ran, as ``id@version`` and its name, and the order
    code the report is filed under."""

    ref: str
    name: str
    order_code: OrderCode = OrderCode.PANEL

    def __post_init__(self) -> None:
        _text(self.ref, "assay.ref", limit=20)
        _text(self.name, "assay.name")


@dataclass(frozen=True, slots=True)
class CtValue:
    """The cycle threshold of one target (``ORF1ab``, ``N``, ``E``, …)."""

    target: str
    value: float

    def __post_init__(self) -> None:
        _text(self.target, "ct.target", limit=20)
        if not 0 < self.value <= 60:
            raise InvalidInput(f"ct.{self.target}: a number in (0, 60]", code="bad_ct",
                               field="ct")


@dataclass(frozen=True, slots=True)
class ElrCorrection:
    """What a corrected result corrects: the result released before, when, and why."""

    previous: Result
    previous_released_at: datetime
    reason: str

    def __post_init__(self) -> None:
        _check_aware(self.previous_released_at, "correction.previous_released_at")
        _text(self.reason, "correction.reason", limit=500)


@dataclass(frozen=True, slots=True)
class ElrWithdrawal:
    """What a withdrawn (cancelled) result withdraws: the result released before, when, and
    why. A withdrawal reports no result in its place."""

    withdrawn: Result
    withdrawn_released_at: datetime
    reason: str

    def __post_init__(self) -> None:
        _check_aware(self.withdrawn_released_at, "withdrawal.withdrawn_released_at")
        _text(self.reason, "withdrawal.reason", limit=500)


@dataclass(frozen=True, slots=True)
class ElrReport:
    """The released result of one specimen for one person, as one report.

    ``message_id`` is new for every message written (MSH-10, the Bundle's identifier);
    ``report_id`` names the result and stays the same when it is corrected or withdrawn (the
    order and filler numbers, the DiagnosticReport's identifier), so a receiver replaces what it
    has. ``pool_size`` is the number of people's samples in the tube (混管): a pooled tube's
    result is the pool's. ``released_at`` is when this result, its correction or its withdrawal
    was released. A withdrawal has no ``result`` (None), no Ct values and no correction.
    """

    message_id: str
    report_id: str
    specimen_id: str
    lab: Organization
    assay: ElrAssay
    result: Result | None
    collected_at: datetime
    released_at: datetime
    person: ElrPerson
    route: ElrRoute
    ct: tuple[CtValue, ...] = ()
    received_at: datetime | None = None
    resulted_at: datetime | None = None
    specimen_type: SpecimenType = SpecimenType.THROAT_SWAB
    pool_size: int = 1
    correction: ElrCorrection | None = None
    withdrawal: ElrWithdrawal | None = None

    def __post_init__(self) -> None:
        _check_id(self.message_id, "message_id")
        _check_id(self.report_id, "report_id")
        _text(self.specimen_id, "specimen_id", limit=50)
        for name in ("collected_at", "released_at", "received_at", "resulted_at"):
            _check_aware(getattr(self, name), name)
        if not 1 <= self.pool_size <= 100:
            raise InvalidInput("pool_size: 1 to 100", code="bad_pool_size", field="pool_size")
        targets = [c.target.casefold() for c in self.ct]
        if len(set(targets)) != len(targets):
            raise InvalidInput("ct: one value per target", code="bad_ct", field="ct")
        if (self.result is None) != (self.withdrawal is not None):
            raise InvalidInput("result: a report gives a result unless it withdraws one",
                               code="elr_result_required", field="result")
        if self.withdrawal is not None and (self.ct or self.correction is not None):
            raise InvalidInput("withdrawal: a withdrawn result has no Ct values and corrects "
                               "nothing", code="elr_withdrawal_result", field="withdrawal")
        if self.correction is not None and self.correction.previous is self.result:
            raise InvalidInput("correction: the corrected result is the one released before",
                               code="correction_unchanged", field="correction")
        if self.route.disclosure is Disclosure.PSEUDONYMOUS and self.person.identity is not None:
            raise InvalidInput("person: the receiver is entitled to a pseudonymous id only",
                               code="identity_not_entitled", field="person")
        if self.route.disclosure is Disclosure.FULL and self.person.identity is None:
            raise InvalidInput("person: the receiver is entitled to the full identity and none "
                               "was given", code="identity_required", field="person")

    @property
    def corrected(self) -> bool:
        return self.correction is not None

    @property
    def withdrawn(self) -> bool:
        return self.withdrawal is not None
