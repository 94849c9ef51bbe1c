"""People: identity documents, groups, and masking of personal data.

A person (居民) is identified by a document: a resident ID number (居民身份证号, 18 characters,
validated by ``stdnum.cn.ric``: checksum, birth date, region), a passport, or a Hong Kong/Macau
home-return permit (港澳居民来往内地通行证). Groups (重点人群) decide cadence and whether the person
must be sampled in a single tube.

Imports: standard library and ``stdnum`` (pure validators).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

from stdnum.cn import ric
from stdnum.exceptions import ValidationError as _StdnumError

from hesuan.domain.errors import InvalidInput

__all__ = [
    "SINGLE_TUBE_GROUPS",
    "Group",
    "IdKind",
    "Language",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "normalise_id_number",
    "normalise_phone",
    "parse_groups",
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


class Language(enum.StrEnum):
    ZH = "zh"
    EN = "en"


_PASSPORT = re.compile(r"^[A-Z]{1,2}[0-9]{6,8}$")
_HK_MACAU = re.compile(r"^[HM][0-9]{8}$")
_PHONE = re.compile(r"^1[3-9][0-9]{9}$")


def normalise_id_number(kind: IdKind, number: str) -> str:
    """Return the canonical form of an ID number, or raise InvalidInput naming the rule broken."""
    raw = number.strip().upper().replace(" ", "")
    if kind is IdKind.RESIDENT:
        try:
            return str(ric.validate(raw))
        except _StdnumError as exc:
            raise InvalidInput(
                f"id_number is not a valid resident ID number (18 characters, region, birth "
                f"date and check digit per GB 11643): {exc}",
                code="bad_id_number",
                field="id_number",
            ) from None
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
    digits = re.sub(r"[\s-]", "", phone.strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    if not _PHONE.match(digits):
        raise InvalidInput(
            "phone must be an 11-digit mainland mobile number starting 13-19",
            code="bad_phone",
            field="phone",
        )
    return digits


def parse_groups(values: Iterable[str]) -> frozenset[Group]:
    out: set[Group] = set()
    for value in values:
        value = value.strip()
        if not value:
            continue
        try:
            out.add(Group(value))
        except ValueError:
            allowed = ", ".join(g.value for g in Group)
            raise InvalidInput(
                f"groups: unknown group {value!r} (allowed: {allowed})",
                code="bad_group",
                field="groups",
            ) from None
    return frozenset(out)


def mask_name(name: str) -> str:
    """张三 → 张*, 张小明 → 张*明, 欧阳小明 → 欧**明; Latin names keep each part's first letter."""
    name = name.strip()
    if not name:
        return ""
    if name.isascii():
        return " ".join(p[0] + "*" * (len(p) - 1) for p in name.split())
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(number: str) -> str:
    if len(number) <= 8:
        return number[:1] + "*" * (len(number) - 2) + number[-1:]
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "*" * len(phone)
