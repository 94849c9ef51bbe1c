"""The ``hesuan`` command line (Typer + Rich). Thin: parse → service → render.

Errors of the one hierarchy map here, once, to exit codes: InvalidInput 2, NotFound 3,
RuleViolation/Conflict 4, NotAuthenticated 5, PermissionDenied 6, TooManyAttempts 7,
StoreUnavailable 8 (the disk is full or the database unreachable: nothing was written). The CLI
acts as the platform operator (an admin principal named ``cli``); every write is audited under
that name.

Imports: Typer, Rich, ``hesuan.bootstrap``, ``hesuan.config``, ``hesuan.services``,
``hesuan.domain``, ``hesuan.sim``, ``hesuan.entrypoints``.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import (
    HesuanError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RuleViolation,
    StoreUnavailable,
    TooManyAttempts,
)
from hesuan.domain.spreadsheets import as_text_row
from hesuan.entrypoints.pass_cli import register as register_pass_commands
from hesuan.entrypoints.tables import count_rows, read_table

__all__ = ["CLI_PRINCIPAL", "app", "exit_code_for", "main"]

CLI_PRINCIPAL = Principal(user_id="cli", username="cli", role=Role.ADMIN)

app = typer.Typer(help="Hesuan (核酸): routine PCR mass testing, sample → deliver → test → report.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
people_app = typer.Typer(help="People (居民).", no_args_is_help=True)
results_app = typer.Typer(help="Lab results (检).", no_args_is_help=True)
report_app = typer.Typer(help="Machine-readable reports.", no_args_is_help=True)
db_app = typer.Typer(help="Database.", no_args_is_help=True)
users_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
audit_app = typer.Typer(help="The keyed, hash-chained audit log and its checkpoints.",
                        no_args_is_help=True)
app.add_typer(people_app, name="people")
app.add_typer(results_app, name="results")
app.add_typer(report_app, name="report")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")

console = Console(stderr=True)

_EXIT: tuple[tuple[type[HesuanError], int], ...] = (
    (InvalidInput, 2), (NotFound, 3), (RuleViolation, 4), (NotAuthenticated, 5),
    (PermissionDenied, 6), (TooManyAttempts, 7), (StoreUnavailable, 8),
)


def exit_code_for(exc: HesuanError) -> int:
    return next((code for cls, code in _EXIT if isinstance(exc, cls)), 1)


@contextmanager
def _platform(**kwargs: Any) -> Iterator[Platform]:
    p = bootstrap(Settings(), **kwargs)
    try:
        yield p
    except HesuanError as exc:
        # escaped: Rich would take "[code]" and brackets in a message for markup
        console.print(f"[red]error[/red] {escape(f'[{exc.code}]')}"
                      f"{' ' + escape(exc.field) + ':' if exc.field else ''} "
                      f"{escape(exc.message)}")
        raise typer.Exit(exit_code_for(exc)) from None
    finally:
        p.close()


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema (Alembic) to the newest version."""
    with _platform():
        console.print("database is at the newest schema")


@users_app.command("create")
def users_create(
    username: str,
    role: Annotated[Role, typer.Option(help="role of the user")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    scope: Annotated[str | None, typer.Option(help="site, lab, region, grid or person id")] = None,
) -> None:
    """Create a user with a role and scope."""
    with _platform() as p:
        uid = p.auth.create_user(CLI_PRINCIPAL, username, password, role, scope)
        console.print(f"created user {username} ({role}) id={uid}")


@people_app.command("import")
def people_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or .xlsx")],
    report: Annotated[Path | None, typer.Option(help="where to write per-row errors (CSV)")] = None,
) -> None:
    """Import a population (columns: id_kind,id_number,name,phone,grid_code,groups,language,
    household_id,address). Valid rows are stored, bad rows reported; re-import is a no-op."""
    report = report or file.with_name(file.stem + ".errors.csv")
    with _platform() as p:
        with p.deps.uow(readonly=True) as uow:
            grids = uow.grid_codes()
        rows = read_table(file)  # a file that cannot be decoded stops here, storing nothing
        total = count_rows(file)
        with _progress() as bar:
            task = bar.add_task(f"importing {file.name}", total=total)
            result = p.people.import_rows(CLI_PRINCIPAL, rows, grids,
                                          progress=lambda n: bar.update(task, completed=n))
        with report.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["row", "field", "code", "message"])
            for e in result.errors:
                w.writerow(as_text_row([e.row, e.field or "", e.code, e.message]))
        console.print(f"rows {result.rows}: imported {result.inserted}, already present "
                      f"{result.already_present}, errors {len(result.errors)} (see {report})")


