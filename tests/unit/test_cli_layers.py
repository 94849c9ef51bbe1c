"""The CLI's import contract (``pyproject.toml``, import-linter) names every module of
``entrypoints/cli``: a module missing from its layers is not checked at all, so a command group
could import ``app.py`` or another group unseen."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "src" / "hesuan" / "entrypoints" / "cli"


def test_the_cli_contract_names_every_command_module() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"]
                    if c.get("containers") == ["hesuan.entrypoints.cli"])
    layered = {name.strip() for layer in contract["layers"] for name in layer.split("|")}
    modules = {p.stem for p in CLI.glob("*.py")} - {"__init__", "__main__"}
    assert modules - layered == set(), "modules of entrypoints/cli outside the CLI's layers"
    assert layered - modules == set(), "layers naming modules that do not exist"
