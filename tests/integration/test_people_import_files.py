"""A people file as a district office exports it imports on both backends: GB18030, UTF-16 and
BOM files, Taiyuan numbers older than their district code, 15-digit numbers, landlines, Chinese
group names; future birth dates, broken quotes and undecodable files are reported, every error of
a row with its row, field and rule; no SMS goes to a landline."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from stdnum.cn import ric

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db.schema import outbox, people
from hesuan.bootstrap import Platform
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import InvalidInput
from hesuan.entrypoints.tables import detect_encoding, read_table
from hesuan.services.auth import SYSTEM
from hesuan.services.people import PEOPLE_COLUMNS, ImportReport
from hesuan.sim.example import seed_example_city
from hesuan.sim.simulate import CountingSender

ADMIN = Principal("a", "admin-test", Role.ADMIN)
GRID = "140105001001001"
HEADER = "id_kind,id_number,name,phone,grid_code,groups,language,household_id,address"


def resident_id(area: str, born: str, seq: str) -> str:
    body = area + born + seq
    return body + ric.calc_check_digit(body + "0")


TAIYUAN_1980 = resident_id("140105", "19800506", "123")
OLD_15 = "140110" + "650304" + "002"  # 1965-03-04, 晋源区
OLD_15_AS_18 = resident_id("140110", "19650304", "002")
FUTURE = resident_id("140105", "20230101", "011")  # after the test clock's 2022-08-29


def district_file(future: str = FUTURE) -> str:
    """What a district office's export looks like: Chinese names, groups, landlines, old numbers."""
    return "\n".join([
        HEADER,
        f"resident,{TAIYUAN_1980},王建国,(0351)4040404,{GRID},教师、医务人员,zh,,小店区1号楼",
        f"resident,{OLD_15},李秀英,13812345678,{GRID},居家老人,zh,,晋源区2号楼",
        f"resident,{OLD_15_AS_18},李秀英,13812345678,{GRID},居家老人,zh,,晋源区2号楼",
        f"resident,{resident_id('140106', '19901212', '456')},赵敏,0351-4040405,{GRID},"
        f"学生；快递员,zh,,迎泽区3号楼",
        f"resident,{future},张未来,13812345679,{GRID},,zh,,小店区4号楼",
        "",
    ])


def import_file(platform: Platform, path: Path) -> ImportReport:
    return platform.people.import_rows(ADMIN, read_table(path, PEOPLE_COLUMNS), {GRID})