@results_app.command("import")
def results_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or .xlsx")],
    lab: Annotated[str, typer.Option(help="the lab's id")],
    report: Annotated[Path | None, typer.Option(help="where to write per-row problems")] = None,
) -> None:
    """Record a lab's results file (barcode,result[,ct_ORF1ab,ct_N,ct_E,correction_reason])."""
    report = report or file.with_name(file.stem + ".problems.csv")
    with _platform() as p:
        problems, total = p.lab.import_rows(CLI_PRINCIPAL, lab, read_table(file))
        with report.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["row", "barcode", "status", "reason", "message"])
            for o in problems:
                w.writerow(as_text_row([o.row, o.barcode, o.status, o.reason or "",
                                        o.message or ""]))
        bad = sum(1 for o in problems if o.status == "rejected")
        console.print(f"rows {total}: rejected {bad}, other notes {len(problems) - bad} "
                      f"(see {report})")


def _report(fn: Callable[[Platform], Any], as_json: bool) -> None:
    with _platform() as p:
        data = fn(p)
    if as_json:
        _print_json(data)
    else:
        from rich.pretty import pprint

        pprint(data, console=Console())


JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]


@report_app.command("turnaround")
def report_turnaround(as_json: JsonOpt = False) -> None:
    """Per-stage turnaround p50/p90/p99 by site, lab and district."""
    _report(lambda p: p.reports.turnaround(CLI_PRINCIPAL), as_json)


@report_app.command("reconcile")
def report_reconcile(as_json: JsonOpt = False,
                     limit: Annotated[int, typer.Option(help="items listed per key")] = 100,
                     ) -> None:
    """Reconciliation: what fell between stages (every list empty on a consistent round)."""
    _report(lambda p: p.reports.reconcile(CLI_PRINCIPAL, limit), as_json)


_AUDIT_VERDICT = {
    "truncated": "the log ends before its latest checkpoint: entries were deleted",
    "rewritten": "the entry at the latest checkpoint is not the one it signed: the log was "
                 "rebuilt",
    "forged_checkpoint": "a checkpoint is unsigned, unreadable or signed with another key",
}


