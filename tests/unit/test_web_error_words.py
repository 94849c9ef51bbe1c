"""Every error code the platform can raise has words on the web pages (``messages.ERRORS``),
and every one of those words is translated into Chinese: a Chinese page never falls back to
the service's English message.

The codes are read from the source, not from a list: each ``code="..."`` string passed to one
of the error classes of ``hesuan.domain.errors`` (or a subclass of one, anywhere under
``src/hesuan``) and each ``default_code = "..."`` of those classes.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import hesuan
from hesuan.domain import errors
from hesuan.domain.errors import InvalidInput
from hesuan.domain.sampling import check_box_code, check_tube_barcode
from hesuan.entrypoints.web import messages
from hesuan.entrypoints.web.i18n import translations

SRC = Path(hesuan.__file__).parent

#: Codes that never reach a web page, and why. A code leaves this list (and gets words) as
#: soon as a page can show it.
NOT_ON_PAGES = {
    # the command line and the simulator
    **dict.fromkeys(("demo_only", "bad_trust_list", "elr_off", "mllp_unset", "bad_field_count",
                     "port_taken", "duplicate_in_file",
                     "broken_row", "city_exists", "no_city", "round_overlaps", "demo_password"),
                    "CLI or simulator only"),
    # the JSON API's own checks (pages sign in with a session cookie and post forms)
    **dict.fromkeys(("bad_body", "not_json", "too_large", "not_a_resident", "missing_token",
                     "bad_encoding", "rotated_recently"), "API (or CLI) only"),
    "bad_token": "a page's session is checked by optional_principal, which catches it",
    "mllp_unavailable": "the MLLP listener",
    # backups and restores (`hesuan backup create|restore`)
    **dict.fromkeys(("backup_failed", "restore_failed", "exists", "in_memory", "no_backup",
                     "no_manifest", "no_database", "no_pg_tools", "target_holds_data",
                     "bad_manifest", "bad_url", "cannot_write", "not_a_backup"),
                    "backup CLI only"),
    # a start refused, or maintenance commands
    **dict.fromkeys(("invalid_setting", "data_key_moving", "unreadable", "schema_behind",
                     "bad_database", "not_a_database"),
                    "start-up or maintenance CLI only"),
    # the audit checkpoint (housekeeping) and the programme's close (CLI)
    **dict.fromkeys(("audit_broken", "audit_rewritten", "audit_truncated", "closure_decided",
                     "unknown_closure"), "housekeeping or programme CLI only"),
    # electronic lab reports: built and sent in the background, errors kept in the queue
    **dict.fromkeys(("bad_district", "bad_elr_id", "bad_family_name", "bad_pool_size",
                     "bad_processing_id", "elr_fhir_invalid", "elr_field_required",
                     "elr_field_too_long", "elr_hl7_invalid", "elr_result_required",
                     "elr_withdrawal_result", "identity_not_entitled", "identity_required"),
                    "ELR delivery (background) only"),
}

#: Codes the scan cannot see, made at run time: ``f"bad_{field}"`` (``domain.sampling``), the
#: table of ``check_not_before`` (``domain.sampling._BEFORE``) and of ``check_status``
#: (``domain.runs._NEEDS``), and a batch outcome's reason (``services.lab``).
BUILT = ("bad_barcode", "bad_box_code", "before_tube_open", "before_first_sample",
         "before_tube_sealed", "before_box_sealed", "before_handover", "plate_not_building",
         "plate_not_ready", "plate_not_imported", "twice_in_batch")


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _trees() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(SRC.rglob("*.py"))}


def _error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """The error classes of ``domain.errors`` and every class that derives from one."""
    found = set(errors.__all__)
    classes = [n for t in trees.values() for n in ast.walk(t) if isinstance(n, ast.ClassDef)]
    grew = True
    while grew:
        grew = False
        for c in classes:
            if c.name not in found and any(_name(b) in found for b in c.bases):
                found.add(c.name)
                grew = True
    return found


def raised_codes() -> dict[str, list[str]]:
    """Each code raised in ``src/hesuan``, with where (``path:line``)."""
    trees = _trees()
    classes = _error_classes(trees)
    codes: dict[str, list[str]] = defaultdict(list)
    for path, tree in trees.items():
        where = path.relative_to(SRC.parent).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name in classes:
                for stmt in node.body:
                    targets = (stmt.targets if isinstance(stmt, ast.Assign)
                               else [stmt.target] if isinstance(stmt, ast.AnnAssign) else [])
                    value = getattr(stmt, "value", None)
                    if (any(_name(t) == "default_code" for t in targets)
                            and isinstance(value, ast.Constant) and isinstance(value.value, str)):
                        codes[value.value].append(f"{where}:{stmt.lineno}")
            elif isinstance(node, ast.Call) and _name(node.func) in classes:
                for kw in node.keywords:
                    if (kw.arg == "code" and isinstance(kw.value, ast.Constant)
                            and isinstance(kw.value.value, str)):
                        codes[kw.value.value].append(f"{where}:{node.lineno}")
    return dict(codes)


def _has_words(code: str) -> bool:
    return code in messages.ERRORS or any(k.startswith(f"{code}:") for k in messages.ERRORS)


def test_the_scan_finds_the_codes_it_must() -> None:
    """The scan itself works: codes of each kind (a keyword at a raise, a class default, a
    subclass outside ``domain.errors``) are found."""
    codes = raised_codes()
    assert {"tube_full", "bad_csrf", "not_found", "store_unavailable",
            "file_plate_mismatch", "bad_location", "bad_number"} <= set(codes)
    assert len(codes) > 200


def test_every_code_a_page_can_show_has_words() -> None:
    codes = raised_codes()
    missing = {c: sites[:3] for c, sites in sorted(codes.items())
               if c not in NOT_ON_PAGES and not _has_words(c)}
    missing |= {c: ["(built at run time)"] for c in BUILT if not _has_words(c)}
    assert not missing, (
        f"{len(missing)} error codes have no words in hesuan.entrypoints.web.messages.ERRORS "
        f"(add them, then run scripts/web-messages.sh and translate): {missing}")


def test_the_lists_name_only_codes_the_source_has() -> None:
    """A code left out, or built at run time, is still made somewhere (a stale one is removed
    from the lists above)."""
    codes = raised_codes()
    assert not [c for c in NOT_ON_PAGES if c not in codes]
    words = SRC / "entrypoints" / "web" / "messages.py"
    text = "\n".join(p.read_text(encoding="utf-8") for p in SRC.rglob("*.py") if p != words)
    for check, value in ((check_tube_barcode, "1"), (check_box_code, "BX1")):
        with pytest.raises(InvalidInput) as exc:
            check(value)
        assert exc.value.code in BUILT
    assert not [c for c in BUILT if c not in ("bad_barcode", "bad_box_code")
                and f'"{c}"' not in text]


def test_every_error_word_is_translated_into_chinese() -> None:
    zh = translations("zh_CN").gettext
    words = {**messages.ERRORS, **{f"correction:{k}": v
                                   for k, v in messages.CORRECTION_ERRORS.items()}}
    untranslated = {k: v for k, v in words.items() if not zh(v).strip() or zh(v) == v}
    assert not untranslated, (
        f"{len(untranslated)} error words have no Chinese in the zh_CN catalogue (run "
        f"scripts/web-messages.sh and translate them): {untranslated}")
