"""What a roster search looks for: an ID number (of any kind) and a phone by the keys people are
stored under, or else a name, compared without spaces and case."""

from __future__ import annotations

import pytest

from hesuan.domain.errors import InvalidInput
from hesuan.domain.rosters import name_key, roster_query


def test_an_id_number_a_phone_or_a_name() -> None:
    assert roster_query(" 11010519491231002x ").keys == ("resident:11010519491231002X",)
    assert roster_query("E12345678").keys == ("passport:E12345678",)
    assert roster_query("+86 138 1234 5678").keys == ("phone:13812345678",)
    assert roster_query("(0351)4040404").keys == ("phone:0351-4040404",)
    q = roster_query("张 伟")
    assert q.keys == () and q.name == "张伟"
    assert name_key("Anna·Müller") == name_key("anna müller")


def test_an_empty_search_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        roster_query("   ")
    assert e.value.code == "missing_query"
