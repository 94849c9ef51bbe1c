"""Local time (Asia/Shanghai, UTC+8 all year) in one module, ``domain.local_time``: the local
date and midnight of an aware instant, a wall-clock time read as local, and the forms pages and
messages show; and no other module defines the offset."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hesuan.domain import local_time as lt

#: 2022-08-28 16:30 UTC is 2022-08-29 00:30 in Shanghai: the local date is a day later.
AT = datetime(2022, 8, 28, 16, 30, tzinfo=UTC)


def test_the_local_day_of_an_instant() -> None:
    assert lt.local_date(AT) == date(2022, 8, 29)
    assert lt.local_date(AT - timedelta(minutes=31)) == date(2022, 8, 28)
    midnight = lt.local_midnight(AT)
    assert midnight == datetime(2022, 8, 28, 16, 0, tzinfo=UTC)
    assert midnight.utcoffset() == timedelta(hours=8)
    assert lt.midnight_of(date(2022, 8, 29)) == midnight


def test_wall_clock_times_are_read_and_shown_in_local_time() -> None:
    assert lt.as_local(datetime(2022, 8, 29, 0, 30)) == AT
    assert lt.local(AT).hour == 0
    assert lt.hh_mm(AT) == "00:30"
    assert lt.short(AT) == "08-29 00:30"
    assert lt.short(None) == "—"


def test_no_other_module_defines_the_offset() -> None:
    src = Path(lt.__file__).parents[1]
    found = [str(p.relative_to(src)) for p in src.rglob("*.py")
             if p.name != "local_time.py"
             and re.search(r"timedelta\(hours=8\)\)|ZoneInfo\(\"Asia/Shanghai", p.read_text())]
    assert found == []
