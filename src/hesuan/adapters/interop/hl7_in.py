"""HL7 v2 results in: ORU^R01 messages, versions 2.3 to 2.5.1, read with python-hl7.

A file or a frame may hold one message or an FHS/BHS batch of them, its segments separated by CR
(the standard), LF or CRLF; MLLP's framing bytes and blank lines are left out. The bytes are read
as UTF-8 (python-hl7's own default would read Chinese names the same, but only when asked with
the bytes); a message that is not UTF-8 is read in the character set its MSH-18 names, and
without one as GB 18030, the city's older systems' encoding.

Each message gives a :class:`LabMessage`; each OBR (with the OBX and SPM after it) an order, and
each qualitative OBX in it a :class:`LabResult` with the order's numeric OBX beside it as
measurements (Ct values). Ask-at-order-entry answers (OBX-29 ``QST``) and supporting clinical
information (``SCI``) are not results and are left out. docs/INTEROP.md has the field table.

Imports: ``hl7`` (when a message is read), standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hesuan.adapters.interop.extra import hl7_module, instant, unreadable_hl7
from hesuan.adapters.text_encodings import looks_like_big5
from hesuan.domain.errors import InvalidInput
from hesuan.domain.interop import IdSource, Measurement, ObservedValue, SpecimenId
from hesuan.domain.lab_codes import Coding, Concept, ResultStatus, code_system, status_of_hl7
from hesuan.services.interop_ports import (
    Facility,
    LabMessage,
    LabMessageFormat,
    LabResult,
    PatientAsGiven,
    UnreadableMessage,
)

__all__ = ["read_hl7", "segments_text"]

#: MSH-18 character sets (HL7 table 0211) → Python codecs.
_CHARSETS = {
    "unicode utf-8": "utf-8", "utf-8": "utf-8", "ascii": "ascii", "8859/1": "latin-1",
    "8859/2": "iso8859-2", "8859/5": "iso8859-5", "8859/7": "iso8859-7", "8859/15": "iso8859-15",
    "gb 18030-2000": "gb18030", "gb18030": "gb18030", "gbk": "gbk", "big-5": "big5",
    "iso ir87": "iso2022_jp", "unicode": "utf-16",
}
#: OBX-29 observation types that are not results: questions asked at ordering, clinical
#: information supporting the order.
_NOT_RESULTS = frozenset({"QST", "SCI"})
_CODED = frozenset({"CE", "CWE", "CNE", "CF", "CV"})
_NUMERIC = frozenset({"NM", "SN"})


def _decode(data: bytes) -> str:
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    named = _msh18(data)
    codec = _CHARSETS.get(named.lower(), "gb18030")
    if not named and looks_like_big5(data):
        # GB 18030, the guess without MSH-18, would read Big5 into other characters
        raise unreadable_hl7("its bytes are not UTF-8 and read as Big5, which MSH-18 does not "
                             "name: name the character set (BIG-5) or send UTF-8", "encoding")
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        raise unreadable_hl7(f"its bytes are neither UTF-8 nor {named or 'GB 18030'}",
                             "encoding") from None


def _msh18(data: bytes) -> str:
    m = re.search(rb"MSH(.)", data)
    if m is None:
        return ""
    line = re.split(rb"[\r\n]", data[m.start():], maxsplit=1)[0]
    fields = line.split(m.group(1))
    # fields[0] is "MSH" and fields[1] the encoding characters (MSH-2): MSH-18 is fields[17].
    if len(fields) > 17:
        return fields[17].split(b"^")[0].decode("ascii", "replace").strip()
    return ""


def segments_text(text: str) -> str:
    """The segments of ``text`` joined by CR, whatever separated them (CR, LF, CRLF), without
    MLLP's framing bytes, a byte-order mark or blank lines."""
    text = text.replace("\x0b", "").replace("\x1c", "").lstrip("\ufeff")
    segments = (s.strip(" \t\x0c") for s in re.split(r"\r\n|\r|\n", text))
    return "\r".join(s for s in segments if s)


