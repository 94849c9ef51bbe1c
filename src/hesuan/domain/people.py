"""People: identity documents, phones, groups, and masking of personal data.

A person (居民) is identified by a document: a resident ID number (居民身份证号), a passport, or a
Hong Kong/Macau home-return permit (港澳居民来往内地通行证). Groups (重点人群) decide cadence and
whether the person must be sampled in a single tube.

Resident ID numbers (GB 11643) keep ``stdnum.cn.ric``'s checksum and calendar-date checks and its
table of area codes (``stdnum/cn/loc.dat``), with two differences from ``ric.validate``:

* the area code (digits 1-6) must be a code that existed at *any* time, not one in force in the
  birth year: it is where the household was registered when the number was issued, which for
  most people is years after their birth (Taiyuan's 140105-140110 date from 1997 and are carried
  by people born long before);
* the birth date must not be after ``today`` (the caller's clock, in Asia/Shanghai).

15-digit first-generation numbers (一代证) are converted to 18 digits by the national rule: "19"
is inserted before the two-digit birth year and the GB 11643 check digit appended, so both forms
of one number are one person.

Phones are mainland mobiles (``13812345678``) or landlines with their area code, kept as
``0351-4040404``; only mobiles receive SMS (:func:`is_mobile`).

Imports: standard library and ``stdnum`` (pure validators and their data).
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date

from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as _StdnumError

from hesuan.domain.digits import is_digits
from hesuan.domain.errors import InvalidInput

__all__ = [
    "GROUP_NAMES",
    "GROUP_SEPARATORS",
    "SINGLE_TUBE_GROUPS",
    "Group",
    "IdKind",
    "Language",
    "area_code_known",
    "is_mobile",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "normalise_id_number",
    "normalise_phone",
    "parse_groups",
    "split_groups",
]


class IdKind(enum.StrEnum):
    RESIDENT = "resident"  # 居民身份证
    PASSPORT = "passport"  # 护照
    HK_MACAU = "hk_macau"  # 港澳居民来往内地通行证


class Group(enum.StrEnum):
    """Groups with their own cadence (F10). Key groups (重点人群) are sampled in single tubes."""

    MEDICAL = "medical"  # 医务人员
    PORT_TRANSPORT = "port_transport"  # 口岸、交通运输从业人员
    COURIER = "courier"  # 快递外卖人员
    TEACHER_STUDENT = "teacher_student"  # 返校师生
    ELDERLY_HOME = "elderly_home"  # 居家老人


SINGLE_TUBE_GROUPS: frozenset[Group] = frozenset(
    {Group.MEDICAL, Group.PORT_TRANSPORT, Group.COURIER}
)

#: The Chinese names people write for each group in a people file, besides the code itself. The
#: first name of each is the one error messages show. A name with "、" ("教师、学生") is also
#: accepted part by part, since "、" separates groups in a cell.
GROUP_NAMES: Mapping[Group, tuple[str, ...]] = {
    Group.MEDICAL: ("医务人员", "医护人员", "医务工作者", "医疗机构工作人员", "医生", "护士",
                    "医护", "医务"),
    Group.PORT_TRANSPORT: ("口岸、交通运输从业人员", "口岸", "口岸人员", "口岸工作人员",
                           "口岸从业人员", "交通运输从业人员", "交通运输人员", "交通运输",
                           "司乘人员", "货车司机"),
    Group.COURIER: ("快递外卖人员", "快递人员", "外卖人员", "快递员", "外卖员", "快递小哥",
                    "外卖骑手", "骑手", "快递", "外卖"),
    Group.TEACHER_STUDENT: ("教师、学生", "返校师生", "师生", "老师", "教职工", "教职员工"),
    Group.ELDERLY_HOME: ("居家老人", "老人", "老年人", "独居老人", "空巢老人"),
}

#: What separates several groups in one cell (after NFKC, which folds the full-width ，；／｜ and
#: the ideographic space into their ASCII forms): , ， 、 ; ； / ／ | ｜ and any white space.
GROUP_SEPARATORS = ",、;/|"

class Language(enum.StrEnum):
    ZH = "zh"
    EN = "en"


_PASSPORT = re.compile(r"^[A-Z]{1,2}[0-9]{6,8}$")
_HK_MACAU = re.compile(r"^[HM][0-9]{8}$")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
# A landline: the trunk 0, the area code (010 and 020-029 have three digits with the 0, every
# other area code four) and a local number of 7-8 digits that does not start with 0 or 1.
_LANDLINE = re.compile(r"^(0(?:10|2[0-9]|[3-9][0-9]{2}))([2-9][0-9]{6,7})$")
_PHONE_PUNCT = re.compile(r"[\s\-()]")
_GROUP_SPLIT = re.compile(r"[\s" + re.escape(GROUP_SEPARATORS) + r"]+")
_BY_NAME: dict[str, Group] = {g.value: g for g in Group} | {
    part: g for g, names in GROUP_NAMES.items() for name in names
    for part in _GROUP_SPLIT.split(name) if part}


def _bad_id(rule: str) -> InvalidInput:
    return InvalidInput(f"id_number {rule}", code="bad_id_number", field="id_number")


@functools.lru_cache(maxsize=16384)
def area_code_known(code: str) -> bool:
    """Whether a 6-digit area code (行政区划代码) was in use at any time, per stdnum's table."""
    return len(code) == 6 and is_digits(code) and any(
        "county" in props for _part, props in numdb.get("cn/loc").info(code))


