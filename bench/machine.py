"""What the numbers were measured on: CPUs, memory, Python, database and library versions."""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

__all__ = ["describe"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def postgres_version(url: str) -> str | None:
    """The version of the server at ``url``, asked of its ``postgres`` database: the bench's
    own database may not exist yet (a fresh cluster); None when the server does not answer."""
    try:
        eng = create_engine(make_url(url).set(database="postgres"))
        with eng.connect() as c:
            v = str(c.execute(text("SHOW server_version")).scalar_one())
        eng.dispose()
        return v
    except Exception:
        return None


def describe(pg_url: str | None) -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    return {
        "nproc": usable,
        "cpu_model": _cpu_model(),
        "ram_gib": _mem_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version(pg_url) if pg_url else None,
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": {d: _version(d) for d in ("sqlalchemy", "fastapi", "starlette", "pydantic",
                                               "uvicorn", "uvloop", "httptools", "psycopg")},
    }