def read_hl7(data: bytes) -> list[LabMessage | UnreadableMessage]:
    """The messages of an HL7 v2 message or FHS/BHS batch; in a batch of several, one that
    cannot be read is an ``UnreadableMessage`` in its place. ``InvalidInput``:
    ``unreadable_hl7`` (with the reason), ``interop_extra_missing``."""
    hl7 = hl7_module()
    text = segments_text(_decode(data))
    if not text:
        raise unreadable_hl7("it is empty")
    if text[:3] not in ("MSH", "BHS", "FHS") or len(text) < 8:
        raise unreadable_hl7(f"it begins with {text[:12]!r}, not with an MSH, BHS or FHS segment")
    try:
        parsed = hl7.parse_hl7(text)
        messages = list(_messages(parsed, hl7))
    except InvalidInput:
        raise
    except Exception as e:  # python-hl7's own errors: ParseException, ValueError, IndexError
        raise unreadable_hl7(f"python-hl7 cannot parse it ({e})") from e
    if not messages:
        raise unreadable_hl7("it holds no MSH segment")
    out: list[LabMessage | UnreadableMessage] = []
    for number, message in enumerate(messages, 1):
        try:
            out.append(_read_one(message, number, len(messages)))
        except InvalidInput as e:
            if len(messages) == 1 or e.code != "unreadable_hl7":
                raise
            # one message of a batch: the others are read and answered
            out.append(UnreadableMessage(str(message).encode("utf-8"), e.code, e.message,
                                         e.field))
    return out


def _read_one(message: Any, number: int, of: int) -> LabMessage:
    """Message ``number`` of ``of``, read; ``unreadable_hl7`` when it is not."""
    try:
        return _message(message)
    except InvalidInput:
        raise
    except Exception as e:  # a segment shaped other than the standard says
        where = f"message {number} of {of}" if of > 1 else "it"
        raise unreadable_hl7(f"{where} is not shaped as HL7 v2 says ({e!r})") from e


def _messages(parsed: Any, hl7: Any) -> Iterator[Any]:
    if isinstance(parsed, hl7.File):
        for batch in parsed:
            yield from batch
    elif isinstance(parsed, hl7.Batch):
        yield from parsed
    else:
        yield parsed


def _f(seg: Any, field_num: int, component: int = 1, sub: int = 1, rep: int = 1) -> str:
    """One value of a segment, unescaped; empty when the segment does not have it."""
    try:
        value = seg.extract_field(field_num=field_num, repeat_num=rep, component_num=component,
                                  subcomponent_num=sub)
    except (IndexError, KeyError):
        return ""
    return str(value).strip()


def _reps(seg: Any, field_num: int) -> int:
    if field_num >= len(seg):
        return 0
    return len(seg(field_num))


def _name(seg: Any) -> str:
    return str(seg[0][0]).strip().upper()


def _hd(seg: Any, field_num: int) -> Facility:
    """An HD field (namespace ^ universal id ^ universal id type) as a facility."""
    return Facility(_f(seg, field_num, 1), _f(seg, field_num, 2), _f(seg, field_num, 3))


def _concept(seg: Any, field_num: int, rep: int = 1) -> Concept:
    """A CE or CWE field: its primary and alternate codes, and its text (CWE-9 original text,
    else the primary code's words)."""
    codings = []
    for first in (1, 4):
        code, words, system = (_f(seg, field_num, first + i, rep=rep) for i in range(3))
        if code:
            codings.append(Coding(code_system(system), code, words))
    text = _f(seg, field_num, 9, rep=rep) or _f(seg, field_num, 2, rep=rep)
    return Concept(tuple(codings), text)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _value(seg: Any) -> ObservedValue:
    """OBX-5 read by its type (OBX-2), with its units (OBX-6)."""
    kind = _f(seg, 2).upper()
    units = _f(seg, 6, 1) or _f(seg, 6, 2)
    # A value in components is coded whatever OBX-2 says (some systems leave OBX-2 empty).
    if kind in _CODED or (kind not in _NUMERIC and (_f(seg, 5, 2) or _f(seg, 5, 3))):
        coded = _concept(seg, 5)
        return ObservedValue(coded=coded) if coded.codings or coded.text else ObservedValue()
    if kind == "NM":
        raw = _f(seg, 5)
        n = _number(raw)
        return ObservedValue(number=n, units=units) if n is not None else ObservedValue(text=raw)
    if kind == "SN":
        comparator, first, separator, second = (_f(seg, 5, i) for i in range(1, 5))
        n = _number(first)
        if n is not None and not separator and not second:
            return ObservedValue(number=n, units=units, comparator=comparator)
        return ObservedValue(text="".join((comparator, first, separator, second)))
    words = " ".join(w for w in (_f(seg, 5, rep=r) for r in range(1, _reps(seg, 5) + 1)) if w)
    return ObservedValue(text=words)


def _performer(seg: Any) -> Facility | None:
    """OBX-23 (performing organization, XON), else OBX-15 (producer's id, CE)."""
    name = _f(seg, 23, 1)
    ident = _f(seg, 23, 10)
    if name or ident:
        return Facility(name, ident, _f(seg, 23, 6) or _f(seg, 23, 7))
    code, words, system = _f(seg, 15, 1), _f(seg, 15, 2), _f(seg, 15, 3)
    if code or words:
        return Facility(words or code, code, system)
    return None


