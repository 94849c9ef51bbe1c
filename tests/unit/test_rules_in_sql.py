"""No colour, rule id, result or test state written by hand in the database adapters: their SQL
takes them from the domain (``Colour``, the default rules, ``Result``, ``TestState``), through
``status_sql`` where it is text.

The adapters' source is read as Python: a string that holds a colour or rule id as an SQL
literal (``'green'``), or a comparison with one as a Python string (``colour == "red"``), is
written by hand. The schema's column defaults and the migrations, which record the schema as it
was, are not SQL the adapters run on the rules.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hesuan.domain import results
from hesuan.domain.status import DEFAULT_RULES, Colour

ADAPTERS = Path(__file__).resolve().parents[2] / "src" / "hesuan" / "adapters" / "db"
NOT_RULES = {"schema.py"}
VALUES = ({c.value for c in Colour} | {r.id for r in DEFAULT_RULES}
          | {r.value for r in results.Result} | {s.value for s in results.TestState})
IN_SQL = re.compile(r"'(" + "|".join(re.escape(v) for v in sorted(VALUES)) + r")'")


def _hand_written(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [f"{path.name}:{node.lineno}: {m.group(0)}"
                      for m in IN_SQL.finditer(node.value)]
        elif isinstance(node, ast.Compare):
            found += [f"{path.name}:{node.lineno}: compared with {side.value!r}"
                      for side in [node.left, *node.comparators]
                      if isinstance(side, ast.Constant) and side.value in VALUES]
    return found


def test_no_colour_rule_id_result_or_state_by_hand_in_the_adapters() -> None:
    files = [p for p in sorted(ADAPTERS.glob("*.py")) if p.name not in NOT_RULES]
    assert len(files) > 20
    found = [x for p in files for x in _hand_written(p)]
    assert found == []


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('SQL = "UPDATE passes SET x = 1 WHERE colour = \'green\'"\n'
                      'def f(row):\n    return row.colour == "red"\n'
                      'OK = f"colour = {GREEN}"\n', encoding="utf-8")
    assert _hand_written(sample) == ["sample.py:1: 'green'", "sample.py:3: compared with 'red'"]
