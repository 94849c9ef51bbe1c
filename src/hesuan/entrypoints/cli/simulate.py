"""``hesuan simulate``: a testing round on the generated city, through the real services,
with a summary table (and JSON on stdout with ``--json``); exit 1 when the round's
reconciliation does not find exactly the faults injected. ``--until`` stops the round in
progress (the demo stops it at now), and its reconciliation is not checked.

Imports: Typer, Rich, ``hesuan.entrypoints.cli.common``; at call time ``hesuan.adapters``
(the clock), ``hesuan.config``, ``hesuan.sim``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from hesuan.entrypoints.cli.common import (
    EXIT_NOT_VALID,
    console,
    environment_settings,
    opened,
    parse_time,
    print_json,
)

__all__ = ["register"]

#: How a bad ``--start`` is explained.
TIME_EXAMPLE = ", e.g. 2022-08-29T00:00:00+08:00"


def simulate(
    start: Annotated[str | None, typer.Option(
        help="start of the round (ISO time; default: local midnight four days ago, or with "
             "--until the day before it)")] = None,
    hours: Annotated[float, typer.Option(help="simulated hours of arrivals", min=1)] = 72.0,
    prevalence: Annotated[float, typer.Option(help="share of people infected", min=0,
                                              max=0.5)] = 0.001,
    faults: Annotated[str, typer.Option(
        help="comma-separated: lost_tube,box_missing_tube,unknown_result,late_courier,"
             "miscounted_box")] = "",
    seed: Annotated[int, typer.Option(help="the round is the same for the same seed")] = 1,
    tick: Annotated[int, typer.Option(help="minutes per station batch (per site); couriers "
                                           "call on tick boundaries", min=1, max=60)] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="the summary as JSON on stdout")] = False,
    until: Annotated[str | None, typer.Option(
        help="stop the round at this instant (ISO time, or 'now'), in progress: queues, tubes, "
             "boxes and lab work stay in flight and the reconciliation is not checked")] = None,
) -> None:
    """Simulate a testing round on the generated city, through the real services."""
    from datetime import timedelta
    from importlib.util import find_spec

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from hesuan.adapters.clock import FixedClock
    from hesuan.entrypoints.mllp import MllpListener
    from hesuan.sim.simulate import (
        FAULTS,
        CountingSender,
        current_round_start,
        default_round_start,
        simulate_round,
        simulation_settings,
    )

    wanted = [f.strip() for f in faults.split(",") if f.strip()]
    # the round's LIS lab reports over MLLP when the interop extra is installed
    lis = MllpListener if find_spec("hl7") and find_spec("hl7apy") else None
    bad = [f for f in wanted if f not in FAULTS]
    if bad:
        raise typer.BadParameter(f"unknown faults {bad}; known: {', '.join(FAULTS)}",
                                 param_hint="--faults")
    at = parse_time(start, "--start", TIME_EXAMPLE)
    stop = (datetime.now(UTC) if until == "now"
            else parse_time(until, "--until", TIME_EXAMPLE) if until else None)
    begin = (at.astimezone(UTC) if at else current_round_start(stop) if stop
             else default_round_start())
    if stop is not None and stop <= begin:
        raise typer.BadParameter("the round must start before it stops", param_hint="--until")
    clock = FixedClock(begin)
    sender = CountingSender()
    with opened(settings=simulation_settings(environment_settings()), clock=clock,
                sender=sender) as platform:
        platform.start_checkpoints()
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.fields[at]}"), TimeElapsedColumn(),
                      console=console) as bar:
            task = bar.add_task("simulated hours", total=hours, at="")

            def progress(done_s: float, total_s: float) -> None:
                bar.update(task, completed=done_s / 3600,
                           at=(begin + timedelta(seconds=done_s)).strftime("%Y-%m-%d %H:%M UTC"))

            summary = simulate_round(platform, clock, sender, begin, hours=hours,
                                     prevalence=prevalence, faults=wanted, seed=seed,
                                     tick=timedelta(minutes=tick), progress=progress,
                                     lis_listener=lis, stop_at=stop)
    if as_json:
        print_json(summary.as_dict())
    _print_summary(summary)
    if summary.in_progress:
        console.print(f"the round is in progress at {stop:%Y-%m-%d %H:%M} UTC: its "
                      "reconciliation is checked once it has drained")
        return
    if not summary.reconcile_matches:
        raise typer.Exit(EXIT_NOT_VALID)


def _prevalence(s: Any) -> str:
    est = s.estimate()
    true = "–" if s.true_prevalence is None else f"{s.true_prevalence:.4%}"
    if est.p_hat is None:
        return f"{true} / –"
    return f"{true} / {est.p_hat:.4%} [{est.lower:.4%}, {est.upper:.4%}]"


def _counts(counts: dict[str, int]) -> str:
    return (f"{sum(counts.values()):,}: " + ", ".join(
        f"{k.replace('_', ' ')} {v:,}" for k, v in sorted(counts.items()))) if counts else "0"


def _lis(lis: dict[str, Any]) -> str:
    """The LIS lab's messages: results applied, messages and their ACKs, the link check."""
    if not lis.get("lab_id"):
        return "no LIS lab (the interop extra is not installed)"
    acks = ", ".join(f"{k} {v:,}" for k, v in sorted(lis.get("acks", {}).items())) or "none"
    return (_counts(lis.get("applied", {})) + f"; {lis.get('messages_sent', 0):,} messages "
            f"({acks}); link check {lis.get('link_check') or 'not yet'}")


