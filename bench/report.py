"""Medians over runs, ratios to the baselines of the same invocation, floors, and the
markdown table."""

from __future__ import annotations

import statistics
from typing import Any

__all__ = ["FLOORS", "SAME_RUN_FLOORS", "beside", "markdown", "summarise"]

#: (backend or None for every backend, figure, key, comparison, bound) — from issues 2 and 4.
FLOORS: list[tuple[str | None, str, str, str, float]] = [
    ("sqlite", "batch_scans", "scans_per_s", ">=", 20_000),
    ("sqlite", "single_scans", "rate_per_s", ">=", 3_000),
    ("sqlite", "single_scans", "p99_ms", "<=", 50),
    ("sqlite", "batch_scans_workers", "scans_per_s", ">=", 20_000),
    ("sqlite", "single_scans_workers", "rate_per_s", ">=", 3_000),
    ("sqlite", "single_scans_workers", "p99_ms", "<=", 50),
    (None, "fanout", "people_per_s", ">=", 100_000),
    (None, "verify", "rate_per_s", ">=", 5_000),  # issue 4: online POST /verify
    (None, "verify_workers", "rate_per_s", ">=", 5_000),
    (None, "verify_workers_wrk", "rate_per_s", ">=", 5_000),
]

#: Figures where PostgreSQL must reach SQLite's median of the same invocation (issue 21).
SAME_RUN_FLOORS = ("batch_scans", "single_scans", "batch_scans_workers", "single_scans_workers")

#: figure -> (headline key, unit, baseline figure, baseline key)
FIGURES: dict[str, tuple[str, str, str | None, str | None]] = {
    "raw_insert": ("rows_per_s", "rows/s", None, None),
    "health_wrk": ("rate_per_s", "req/s", None, None),
    "health": ("rate_per_s", "req/s", "health_wrk", "rate_per_s"),
    "batch_scans": ("scans_per_s", "scans/s", "raw_insert", "rows_per_s"),
    "single_scans": ("rate_per_s", "scans/s", "health", "rate_per_s"),
    "batch_scans_workers": ("scans_per_s", "scans/s", "raw_insert", "rows_per_s"),
    "single_scans_workers": ("rate_per_s", "scans/s", "health", "rate_per_s"),
    "fanout": ("people_per_s", "people/s", "raw_insert", "rows_per_s"),
    "lab_release": ("people_per_s", "people/s", "fanout", "people_per_s"),
    "mllp": ("people_per_s", "people/s", "fanout", "people_per_s"),
    "mllp_connections": ("people_per_s", "people/s", "fanout", "people_per_s"),
    "verify": ("rate_per_s", "req/s", "health", "rate_per_s"),
    "verify_workers": ("rate_per_s", "req/s", "health", "rate_per_s"),
    "verify_workers_wrk": ("rate_per_s", "req/s", "health_wrk", "rate_per_s"),
}

_LABEL = {
    "raw_insert": "(a) raw bulk insert, plain DB-API executemany",
    "health_wrk": "(b) GET /health through uvicorn, wrk",
    "health": "(b) GET /health through uvicorn, bench client",
    "batch_scans": "(c) batch scans, POST /scans/batch (1,000 events)",
    "single_scans": "(d) single scans, POST /scans",
    "batch_scans_workers": "(c) batch scans, serve --workers N",
    "single_scans_workers": "(d) single scans, serve --workers N",
    "fanout": "(e) result fan-out, 10-in-1 file, LabService.import_rows",
    "lab_release": "(g) results through plates of 96: import, review, release (two people)",
    "mllp": "(h) results as ORU^R01 over MLLP, a message a tube, 1 connection",
    "mllp_connections": "(h) results as ORU^R01 over MLLP, 4 connections",
    "verify": "(f) online pass check, POST /verify, 1 process",
    "verify_workers": "(f) online pass check, POST /verify, serve --workers N",
    "verify_workers_wrk": "(f) online pass check, POST /verify, serve --workers N, wrk",
}


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in runs[0]:
        vals = [r[key] for r in runs if isinstance(r.get(key), int | float)
                and not isinstance(r.get(key), bool)]
        if len(vals) == len(runs):
            m = statistics.median(vals)
            out[key] = round(m, 2) if isinstance(m, float) else m
    return out