@audit_app.command("verify")
def audit_verify(as_json: JsonOpt = False) -> None:
    """Check the audit chain with its key from the first entry to the last, and against the
    latest signed checkpoint. Exit 7 unless intact."""
    with _platform() as p:
        report = p.audit.verify(CLI_PRINCIPAL)
    if as_json:
        _print_json(report.as_dict())
    cp = report.checkpoint
    anchor = (f"checkpoint at entry {cp.seq} ({cp.at})" if cp is not None
              else "no checkpoint yet: deletion of the last entries cannot be seen")
    if report.intact:
        console.print(f"audit chain intact: {report.entries} entries; {anchor}")
        return
    if report.first_broken_seq is not None:
        console.print(f"[red]audit chain broken at entry {report.first_broken_seq}[/red] "
                      f"({report.entries} entries verified)")
    if report.verdict in _AUDIT_VERDICT:
        console.print(f"[red]audit log {report.verdict}[/red]: {_AUDIT_VERDICT[report.verdict]}"
                      f" (log ends at entry {report.head_seq}; {anchor})")
    for name in report.bad_checkpoints:
        console.print(f"[red]bad checkpoint[/red] {name}")
    raise typer.Exit(7)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the audit chain's head and write it to HESUAN_AUDIT_CHECKPOINT_DIR (only a chain
    that holds since the latest checkpoint is signed)."""
    with _platform() as p:
        cp = p.audit.checkpoint(CLI_PRINCIPAL)
        where = p.settings.audit_checkpoint_dir
    if cp is None:
        console.print("nothing to checkpoint: the log is empty or its head is already signed")
    else:
        console.print(f"audit checkpoint at entry {cp.seq} written to {where}")


@app.command("alerts")
def alerts_check() -> None:
    """Raise alerts for late boxes and late results; print the open ones."""
    with _platform() as p:
        raised = p.alerts.check(CLI_PRINCIPAL)
        open_alerts = p.alerts.list(CLI_PRINCIPAL)
    console.print(f"raised {raised}; open {len(open_alerts)}")


@app.command("notify")
def notify(limit: int = 1000,
           in_doubt: Annotated[bool, typer.Option(
               "--in-doubt", help="List the messages in doubt (claimed, never confirmed; "
               "docs/SMS.md) and send nothing.")] = False,
           sent: Annotated[list[str] | None, typer.Option(
               "--sent", metavar="ID", help="Operator's decision: the gateway took this "
               "message in doubt; mark it sent (repeatable).")] = None,
           resend: Annotated[list[str] | None, typer.Option(
               "--resend", metavar="ID", help="Operator's decision: the gateway never took "
               "this message in doubt; send it again (repeatable).")] = None) -> None:
    """Deliver pending notifications from the outbox through the configured sender."""
    with _platform() as p:
        if in_doubt or sent or resend:
            if sent:
                console.print(f"marked sent {p.outbox.settle(CLI_PRINCIPAL, sent, taken=True)}")
            if resend:
                n = p.outbox.settle(CLI_PRINCIPAL, resend, taken=False)
                console.print(f"released for resending {n}")
            if in_doubt:
                _print_json([{"id": m.id, "person_id": m.person_id, "template": m.template,
                              "claimed_at": m.claimed_at.isoformat(), "attempts": m.attempts,
                              "last_error": m.last_error}
                             for m in p.outbox.in_doubt(CLI_PRINCIPAL, limit)])
            return
        r = p.outbox.deliver(CLI_PRINCIPAL, limit)
    console.print(f"sent {r.sent}, failed {r.failed}, no mobile {r.no_mobile}, "
                  f"in doubt {r.in_doubt}")


@app.command("verify-code")
def verify_code(code: str) -> None:
    """Check a sampling-code token (prints the person id it stands for, or fails)."""
    with _platform() as p:
        _print_json({"person_id": p.people.resolve_code(code)})


@app.command("serve")
def serve(host: Annotated[str | None, typer.Option()] = None,
          port: Annotated[int | None, typer.Option()] = None,
          workers: Annotated[int | None, typer.Option(
              min=1, max=64, help="server processes (default HESUAN_WORKERS, 1)")] = None,
          ) -> None:
    """Serve the API (uvicorn with httptools and uvloop). With several workers, this process
    migrates the database and runs the scheduler, and each worker process serves."""
    import uvicorn

    from hesuan.entrypoints.api import create_app
    from hesuan.entrypoints.heap import settle
    from hesuan.entrypoints.scheduler import Scheduler

    settings = Settings()
    platform = bootstrap(settings)
    # this process checkpoints the WAL for every worker (they share the file)
    platform.start_checkpoints()
    n = workers or settings.workers
    scheduler = Scheduler(platform, settings.sweep_every.total_seconds())
    scheduler.start()
    common: dict[str, Any] = {"host": host or settings.host, "port": port or settings.port,
                              "http": "httptools", "loop": "uvloop", "log_level": "warning",
                              "access_log": False}
    try:
        if n == 1:
            api = create_app(platform)
            settle()  # the workers settle in make_app
            uvicorn.run(api, **common)
        else:
            from hesuan.entrypoints.api.workers import serve_workers

            host_, port_ = common.pop("host"), common.pop("port")
            status = serve_workers("hesuan.entrypoints.api.asgi:make_app", n, host_, port_,
                                   **common)
            if status:
                raise typer.Exit(status)
    finally:
        scheduler.stop()
        platform.close()


register_pass_commands(app, _platform, CLI_PRINCIPAL)


def main() -> None:
    app()




def _register_subcommands() -> None:
    from hesuan.entrypoints.cli_ground import register as register_ground
    from hesuan.entrypoints.cli_sim import register as register_sim
    from hesuan.entrypoints.cli_status import register

    register(app)
    register_sim(app, report_app)
    register_ground(app, report_app)


_register_subcommands()

if __name__ == "__main__":
    main()