def _resident_id(raw: str, today: date) -> str:
    number = ric.compact(raw).replace("-", "")
    if len(number) == 15 and is_digits(number):
        number = number[:6] + "19" + number[6:]
        number += ric.calc_check_digit(number + "0")
    elif len(number) != 18 or not is_digits(number[:17]) or number[17] not in "0123456789X":
        raise _bad_id("must be 18 characters (17 digits, then a digit or X) or a 15-digit "
                      "first-generation number")
    elif number[17] != ric.calc_check_digit(number):
        raise _bad_id("has a wrong check digit (the 18th character, GB 11643)")
    try:
        born = ric.get_birth_date(number)
    except _StdnumError:
        raise _bad_id("has no valid birth date (digits 7-14, YYYYMMDD)") from None
    if born > today:
        raise _bad_id("has a birth date (digits 7-14) in the future")
    if not area_code_known(number[:6]):
        raise _bad_id("has an area code (digits 1-6) that was never an administrative "
                      "division code")
    return number


def normalise_id_number(kind: IdKind, number: str, *, today: date) -> str:
    """Return the canonical form of an ID number, or raise InvalidInput naming the rule broken.

    ``today`` is the local date by the caller's clock: a birth date after it is refused."""
    raw = unicodedata.normalize("NFKC", number).strip().upper().replace(" ", "")
    if kind is IdKind.RESIDENT:
        return _resident_id(raw, today)
    pattern = _PASSPORT if kind is IdKind.PASSPORT else _HK_MACAU
    if not pattern.match(raw):
        rule = (
            "1-2 letters then 6-8 digits" if kind is IdKind.PASSPORT else "H or M then 8 digits"
        )
        raise InvalidInput(
            f"id_number is not a valid {kind} number ({rule})",
            code="bad_id_number",
            field="id_number",
        )
    return raw


def normalise_phone(phone: str) -> str:
    """A mobile as 11 digits (``13812345678``) or a landline as area code, hyphen, local number
    (``0351-4040404``); "+86"/"0086" and spaces, hyphens and brackets are dropped."""
    digits = _PHONE_PUNCT.sub("", unicodedata.normalize("NFKC", phone))
    international = digits.startswith(("+86", "0086"))
    if international:
        digits = digits.removeprefix("+86").removeprefix("0086")
    if _MOBILE.match(digits):
        return digits
    if international and digits[:1] != "0":
        digits = "0" + digits  # the trunk 0 is dropped after the country code
    m = _LANDLINE.match(digits)
    if m is None:
        raise InvalidInput(
            "phone must be a mainland mobile number (11 digits starting 13-19) or a landline "
            "with its area code (e.g. 0351-4040404 or (0351)4040404)",
            code="bad_phone",
            field="phone",
        )
    return f"{m.group(1)}-{m.group(2)}"


def is_mobile(phone: str) -> bool:
    """Whether a normalised phone can receive SMS (a mobile, not a landline)."""
    return _MOBILE.match(phone) is not None


def split_groups(cell: str) -> list[str]:
    """The group names in one cell, split at any of :data:`GROUP_SEPARATORS` or white space."""
    return [v for v in _GROUP_SPLIT.split(unicodedata.normalize("NFKC", cell)) if v]


def _group_of(value: str) -> Group | None:
    found = _BY_NAME.get(value)
    if found is None:
        found = _BY_NAME.get(unicodedata.normalize("NFKC", value).strip().casefold())
    return found


def parse_groups(values: Iterable[str]) -> frozenset[Group]:
    """Groups from their codes (``medical``, any case) or their usual Chinese names
    (:data:`GROUP_NAMES`); the place of every unknown one is named in the one error raised."""
    out: set[Group] = set()
    unknown: list[str] = []
    given = [v.strip() for v in values if v.strip()]
    for place, value in enumerate(given, start=1):
        g = _group_of(value)
        if g is None:
            unknown.append(str(place))
        else:
            out.add(g)
    if unknown:
        # the places, not the words: a row with a column out of place holds a phone or a
        # name here, and error reports are files
        allowed = ", ".join(f"{g.value} ({GROUP_NAMES[g][0]})" for g in Group)
        raise InvalidInput(
            f"groups: group {', '.join(unknown)} of {len(given)} is not known (accepted: the "
            f"codes or their usual Chinese names: {allowed})",
            code="bad_group",
            field="groups",
        )
    return frozenset(out)


def mask_name(name: str) -> str:
    """张三 → 张*, 张小明 → 张*明, 欧阳小明 → 欧**明; Latin names keep each part's first letter
    (a one-letter part after the first is masked whole: A B Smith → A * S****)."""
    name = name.strip()
    if not name:
        return ""
    if name.isascii():
        parts = name.split()
        return " ".join(p[0] + "*" * (len(p) - 1) if i == 0 or len(p) > 1 else "*"
                        for i, p in enumerate(parts))
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(number: str) -> str:
    """A resident ID number keeps its area's first four and its last four characters; a
    shorter document number (a passport, a permit) its first and last two, the rest masked."""
    if len(number) < 15:
        return number[:1] + "*" * max(len(number) - 3, 1) + number[-2:]
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "*" * len(phone)
