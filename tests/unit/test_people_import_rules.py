"""The rules a district office's people file meets: resident ID numbers (area codes valid at any
time, 15-digit first-generation numbers, birth dates not in the future), landlines beside mobile
phones, and group names in Chinese with any usual separator."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum.cn import ric

from hesuan.domain.errors import InvalidFields, InvalidInput
from hesuan.domain.people import (
    Group,
    IdKind,
    is_mobile,
    normalise_id_number,
    normalise_phone,
    parse_groups,
    split_groups,
)

TODAY = date(2022, 8, 29)


def resident_id(area: str, born: str, seq: str = "123") -> str:
    """An 18-digit number with the right GB 11643 check digit for any area and birth date."""
    body = area + born + seq
    return body + ric.calc_check_digit(body + "0")


def first_generation(area: str, born: str, seq: str = "123") -> str:
    """A 15-digit number: area, two-digit year, month, day, sequence; no check digit."""
    return area + born[2:] + seq


def check(number: str) -> str:
    return normalise_id_number(IdKind.RESIDENT, number, today=TODAY)


@pytest.mark.parametrize(("area", "born"), [
    ("140105", "19800506"),  # 小店区 exists from 1997; the household moved there later
    ("140110", "19600101"),  # 晋源区, likewise
    ("140102", "20050101"),  # 南城区 ended in 1997; the number was issued before
    ("110103", "20150101"),  # 北京 崇文区 ended in 2010
    ("140121", "19501001"),  # 清徐县, never changed
])
def test_an_area_code_valid_at_any_time_is_accepted(area: str, born: str) -> None:
    number = resident_id(area, born)
    assert check(number.lower()) == number


@pytest.mark.parametrize("area", ["999999", "149999", "140199", "000000"])
def test_an_area_code_that_never_existed_is_rejected(area: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check(resident_id(area, "19800506"))
    assert (exc.value.field, exc.value.code) == ("id_number", "bad_id_number")
    assert "area code" in exc.value.message


def test_checksum_and_date_are_still_checked() -> None:
    good = resident_id("140105", "19800506")
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(InvalidInput, match="check digit"):
        check(bad_check)
    with pytest.raises(InvalidInput, match="birth date"):
        check(resident_id("140105", "19800230"))
    with pytest.raises(InvalidInput, match="18 characters"):
        check(good[:17])


def test_a_birth_date_in_the_future_is_rejected() -> None:
    assert check(resident_id("140105", "20220829")) == resident_id("140105", "20220829")
    for born in ("20220830", "20230101", "20991231"):
        with pytest.raises(InvalidInput) as exc:
            check(resident_id("140105", born))
        assert exc.value.field == "id_number" and "future" in exc.value.message


def test_the_future_is_the_date_given_not_the_machine_date() -> None:
    number = resident_id("140105", "20230101")
    assert normalise_id_number(IdKind.RESIDENT, number, today=date(2024, 1, 1)) == number
    with pytest.raises(InvalidInput):
        normalise_id_number(IdKind.RESIDENT, number, today=date(2022, 12, 31))


def test_a_15_digit_number_converts_to_18_digits() -> None:
    old = first_generation("140105", "19800506", "123")
    assert len(old) == 15
    assert check(old) == resident_id("140105", "19800506", "123")
    assert check(first_generation("140102", "19650304", "002")) == resident_id(
        "140102", "19650304", "002")
    with pytest.raises(InvalidInput, match="birth date"):
        check(first_generation("140105", "19800230"))
    with pytest.raises(InvalidInput, match="area code"):
        check(first_generation("999999", "19800506"))


@pytest.mark.parametrize(("raw", "canonical"), [
    ("(0351)4040404", "0351-4040404"),
    ("（0351）4040404", "0351-4040404"),
    ("0351-4040404", "0351-4040404"),
    ("0351 4040404", "0351-4040404"),
    ("03514040404", "0351-4040404"),
    ("+86 351 4040404", "0351-4040404"),
    ("0086-351-4040404", "0351-4040404"),
    ("010-62345678", "010-62345678"),
    ("01062345678", "010-62345678"),
    ("(020)87654321", "020-87654321"),
    ("0351-40404040", "0351-40404040"),
])
def test_landlines_are_accepted_with_their_area_code(raw: str, canonical: str) -> None:
    assert normalise_phone(raw) == canonical
    assert not is_mobile(canonical)


def test_mobiles_are_as_before() -> None:
    assert normalise_phone("+86 138-1234-5678") == "13812345678"
    assert normalise_phone("138 1234 5678") == "13812345678"
    assert is_mobile("13812345678")


@pytest.mark.parametrize("raw", ["4040404", "0351-404", "0351-04040404", "12345",
                                 "0351-404040404", "(0351)", "tel 0351"])
def test_bad_phones_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        normalise_phone(raw)
    assert (exc.value.field, exc.value.code) == ("phone", "bad_phone")


@pytest.mark.parametrize(("cell", "groups"), [
    ("教师", {Group.TEACHER_STUDENT}),
    ("学生", {Group.TEACHER_STUDENT}),
    ("医务人员", {Group.MEDICAL}),
    ("医生、护士", {Group.MEDICAL}),
    ("快递员，外卖员", {Group.COURIER}),
    ("口岸、交通运输从业人员", {Group.PORT_TRANSPORT}),
    ("居家老人", {Group.ELDERLY_HOME}),
    ("Medical; courier", {Group.MEDICAL, Group.COURIER}),
    ("教师/医务人员|快递外卖人员；居家老人 port_transport",
     {Group.TEACHER_STUDENT, Group.MEDICAL, Group.COURIER, Group.ELDERLY_HOME,
      Group.PORT_TRANSPORT}),
    ("", set()),
    (" ， ", set()),
])
def test_group_names_codes_and_separators(cell: str, groups: set[Group]) -> None:
    assert parse_groups(split_groups(cell)) == groups


def test_every_unknown_group_is_named_by_its_place_not_its_words() -> None:
    """Not its words: a row with a column out of place holds a phone or a name there, and
    the error goes into a report file (docs/SECURITY.md §5)."""
    with pytest.raises(InvalidInput) as exc:
        parse_groups(split_groups("教师、宇航员、魔术师"))
    assert exc.value.field == "groups"
    assert "group 2, 3 of 3 is not known" in exc.value.message
    assert "宇航员" not in exc.value.message and "魔术师" not in exc.value.message
    assert "教师" in exc.value.message  # the accepted names are listed


def test_several_field_errors_travel_together() -> None:
    errors = [InvalidInput("a", code="bad_a", field="a"), InvalidInput("b", code="bad_b",
                                                                         field="b")]
    exc = InvalidFields(errors)
    assert isinstance(exc, InvalidInput) and exc.errors == tuple(errors)
    assert "a" in exc.message and "b" in exc.message