def _patient(seg: Any) -> PatientAsGiven:
    ids = tuple(i for i in (_f(seg, 3, 1, rep=r) for r in range(1, _reps(seg, 3) + 1)) if i)
    given = tuple(g for g in (_f(seg, 5, 2), _f(seg, 5, 3)) if g)
    return PatientAsGiven(_f(seg, 5, 1), given, ids)


def _ei(seg: Any, field_num: int, source: IdSource) -> list[SpecimenId]:
    if seg is None:
        return []
    value = _f(seg, field_num, 1)
    return [SpecimenId(source, value, _f(seg, field_num, 2) or _f(seg, field_num, 3))] if value \
        else []


def _spm_ids(seg: Any) -> list[SpecimenId]:
    """SPM-2 (EIP): the placer's id, then the filler's, each an EI in subcomponents."""
    out = []
    for component, source in ((1, IdSource.SPECIMEN_PLACER), (2, IdSource.SPECIMEN_FILLER)):
        value = _f(seg, 2, component, 1)
        if value:
            out.append(SpecimenId(source, value, _f(seg, 2, component, 2)
                                  or _f(seg, 2, component, 3)))
    return out


@dataclass
class _Order:
    order: Concept
    ids: list[SpecimenId]
    observed_at: datetime | None
    status_code: str
    patient: PatientAsGiven | None
    observations: list[Any] = field(default_factory=list)


def _orders(message: Any) -> list[_Order]:
    orders: list[_Order] = []
    patient: PatientAsGiven | None = None
    orc: Any = None
    current: _Order | None = None
    for seg in message:
        name = _name(seg)
        if name == "PID":
            patient, current = _patient(seg), None
        elif name == "ORC":
            orc = seg
        elif name == "OBR":
            # OBR-2 and OBR-3, else the ORC's placer and filler order numbers.
            ids = [*(_ei(seg, 2, IdSource.PLACER_ORDER) or _ei(orc, 2, IdSource.PLACER_ORDER)),
                   *(_ei(seg, 3, IdSource.FILLER_ORDER) or _ei(orc, 3, IdSource.FILLER_ORDER))]
            current = _Order(_concept(seg, 4), ids, instant(_f(seg, 7)), _f(seg, 25), patient)
            orders.append(current)
            orc = None
        elif name == "OBX":
            if current is None:  # an OBX before any OBR: an order of its own
                current = _Order(Concept(), [], None, "", patient)
                orders.append(current)
            current.observations.append(seg)
        elif name == "SPM" and current is not None:
            current.ids += [i for i in _spm_ids(seg) if i not in current.ids]
    return orders


def _results(order: _Order) -> list[LabResult]:
    observations = [o for o in order.observations if _f(o, 29).upper() not in _NOT_RESULTS]
    read = [(o, _value(o)) for o in observations]
    qualitative = [(o, v) for o, v in read if v.number is None]
    numeric = [(o, v) for o, v in read if v.number is not None]
    beside = tuple(Measurement(_concept(o, 3), v) for o, v in numeric)
    # Without a qualitative result, each number is a result of its own (and says why it
    # cannot be applied); with one, the numbers go beside every qualitative result.
    chosen = [(o, v, beside) for o, v in qualitative] or [(o, v, ()) for o, v in numeric]
    out = []
    for seg, value, measurements in chosen:
        status_code = _f(seg, 11) or order.status_code
        out.append(LabResult(
            specimen_ids=tuple(order.ids), order=order.order, test=_concept(seg, 3), value=value,
            measurements=measurements,
            status=status_of_hl7(status_code) if status_code else ResultStatus.UNKNOWN,
            status_code=status_code, observed_at=instant(_f(seg, 14)) or order.observed_at,
            performer=_performer(seg), patient=order.patient))
    return out


def _message(message: Any) -> LabMessage:
    msh = message.segment("MSH")
    control_id = _f(msh, 10)
    if not control_id:
        raise unreadable_hl7("MSH-10, the message control id, is empty", "MSH-10")
    raw = str(message).encode("utf-8")
    kind = "^".join(p for p in (_f(msh, 9, 1), _f(msh, 9, 2)) if p)
    return LabMessage(
        format=LabMessageFormat.HL7V2, sending_application=_hd(msh, 3),
        sending_facility=_hd(msh, 4), control_id=control_id, version=_f(msh, 12, 1),
        message_type=kind, sent_at=instant(_f(msh, 7)), sha256=hashlib.sha256(raw).hexdigest(),
        results=tuple(r for order in _orders(message) for r in _results(order)),
        header=str(msh), raw=raw, processing_id=_f(msh, 11, 1).upper())