def _lab_reports(housekeeping: dict[str, Any]) -> str:
    """The electronic lab reports delivered over the round, or that they are off."""
    out = housekeeping.get("lab_reports_out")
    if out is None:
        return "off (HESUAN_ELR_ENABLED)"
    return (f"{out['sent']:,} sent, {out['failed']:,} failed and retried, "
            f"{out['in_doubt']:,} in doubt")


def _print_summary(s: Any) -> None:
    from rich.console import Group

    t = Table(title=f"simulated round {s.start:%Y-%m-%d %H:%M} → {s.end:%Y-%m-%d %H:%M} UTC "
                    f"(drained {s.drained_until:%m-%d %H:%M})")
    t.add_column("measure")
    t.add_column("value", justify="right")
    tubes = ", ".join(f"{n:,}×{k}-in-1" for k, n in sorted(s.tubes.items(), reverse=True))
    rows = [
        ("people in the city", f"{s.people:,}"),
        ("people due", f"{s.people_due:,}"),
        ("sampled", f"{s.sampled:,}"),
        ("coverage", f"{s.coverage:.1%}"),
        ("tubes", tubes or "0"),
        ("boxes", f"{s.boxes:,}"),
        ("infected (sampled)", f"{s.infected:,} ({s.infected_sampled:,})"),
        ("positive pools", f"{s.pooled_positive:,}"),
        ("positive single tubes", f"{s.single_positive:,}"),
        ("plates (control failures)", f"{s.plates:,} ({s.control_failures:,})"),
        ("tube re-runs", _counts(s.reruns)),
        ("released by plates", _counts(s.released)),
        ("released by the lab's system (HL7 over MLLP)", _lis(s.lis)),
        ("recalled from the bench", _counts(s.recalled_at_bench)),
        ("rejected at receipt", _counts(s.rejected_at_receipt)),
        ("rejected at the bench", _counts(s.rejected_at_bench)),
        ("corrections", _counts(s.corrections)),
        ("released past the lab target", f"{s.late_results:,}"),
        ("invalid tubes", f"{s.invalid_tubes:,}"),
        ("recalls opened / resolved", f"{s.recalls_opened:,} / {s.recalls_resolved:,}"),
        ("prevalence: true / pool estimate [95%]", _prevalence(s)),
        ("station events sent (rejected)",
         f"{s.events_sent:,} ({sum(s.events_rejected.values()):,})"),
        ("service calls", f"{s.calls:,}"),
        ("messages sent", ", ".join(f"{k} {v:,}" for k, v in sorted(s.messages.items()))
         or "0"),
        ("passes shown at the venue (admitted)",
         f"{s.door_checks.get('checked', 0):,} ({s.door_checks.get('admitted', 0):,}) "
         + ", ".join(f"{k} {v}" for k, v in s.door_checks.get("colours", {}).items())),
        ("travellers tested on landing, by risk", _counts(s.arrivals.get("by_risk", {}))),
        ("two lanes: registered / swabbed",
         f"{s.two_lanes.get('registered', 0):,} / {s.two_lanes.get('swabbed', 0):,}"),
        ("their rota: staff / stints", f"{s.shifts.get('staff', 0):,} / "
         f"{s.shifts.get('stints', 0):,}"),
        ("sealed building: held / sampled", f"{s.zones.get('people', 0):,} / "
         f"{s.zones.get('sampled', 0):,} (visits {s.zones.get('households', 0):,}, "
         f"days {s.zones.get('days', 0):,})"),
        ("checkpoint: scans (fence alerts)", f"{s.checkpoints.get('scans', 0):,} ("
         + _counts(s.checkpoints.get("alerts", {})) + ")"),
        ("its support team: moves / stints", f"{s.checkpoints.get('team_moves', 0):,} / "
         f"{s.checkpoints.get('stints', 0):,}"),
        ("fence alerts taken up by grid workers",
         _counts(s.checkpoints.get("fence_alerts_handled", {}))),
        ("grid workers' roster calls", f"{s.rosters.get('lists', 0):,} lists; "
         + _counts(s.rosters.get("outcomes", {}))
         + f"; exempted as away {s.rosters.get('exempted', 0):,}"),
        ("housekeeping: hours / retention passes (forgotten)",
         f"{s.housekeeping.get('ticks', 0):,} / {s.housekeeping.get('retention_passes', 0):,} ("
         + _counts(s.housekeeping.get("forgotten", {})) + ")"),
        ("lab reports to the authority (ELR)", _lab_reports(s.housekeeping)),
        ("audit checkpoints signed / coverage snapshots",
         f"{s.housekeeping.get('audit_checkpoints', 0):,} / "
         f"{s.housekeeping.get('snapshots_refreshed', 0):,}"),
        ("alerts raised", f"{s.alerts_raised:,} "
         + ", ".join(f"{k} {v}" for k, v in sorted(s.alerts_by_kind.items()))),
        ("wall time", f"{s.wall_seconds:.1f} s"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    ta = Table(title="turnaround since first sample (minutes)")
    ta.add_column("stage")
    for col in ("n", "p50", "p90"):
        ta.add_column(col, justify="right")
    for stage, v in s.turnaround.items():
        ta.add_row(stage, f"{v.n:,}", str(v.p50_min), str(v.p90_min))
    rc = Table(title="reconciliation: found vs injected faults")
    rc.add_column("list")
    rc.add_column("found", justify="right")
    rc.add_column("expected", justify="right")
    rc.add_column("")
    for k, v in s.reconcile_counts.items():
        exp = s.expected_reconcile.get(k, 0)
        rc.add_row(k, str(v), str(exp), "[green]ok[/green]" if v == exp else "[red]MISMATCH[/red]")
    lab = Table(title="the lab stage: reconciliation tally vs the round's own")
    lab.add_column("tally")
    lab.add_column("found", justify="right")
    lab.add_column("round", justify="right")
    lab.add_column("")
    for k, v in s.lab_tally.items():
        exp = s.expected_lab_tally.get(k)
        lab.add_row(k.replace("_", " "), str(v), str(exp),
                    "[green]ok[/green]" if v == exp else "[red]MISMATCH[/red]")
    console.print(Group(t, ta, rc, lab))



def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