def summarise(backend: str, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per figure: the runs, their median, the ratio to its baseline, and the floors."""
    med = {fig: _median(rs) for fig, rs in runs.items() if rs}
    out: dict[str, Any] = {}
    for fig, m in med.items():
        key, unit, base_fig, base_key = FIGURES[fig]
        entry: dict[str, Any] = {"median": m, "runs": runs[fig], "unit": unit, "key": key}
        ratios: dict[str, float] = {}
        if base_fig and base_fig in med and base_key:
            ratios[f"vs_{base_fig}"] = round(m[key] / med[base_fig][base_key], 3)
        if fig in ("single_scans", "single_scans_workers", "fanout") and "raw_insert" in med:
            ratios["vs_raw_insert"] = round(m[key] / med["raw_insert"]["rows_per_s"], 3)
        if fig in ("batch_scans", "batch_scans_workers") and "health" in med:
            ratios["vs_health"] = round(m[key] / med["health"]["rate_per_s"], 3)
        entry["ratios"] = ratios
        floors = []
        for fb, ffig, fkey, op, bound in FLOORS:
            if ffig == fig and (fb is None or fb == backend) and fkey in m:
                v = m[fkey]
                floors.append({"key": fkey, "op": op, "bound": bound, "value": v,
                               "met": v >= bound if op == ">=" else v <= bound})
        entry["floors"] = floors
        out[fig] = entry
    return out


def beside(result: dict[str, Any]) -> list[dict[str, Any]]:
    """PostgreSQL's median against SQLite's, figure by figure, where both ran in ``result``;
    ``met`` says whether a figure of ``SAME_RUN_FLOORS`` reached SQLite's (None: no such
    floor)."""
    lite, pg = result["backends"].get("sqlite"), result["backends"].get("postgres")
    if not lite or not pg:
        return []
    rows = []
    for fig in FIGURES:
        if fig in lite and fig in pg:
            key = lite[fig]["key"]
            a, b = lite[fig]["median"].get(key), pg[fig]["median"].get(key)
            if not a or b is None:
                continue
            ratio = round(b / a, 3)
            row = {"figure": fig, "sqlite": a, "postgres": b, "ratio": ratio,
                   "met": ratio >= 1 if fig in SAME_RUN_FLOORS else None}
            if (cpu := _whole_cpu(lite[fig]["median"], pg[fig]["median"])) is not None:
                row["cpu_ms"] = cpu
            rows.append(row)
    return rows


def _whole_cpu(lite: dict[str, Any], pg: dict[str, Any]) -> dict[str, float] | None:
    """CPU ms a request of all the processes that did the work: SQLite's server (the database
    inside it) against PostgreSQL's app and its cluster; None unless both were measured."""
    app, db = pg.get("server_cpu_ms_per_req"), pg.get("database_cpu_ms_per_req")
    if lite.get("server_cpu_ms_per_req") is None or app is None or db is None:
        return None
    return {"sqlite": lite["server_cpu_ms_per_req"], "postgres": round(app + db, 3),
            "postgres_database": db}


def _fmt(v: Any) -> str:
    if (isinstance(v, float) and v >= 100) or isinstance(v, int):
        return f"{v:,.0f}"
    if isinstance(v, float):
        return f"{v:.3g}" if v < 1 else f"{v:.1f}"
    return "—" if v is None else str(v)


_IDS = {"v7": "time-ordered (UUIDv7), as the project's stations make them",
        "v4": "random (UUIDv4)"}


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"### Tier `{result['tier']}` — {result['started_at']}",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_gib']} GiB RAM, {m['os']}; "
        f"Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL {m['postgresql'] or '—'}; "
        f"load average at start {m['load_avg_at_start']}. Medians of {result['runs']} run(s). "
        f"Station event ids: {_IDS.get(result.get('event_ids', 'v4'), '?')}.",
        "",
        "| backend | figure | median | p50 / p99 ms | ratio to baseline | floor |",
        "|---|---|---:|---:|---|---|",
    ]
    for backend, figs in result["backends"].items():
        for fig in FIGURES:
            if fig not in figs:
                continue
            e = figs[fig]
            med = e["median"]
            lat = (f"{_fmt(med['p50_ms'])} / {_fmt(med['p99_ms'])}" if "p99_ms" in med
                   else "")
            ratios = ", ".join(f"{v:.3g}× {k[3:]}" for k, v in e["ratios"].items())
            floors = "; ".join(f"{f['key']} {f['op']} {f['bound']:,}: "
                               f"{'**met**' if f['met'] else '**MISSED**'}"
                               for f in e["floors"])
            lines.append(f"| {backend} | {_LABEL[fig]} | {_fmt(med[e['key']])} {e['unit']} | "
                         f"{lat} | {ratios} | {floors} |")
    lines.append("")
    if rows := beside(result):
        lines += ["PostgreSQL beside SQLite, the same run (issue 21: batch and single scans at "
                  "least SQLite's):", "",
                  "| figure | SQLite | PostgreSQL | PostgreSQL / SQLite | floor | CPU ms a "
                  "request, SQLite / PostgreSQL (app + database) |",
                  "|---|---:|---:|---:|---|---|"]
        for r in rows:
            unit = FIGURES[r["figure"]][1]
            met = "" if r["met"] is None else "**met**" if r["met"] else "**MISSED**"
            cpu = r.get("cpu_ms")
            whole = (f"{_fmt(cpu['sqlite'])} / {_fmt(cpu['postgres'])} "
                     f"({_fmt(cpu['postgres_database'])} of it the database's)" if cpu else "")
            lines.append(f"| {_LABEL[r['figure']]} | {_fmt(r['sqlite'])} {unit} | "
                         f"{_fmt(r['postgres'])} {unit} | {r['ratio']:.3g}× | {met} | "
                         f"{whole} |")
        lines.append("")
    for backend, setup in result.get("setup", {}).items():
        lines.append(f"Set-up ({backend}, not measured): " + ", ".join(
            f"{k} {_fmt(v)}" for k, v in setup.items()))
    lines.append("")
    return "\n".join(lines)