def errors_of(report: ImportReport) -> set[tuple[int, str | None, str]]:
    return {(e.row, e.field, e.code) for e in report.errors}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_a_district_file_imports_in_every_usual_encoding(encoding: str, platform: Platform,
                                                         tmp_path: Path) -> None:
    seed_example_city(platform, people=0)
    path = tmp_path / "people.csv"
    path.write_bytes(district_file().encode(encoding))
    if encoding == "gb18030":
        assert path.read_bytes().count("王建国".encode("gb18030")) == 1
    report = import_file(platform, path)
    assert report.rows == 5
    # the 15-digit number and its 18-digit form are one person
    assert (report.inserted, report.already_present) == (3, 1), report.errors
    assert errors_of(report) == {(6, "id_number", "bad_id_number")}
    assert "future" in report.errors[0].message
    with platform.deps.uow(readonly=True) as uow:
        groups = sorted(r[0] for r in uow.conn.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT groups FROM people"))
    assert groups == ["courier,teacher_student", "elderly_home", "medical,teacher_student"]


def test_names_and_numbers_survive_the_encoding(platform: Platform, tmp_path: Path) -> None:
    seed_example_city(platform, people=0)
    path = tmp_path / "people.csv"
    path.write_bytes(district_file().encode("gb18030"))
    import_file(platform, path)
    with platform.deps.uow(readonly=True) as uow:
        pid = uow.people.person_id_by_hash(
            platform.deps.vault.lookup_hash(f"resident:{TAIYUAN_1980}"))
    assert pid is not None
    view = platform.people.get(ADMIN, pid, unmask=True)
    assert (view.name, view.phone, view.id_number) == ("王建国", "0351-4040404", TAIYUAN_1980)
    assert view.groups == ["medical", "teacher_student"]


def test_a_tab_separated_utf16_file_as_excel_saves_unicode_text(platform: Platform,
                                                                tmp_path: Path) -> None:
    seed_example_city(platform, people=0)
    path = tmp_path / "people.txt"
    path.write_bytes(district_file().replace(",", "\t").encode("utf-16"))
    report = import_file(platform, path)
    assert (report.inserted, report.already_present, len(report.errors)) == (3, 1, 1)


def test_a_file_that_cannot_be_decoded_is_one_file_level_error(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(HEADER.encode() + b"\nresident,\xff\xfe\xfa\x80,\x80\x80\n")
    with pytest.raises(InvalidInput) as exc:
        list(read_table(path))
    assert (exc.value.field, exc.value.code) == ("file", "bad_encoding")
    nul = tmp_path / "nul.csv"
    nul.write_bytes(HEADER.encode("utf-16-le"))  # UTF-16 without a byte-order mark
    with pytest.raises(InvalidInput) as exc:
        list(read_table(nul))
    assert exc.value.code == "bad_encoding"


#: People and addresses as a Taiyuan district office types them (Simplified Chinese).
SIMPLIFIED = [("张伟", "山西省太原市小店区平阳路街道学府街1号楼2单元301室"),
              ("王芳", "山西省太原市迎泽区迎泽大街88号院"),
              ("李娜", "太原市晋源区晋祠路三段12号"),
              ("刘洋", "太原市万柏林区千峰南路彩虹小区5栋"),
              ("陈静", "太原市杏花岭区胜利街（东段）6号"),
              ("杨秀英", "太原市尖草坪区柴村街道新城村"),
              ("赵磊", "山西省太原市小店区亲贤北街"),
              ("黄丽", "太原市小店区坞城路92号")]
#: As a Hong Kong or Taiwan office types them (Traditional Chinese).
TRADITIONAL = [("陳大文", "香港九龍旺角彌敦道123號"),
               ("黃志明", "香港新界沙田區大圍村南道8號"),
               ("李嘉欣", "香港島灣仔軒尼詩道302號"),
               ("林志玲", "臺北市信義區忠孝東路五段1號"),
               ("劉德華", "高雄市前鎮區中華五路789號"),
               ("張惠妹", "臺東縣卑南鄉")]


def people_file(typed: list[tuple[str, str]]) -> str:
    """A people file of these names and addresses."""
    return "\n".join([HEADER, *(f"resident,{TAIYUAN_1980},{name},13812345678,{GRID},,zh,,{where}"
                                for name, where in typed), ""])


@pytest.mark.parametrize("encoding", ["big5", "cp950", "big5hkscs"])
def test_a_big5_file_is_refused_not_read_as_gb18030(encoding: str, tmp_path: Path) -> None:
    """Big5 (Excel on a Taiwan or Hong Kong Windows) decodes as GB18030 without an error, into
    other characters: refused whole, the whole file or one person alone, never imported
    garbled."""
    for typed in (TRADITIONAL, *([p] for p in TRADITIONAL)):
        path = tmp_path / "people.csv"
        path.write_bytes(people_file(typed).encode(encoding))
        assert typed[0][0] not in path.read_bytes().decode("gb18030")  # garbled, no error
        with pytest.raises(InvalidInput) as exc:
            list(read_table(path, PEOPLE_COLUMNS))
        assert (exc.value.field, exc.value.code) == ("file", "bad_encoding")
        assert "Big5" in exc.value.message and "UTF-8" in exc.value.message


@pytest.mark.parametrize("encoding", ["gb18030", "gbk"])
def test_simplified_and_traditional_names_in_gb18030_are_read(encoding: str,
                                                              tmp_path: Path) -> None:
    """Names and addresses in GB18030 or GBK, Simplified or Traditional (GBK has the
    Traditional characters too), as a mainland office's Excel saves them: read as written."""
    for typed in (SIMPLIFIED, TRADITIONAL, SIMPLIFIED + TRADITIONAL,
                  *([p] for p in SIMPLIFIED + TRADITIONAL)):
        path = tmp_path / "people.csv"
        path.write_bytes(people_file(typed).encode(encoding))
        rows = list(read_table(path, PEOPLE_COLUMNS))
        assert [(r["name"], r["address"]) for r in rows] == typed


@settings(max_examples=300, deadline=None)
@given(simplified=st.lists(st.sampled_from(SIMPLIFIED), min_size=1, max_size=4),
       traditional=st.lists(st.sampled_from(TRADITIONAL), min_size=1, max_size=4),
       big5=st.sampled_from(["big5", "cp950", "big5hkscs"]))
def test_gb18030_is_read_and_big5_refused_whatever_people_a_file_holds(
        simplified: list[tuple[str, str]], traditional: list[tuple[str, str]], big5: str,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("encodings")
    gb, b5 = folder / "gb.csv", folder / "big5.csv"
    gb.write_bytes(people_file(simplified).encode("gb18030"))
    b5.write_bytes(people_file(traditional).encode(big5))
    assert detect_encoding(gb) == "gb18030"
    with pytest.raises(InvalidInput):
        detect_encoding(b5)


def gb2312_hanzi() -> list[str]:
    """GB2312's 6,763 hanzi (rows B0-F7): the Simplified Chinese an office types, but for rare
    names."""
    hanzi = []
    for lead in range(0xB0, 0xF8):
        for trail in range(0xA1, 0xFF):
            try:
                hanzi.append(bytes([lead, trail]).decode("gb2312"))
            except UnicodeDecodeError:  # D7FA-D7FE hold none
                continue
    return hanzi


@settings(max_examples=300, deadline=None)
@given(name=st.text(st.sampled_from(gb2312_hanzi()), min_size=1, max_size=40),
       encoding=st.sampled_from(["gb18030", "gbk"]))
def test_no_file_of_gb2312_hanzi_is_taken_for_big5(name: str, encoding: str,
                                                   tmp_path_factory: pytest.TempPathFactory,
                                                   ) -> None:
    path = tmp_path_factory.mktemp("encodings") / "people.csv"
    path.write_bytes(people_file([(name, "")]).encode(encoding))
    # never refused (each hanzi is common read as GB18030); a name of a few hanzi may be UTF-8
    # too, which is tried first
    assert detect_encoding(path) in ("gb18030", "utf-8")


def test_a_broken_quote_is_reported_with_the_lines_it_swallowed(platform: Platform,
                                                                tmp_path: Path) -> None:
    seed_example_city(platform, people=0)
    ids = [resident_id("140105", "19800506", f"{i:03d}") for i in range(1, 6)]
    lines = [
        HEADER,
        f"resident,{ids[0]},甲,13800000001,{GRID},,zh,,1号楼",
        f'resident,{ids[1]},乙,13800000002,{GRID},,zh,,"2号楼',  # the quote is never closed
        f"resident,{ids[2]},丙,13800000003,{GRID},,zh,,3号楼",
        f'resident,{ids[3]},丁,13800000004,{GRID},,zh,,"4号楼"',
        f"resident,{ids[4]},戊,13800000005,{GRID},,zh,,5号楼",
        f'resident,{ids[0]},"甲,13800000001,{GRID},,zh,,1号楼',  # a quote opened mid-row
        f"resident,{ids[1]},乙,13800000002,{GRID},,zh,,2号楼",
        "",
    ]
    path = tmp_path / "people.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    report = import_file(platform, path)
    broken = [e for e in report.errors if e.code == "broken_row"]
    assert [e.row for e in broken] == [3, 5], report.errors
    assert "lines 3-5" in broken[0].message and broken[0].field == "address"
    assert "lines 7-8" in broken[1].message and broken[1].field == "name"
    assert report.inserted == 2  # 甲 and 戊; the swallowed rows are in the broken ones


def test_a_row_with_the_wrong_number_of_fields_is_reported(platform: Platform,
                                                           tmp_path: Path) -> None:
    seed_example_city(platform, people=0)
    path = tmp_path / "people.csv"
    path.write_text("\n".join([
        HEADER,
        f"resident,{TAIYUAN_1980},王建国,13800000001,{GRID},,zh,,1号楼,extra",
        f"resident,{OLD_15_AS_18},李秀英,13800000002,{GRID}",
        "",
    ]), encoding="utf-8")
    report = import_file(platform, path)
    assert report.inserted == 0
    assert {(e.row, e.code) for e in report.errors} == {(2, "bad_field_count"),
                                                        (3, "bad_field_count")}
    assert all(e.field for e in report.errors)


def test_every_error_of_a_row_is_reported(platform: Platform, tmp_path: Path) -> None:
    seed_example_city(platform, people=0)
    path = tmp_path / "people.csv"
    path.write_text("\n".join([
        HEADER,
        f"resident,{FUTURE},,12345,140105999,宇航员,fr,,",
        "",
    ]), encoding="utf-8")
    report = import_file(platform, path)
    assert errors_of(report) == {
        (2, "id_number", "bad_id_number"), (2, "name", "missing_field"),
        (2, "phone", "bad_phone"), (2, "grid_code", "unknown_grid"),
        (2, "groups", "bad_group"), (2, "language", "bad_language"),
    }
    assert all(e.message for e in report.errors)


def test_the_cli_imports_a_gb18030_file_and_refuses_an_undecodable_one(
        settings: Settings, platform: Platform, tmp_path: Path) -> None:
    seed_example_city(platform, people=0)
    env = {"HESUAN_DATABASE_URL": settings.database_url, "HESUAN_SECRET_KEY": "test-secret",
           "HESUAN_ENVIRONMENT": "test", "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    path = tmp_path / "people.csv"  # the CLI runs on the machine's clock
    path.write_bytes(district_file(resident_id("140105", "20991231", "011")).encode("gb18030"))
    cmd = [sys.executable, "-m", "hesuan.entrypoints.cli", "people", "import", str(path)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "imported 3" in out.stderr and "errors 1" in out.stderr, out.stderr
    bad = tmp_path / "bad.csv"
    bad.write_bytes(HEADER.encode() + b"\nresident,\xff\xfe\xfa\x80,\x80\x80\n")
    out = subprocess.run([*cmd[:-1], str(bad)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2
    assert "error [bad_encoding] file cannot be read" in out.stderr  # its field once
    assert "Traceback" not in out.stderr + out.stdout


def test_the_error_report_quotes_no_cell_and_only_its_reader_reads_it(
        settings: Settings, platform: Platform, tmp_path: Path) -> None:
    """A row with a column out of place put a phone number or a name into the error report's
    'unknown group' and 'not a known grid' messages, in a file every user could read; the
    report was written only after the rows were stored, so a report path that could not be
    written failed with a traceback after the import."""
    seed_example_city(platform, people=0)
    env = {"HESUAN_DATABASE_URL": settings.database_url, "HESUAN_SECRET_KEY": "test-secret",
           "HESUAN_ENVIRONMENT": "test", "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    path = tmp_path / "people.csv"
    shifted = resident_id("140105", "19850101", "021")
    path.write_text("\n".join([
        HEADER, f"resident,{shifted},欧阳小明,{GRID},13800138043,,zh,,小店区5号楼",
        f"resident,{resident_id('140105', '19850101', '032')},王芳,,{GRID},13800138040,zh,,",
        ""]), encoding="utf-8")
    cmd = [sys.executable, "-m", "hesuan.entrypoints.cli", "people", "import", str(path)]
    nowhere = tmp_path / "no-such-folder" / "r.csv"
    out = subprocess.run([*cmd, "--report", str(nowhere)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "cannot_write" in out.stderr, out.stderr
    with platform.deps.uow(readonly=True) as uow:  # refused before anything was stored
        assert uow.conn.execute(select(people.c.id)).first() is None  # type: ignore[attr-defined]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = tmp_path / "people.errors.csv"
    text = report.read_text(encoding="utf-8")
    assert "unknown_grid" in text and "bad_group" in text, text
    for cell in ("13800138043", "13800138040", "欧阳小明", "王芳", shifted):
        assert cell not in text, text
    assert oct(report.stat().st_mode & 0o777) == "0o600"


def test_a_header_that_is_not_a_people_files_is_refused_whole(platform: Platform,
                                                              tmp_path: Path) -> None:
    """'mobile' and 'Address' for phone and address imported everyone without a phone (no
    reminder ever reached them), and said nothing."""
    seed_example_city(platform, people=0)
    path = tmp_path / "people.csv"
    path.write_text("id_kind,id_number,name,mobile,grid_code,Address\n"
                    f"resident,{TAIYUAN_1980},王建国,13812345678,{GRID},小店区1号楼\n",
                    encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        import_file(platform, path)
    assert (refused.value.code, refused.value.field) == ("bad_header", "file")
    assert "mobile" in refused.value.message and "Address" in refused.value.message
    path.write_text(f"id_kind,name,grid_code\nresident,王建国,{GRID}\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as missing:
        import_file(platform, path)
    assert "id_number" in missing.value.message


def test_rows_are_numbered_as_the_sheet_shows_them(platform: Platform, tmp_path: Path) -> None:
    """Blank lines were skipped and not counted: the report sent people to the row above."""
    seed_example_city(platform, people=0)
    path = tmp_path / "people.csv"
    path.write_text("\n".join([
        HEADER, f"resident,{TAIYUAN_1980},王建国,,{GRID},,zh,,", "", "",
        f"resident,{OLD_15_AS_18},,,{GRID},,zh,,", ""]), encoding="utf-8")
    assert errors_of(import_file(platform, path)) == {(5, "name", "missing_field")}
    from openpyxl import Workbook

    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.append(HEADER.split(","))
    sheet.append(["resident", resident_id("140105", "19900101", "043"), "赵敏", None, GRID])
    sheet.append([])
    sheet.append(["resident", resident_id("140105", "19900101", "054"), None, None, GRID])
    wb.save(tmp_path / "people.xlsx")
    assert errors_of(import_file(platform, tmp_path / "people.xlsx")) \
        == {(4, "name", "missing_field")}


def test_an_id_number_twice_in_one_file_is_reported_at_its_second_row(
        platform: Platform, tmp_path: Path) -> None:
    """The second row of a person (another name, another phone) was counted 'already present'
    and dropped without a word: which of the two was right, no one was told. (The same row
    again, or a 15-digit number beside its 18-digit form with the same data, is the person
    already present.)"""
    seed_example_city(platform, people=0)
    path = tmp_path / "people.csv"
    path.write_text("\n".join([
        HEADER, f"resident,{TAIYUAN_1980},王建国,13812345678,{GRID},,zh,,",
        f"resident,{OLD_15_AS_18},李秀英,,{GRID},,zh,,",
        f"resident,{TAIYUAN_1980},王建军,13912345678,{GRID},,zh,,", ""]), encoding="utf-8")
    report = import_file(platform, path)
    assert errors_of(report) == {(4, "id_number", "duplicate_in_file")}
    (error,) = report.errors
    assert "row 2" in error.message and TAIYUAN_1980 not in error.message
    assert (report.inserted, report.already_present) == (2, 0)
    again = import_file(platform, path)  # the file again: the stored two are there already
    assert (again.inserted, again.already_present) == (0, 2)


def test_no_sms_goes_to_a_landline(sim: tuple[Platform, CountingSender], clock: FixedClock,
                                   tmp_path: Path) -> None:
    platform, sender = sim
    seed_example_city(platform, people=0)
    path = tmp_path / "people.csv"
    path.write_text(district_file(), encoding="utf-8")
    import_file(platform, path)
    vault = platform.deps.vault
    with platform.deps.uow() as uow:
        conn = uow.conn  # type: ignore[attr-defined]
        landline, mobile = (conn.execute(select(people.c.id).where(
            people.c.id_hash == vault.lookup_hash(f"resident:{n}"))).scalar_one()
            for n in (TAIYUAN_1980, OLD_15_AS_18))
        for i, pid in enumerate((landline, mobile)):
            conn.execute(insert(outbox).values(
                id=f"{i}" * 32, dedup_key=f"landline-test-{i}", person_id=pid, tube_id=None,
                template="reminder", params={"due": "18:00"}, created_at=clock.now(),
                next_attempt_at=clock.now(), attempts=0))
        uow.commit()
    first = platform.outbox.deliver(SYSTEM)
    assert (first.sent, first.failed, first.closed) == (1, 0, 1)
    assert sender.sent["reminder"] == 1
    with platform.deps.uow(readonly=True) as uow:
        rows = dict(uow.conn.execute(  # type: ignore[attr-defined]
            select(outbox.c.person_id, outbox.c.last_error).where(outbox.c.sent_at.is_not(None))
        ).all())
    assert rows[landline] == "no_mobile" and rows[mobile] is None
    clock.advance(timedelta(hours=2))
    again = platform.outbox.deliver(SYSTEM)  # closed, not retried
    assert (again.sent, again.failed, again.closed) == (0, 0, 0)
