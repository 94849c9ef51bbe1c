"""The command centre, the site lead's page and administration.

- Command centre (``/web/dashboard``, auto-refreshing from ``/web/dashboard.json``): the district
  map drawn by Apache ECharts from the GeoJSON shipped with the project (no tiles), coloured by
  the share of people in each district whose status is green (or overdue / pending re-test);
  samples per hour; per-stage turnaround p50/p90; late boxes and late results; positive pools
  and recalls open and overdue; people overdue; a panel per lab (its last 24 hours and its
  integrity list's counts, ``LabReportService``) in the page's data.
- Site lead (``/web/site``): the site's tubes and boxes of the day and samples per hour.
- Admin (``/web/admin``): sites, laboratories, testing policies and users, with forms to add
  them, and the audit-chain check.

Imports: FastAPI/Starlette, ``hesuan.domain``, ``hesuan.services``, the web package.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from hesuan.bootstrap import Platform
from hesuan.domain.access import Action, Principal, Role, Target, authorize, region_prefix
from hesuan.domain.cadence import OverdueAction, ScopeKind
from hesuan.domain.errors import InvalidInput, NotFound
from hesuan.domain.instants import iso_utc
from hesuan.domain.local_time import short
from hesuan.domain.regions import URBAN_DISTRICTS, Level
from hesuan.domain.sampling import SiteKind
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.web import messages as m
from hesuan.entrypoints.web.forms import SignedForm, WebMe, text
from hesuan.entrypoints.web.i18n import N_
from hesuan.entrypoints.web.render import FORM_ERRORS, WebRoute, error_text, gettext_for, render
from hesuan.entrypoints.web.session import platform_of
from hesuan.entrypoints.web.snapshots import snapshots
from hesuan.services.analytics import PrevalenceRow
from hesuan.services.fence import CheckpointKind
from hesuan.services.lab_report import LabReport
from hesuan.services.places import LabInput, SiteInput
from hesuan.services.status import PolicyInput
from hesuan.services.zones import zone_view

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)



# -- command centre ------------------------------------------------------------------------


def _dashboard(request: Request, me: Principal, fresh: bool = False) -> dict[str, Any]:
    """The command centre's numbers, from the latest snapshot (see ``snapshots``), or
    computed now when asked (``fresh``: the "refresh now" link)."""
    authorize(me, Action.READ_DASHBOARD, Target(region=region_prefix(me)))
    platform = platform_of(request)
    snaps = snapshots(request)

    def compute() -> dict[str, Any]:
        data = _compute_dashboard(platform, me)
        data["changes"] = _changes(snaps.last(me, "dashboard"), data)
        return data

    data: dict[str, Any] = snaps.get(me, "dashboard", compute, fresh=fresh)
    gettext = gettext_for(request)
    return {**data, "window_text": _window_text(data, gettext),
            "changes_text": _changes_text(data["changes"], gettext)}


def _window_text(data: dict[str, Any], gettext: Callable[[str], str]) -> str:
    """What the figures cover and when they were computed, in the page's language."""
    def when(iso: str) -> str:
        return short(datetime.fromisoformat(iso.replace("Z", "+00:00")))
    text = gettext(N_("Computed at %(date)s %(time)s. Coverage counts the people sampled in "
                      "the round's window, %(since)s – %(until)s (96 h up to the latest "
                      "sample); the statuses are as the sweep last decided them.")) % {
        "date": data["as_of_date"], "time": data["as_of_local"],
        "since": when(data["coverage"]["since"]), "until": when(data["coverage"]["as_of"])}
    if data.get("read_from") == "replica":
        text += " " + gettext(N_("Turnaround, coverage and prevalence were read from the "
                                 "database replica, %(age)s s behind the primary then.")) % {
            "age": data["read_age_s"]}
    text += " " + gettext(N_("Samples per hour cover the last 24 h, turnaround the samples "
                             "of the last 3 days; boxes, results and recalls are counted as "
                             "they stand."))
    swept = data["status"].get("last_overdue_at")
    if swept:
        text += " " + gettext(N_("People were last marked overdue by the sweep at %(at)s.")) % {
            "at": when(swept)}
    return text


#: The figures whose changes the command centre explains: key → (label, path in the data).
_TRACKED: dict[str, tuple[str, tuple[str, ...]]] = {
    "overdue": (N_("Overdue (未检)"), ("status", "reasons", "overdue")),
    "coverage_pct": (N_("Coverage (sampled of due)"), ("coverage", "coverage_pct")),
    "outstanding": (N_("Outstanding (not yet sampled)"), ("coverage", "outstanding")),
}
_WHY = {
    "sweep": N_("the sweep at %(at)s marked overdue the people past their due time and grace"),
    "statuses": N_("statuses changed with new samples and results"),
    "window": N_("the round's window moved on to %(since)s – %(until)s"),
    "samples": N_("new samples and results since %(at)s"),
}
#: How many explained changes the page keeps, and for how long.
_CHANGES_KEPT, _CHANGES_FOR = 8, timedelta(hours=24)


def _figure(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    """A figure of the data; a count missing from its table is 0 (nobody overdue)."""
    for k in path[:-1]:
        data = data.get(k) if isinstance(data, dict) else None  # type: ignore[assignment]
    if not isinstance(data, dict):
        return None
    return data.get(path[-1], 0 if path[0] == "status" else None)


def _changes(previous: dict[str, Any] | None, now: dict[str, Any]) -> list[dict[str, Any]]:
    """The tracked figures that changed since the previous snapshot, each with why: the sweep
    marked people overdue, the round's window moved on, or samples and results came in; then
    the changes the previous snapshot explained, for a day."""
    if previous is None:
        return []
    found = []
    for key, (_label, path) in _TRACKED.items():
        old, new = _figure(previous, path), _figure(now, path)
        if old == new or old is None or new is None:
            continue
        why: dict[str, Any]
        if key == "overdue":
            swept = now["status"].get("last_overdue_at")
            why = ({"why": "sweep", "sweep_at": swept}
                   if swept and swept != previous["status"].get("last_overdue_at")
                   else {"why": "statuses"})
        elif now["coverage"]["since"] != previous["coverage"]["since"]:
            why = {"why": "window", "since": now["coverage"]["since"],
                   "until": now["coverage"]["as_of"]}
        else:
            why = {"why": "samples", "previous_at": previous["as_of"]}
        found.append({"figure": key, "old": old, "new": new, "at": now["as_of"], **why})
    cutoff = datetime.fromisoformat(now["as_of"]) - _CHANGES_FOR
    kept = [c for c in previous.get("changes", [])
            if datetime.fromisoformat(c["at"]) >= cutoff]
    return (found + kept)[:_CHANGES_KEPT]


def _changes_text(changes: list[dict[str, Any]], gettext: Callable[[str], str]
                  ) -> list[dict[str, str]]:
    """The explained changes in the page's language."""
    out = []
    for c in changes:
        def when(iso: str) -> str:
            return short(datetime.fromisoformat(iso.replace("Z", "+00:00")))
        why = gettext(_WHY[c["why"]]) % {
            "at": when(c.get("sweep_at") or c.get("previous_at") or c["at"]),
            "since": when(c.get("since") or c["at"]), "until": when(c.get("until") or c["at"])}
        label = gettext(_TRACKED[c["figure"]][0])
        out.append({"why": c["why"], "text": gettext(N_("%(at)s · %(figure)s %(old)s → %(new)s: "
                                                        "%(why)s")) % {
            "at": when(c["at"]), "figure": label, "old": c["old"], "new": c["new"],
            "why": why}})
    return out


def _compute_dashboard(platform: Platform, me: Principal) -> dict[str, Any]:
    centre = platform.worklists.command_centre(me)
    districts = platform.worklists.district_status(me)
    turnaround = platform.reports.turnaround(me, since=centre.as_of - timedelta(days=3))
    coverage = platform.analytics.coverage(me, level=Level.DISTRICT)
    zones = [zone_view(z) for z in platform.zones.list_zones(me)]
    waits = sorted((x for x in platform.lanes.load(me) if x.wait_minutes is not None),
                   key=lambda x: -(x.wait_minutes or 0.0))[:8]
    covered = {r.code: r for r in coverage.districts}
    prevalence = platform.analytics.prevalence(me)
    prevalent = {r.code: r for r in prevalence.districts}
    labs = [_lab_panel(r) for r in platform.lab_reports.reports(me, limit=5)]
    status: dict[str, Any] = {"people": 0, "colours": defaultdict(int),
                              "reasons": defaultdict(int)}
    last_overdue = max((r.last_overdue_at for r in districts.values() if r.last_overdue_at),
                       default=None)
    rows = []
    for code, row in sorted(districts.items()):
        status["people"] += row.people
        for k, v in row.colours.items():
            status["colours"][k] += v
        for k, v in row.reasons.items():
            status["reasons"][k] += v
        n = row.people
        cov = covered.get(code)
        rows.append({"code": code, "name": URBAN_DISTRICTS.get(code, code), "people": n,
                     "due": cov.due if cov else None,
                     "sampled": cov.sampled if cov else None,
                     "exempt": cov.exempt if cov else None,
                     "outstanding": cov.outstanding if cov else None,
                     "coverage_pct": _pct(cov.coverage if cov else None),
                     "prevalence": _prevalence(prevalent.get(code)),
                     "green": row.colours.get("green", 0),
                     "overdue": row.reasons.get("overdue", 0),
                     "pending_retest": row.reasons.get("pending_retest", 0),
                     "green_pct": round(100 * row.colours.get("green", 0) / n, 1)
                     if n else None,
                     "overdue_pct": round(100 * row.reasons.get("overdue", 0) / n, 1)
                     if n else None})
    return {
        "as_of": centre.as_of.isoformat(),
        # where the turnaround, coverage and prevalence were read, and how far behind the
        # primary that database was (0 on the primary itself; docs/DEPLOY.md)
        "read_from": platform.reads.source, "read_age_s": round(platform.reads.age_s(), 1),
        "as_of_local": short(centre.as_of, "%H:%M:%S"),
        "as_of_date": short(centre.as_of, "%Y-%m-%d"),
        "chain": asdict(centre.chain),
        "status": {"people": status["people"], "colours": dict(status["colours"]),
                   "reasons": dict(status["reasons"]),
                   "last_overdue_at": last_overdue.isoformat() if last_overdue else None},
        "samples_per_hour": centre.samples_per_hour,
        "turnaround": [{"stage": k, "p50": v.p50_min, "p90": v.p90_min, "n": v.n}
                       for k, v in turnaround.since_first_sample.items()],
        "tubes": turnaround.tubes,
        "districts": rows,
        "coverage": {**asdict(coverage.total), "coverage_pct": _pct(coverage.total.coverage),
                     "since": iso_utc(coverage.since), "as_of": iso_utc(coverage.as_of)},
        "prevalence": _prevalence(prevalence.city),
        "prevalence_rows": [(r["name"], r["prevalence"]) for r in rows if r["prevalence"]],
        "zones": [{"name": z["name"], "kind": z["kind"], "people": z["people"],
                   "starts_at": z["starts_at"].isoformat(),
                   "planned_end": z["planned_end"].isoformat() if z["planned_end"] else None}
                  for z in zones],
        "waits": [{"name": x.name, "wait_minutes": x.wait_minutes, "queue": x.queue,
                   "open_windows": x.open_windows, "windows": x.windows} for x in waits],
        "labs": labs,
    }


def _lab_panel(r: LabReport) -> dict[str, Any]:
    """A lab's panel: its last 24 hours (``LabReportService``) and its integrity counts."""
    c, i = r.counts, r.integrity
    return {"id": r.lab_id, "name": r.lab_name, "received": c.received, "in_lab": c.in_lab,
            "on_plates": c.on_plates, "late": c.late, "released": sum(c.released.values()),
            "positive": c.released.get("positive", 0), "rejected": sum(c.rejected.values()),
            "plates": c.plates_imported, "control_failures": c.control_failures,
            "invalid_pct": _pct(r.invalid_rate), "single_target_pct": _pct(r.single_target_rate),
            "reruns": c.reruns, "corrections": dict(c.corrections), "intact": r.intact,
            "integrity": {"results_without_run_file": i.results_without_run_file.count,
                          "runs_without_passing_controls": i.runs_without_passing_controls.count,
                          "tubes_above_pool_size": i.tubes_above_pool_size.count,
                          "releases_by_one_person": i.releases_by_one_person.count}}


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else round(100 * fraction, 1)


def _prevalence(row: PrevalenceRow | None) -> dict[str, Any] | None:
    """A prevalence row, per cent, for the page (None when no routine pool was tested)."""
    if row is None or not row.pools_tested:
        return None
    ci = row.ci95
    return {"p_pct": None if row.p_hat is None else round(100 * row.p_hat, 3),
            "ci_pct": None if not ci else [round(100 * ci[0], 3), round(100 * ci[1], 3)],
            "pools_tested": row.pools_tested, "pools_positive": row.pools_positive,
            "main_pool_size": row.main_pool_size,
            "recommended_pool_size": row.recommended_pool_size}


@router.get("/web/dashboard", openapi_extra=acts(Action.READ_DASHBOARD))
def dashboard_page(request: Request, me: WebMe, fresh: bool = False) -> Response:
    data = _dashboard(request, me, fresh)
    _ = gettext_for(request)
    chart_text = {
        "coverage_pct": _("Coverage (sampled of due)"),
        "green_pct": _("Share of people green"),
        "overdue_pct": _("Share of people overdue"),
        "samples": _("Samples per hour"),
        "p50": _("p50 (min)"), "p90": _("p90 (min)"),
        "stages": {k: _(v) for k, v in m.STAGES.items()},
        "no_data": _("No data"),
        "people": _("People"),
    }
    return render(request, "dashboard.html", me, d=data, chart_text=chart_text,
                  stage_labels=m.STAGES)


@router.get("/web/dashboard.json", openapi_extra=acts(Action.READ_DASHBOARD))
def dashboard_json(request: Request, me: WebMe) -> Response:
    return JSONResponse(_dashboard(request, me), headers={"Cache-Control": "no-store"})


# -- site lead -----------------------------------------------------------------------------


@router.get("/web/site", openapi_extra=acts(Action.READ_SITE_BOARD))
def site_page(request: Request, me: WebMe) -> Response:
    if me.role not in (Role.SITE_LEAD, Role.SAMPLER) or not me.scope:
        raise NotFound("the site page is for site leads", code="wrong_role")
    platform = platform_of(request)
    overview = platform.worklists.site_overview(me, me.scope)
    peak = max((h.samples for h in overview.day.samples_per_hour), default=0)
    load = next(iter(platform.lanes.load(me, [me.scope])), None)
    board = platform.teams.board(me, me.scope)
    # the lead's teams at the site, each with when its people may next start
    teams = [platform.teams.team_staff(me, t.id) for t in platform.teams.teams(me)
             if t.place_kind == "site" and t.place_id == me.scope
             ] if me.role is Role.SITE_LEAD else []
    return render(request, "site.html", me, o=overview.day, site=overview.site, peak=peak,
                  load=load, board=board, teams=teams, state=overview.state,
                  since=overview.since, until=overview.until)


# -- admin ---------------------------------------------------------------------------------


def _admin_page(request: Request, me: Principal, **extra: Any) -> Response:
    authorize(me, Action.LIST_USERS)
    platform = platform_of(request)
    policies = platform.status.policies(me)
    regions = platform.places.region_names(p.scope for p in policies if p.scope_kind == "region")
    return render(request, "admin.html", me, sites=platform.places.sites(),
                  labs=platform.places.labs(me), policies=policies, region_names=regions,
                  users=platform.worklists.users(me), roles=[r.value for r in Role],
                  site_kinds=[k.value for k in SiteKind],
                  actions=[a.value for a in OverdueAction],
                  venues=platform.venues.venues(me), checkpoints=platform.fence.checkpoints(me),
                  checkpoint_kinds=[k.value for k in CheckpointKind], **extra)


@router.get("/web/admin", openapi_extra=acts(Action.LIST_USERS))
def admin_page(request: Request, me: WebMe) -> Response:
    return _admin_page(request, me)


def _number(value: str, field: str, cast: type[int] | type[float] = int) -> Any:
    try:
        n = cast(value)
    except ValueError:
        n = None
    if n is None or not math.isfinite(n):
        raise InvalidInput(f"{field} must be a number", code="bad_number", field=field)
    return n


def _hours(value: str, field: str) -> timedelta:
    """A number of hours (a policy's checks then hold it to its range)."""
    hours = _number(value, field, float)
    if not 0 <= hours <= _MAX_HOURS:
        raise InvalidInput(f"{field} must be between 0 and {_MAX_HOURS} hours",
                           code="bad_number", field=field)
    return timedelta(hours=hours)


#: More hours than any policy's interval, grace or lead may have (a year).
_MAX_HOURS = 24 * 366


@router.post("/web/admin/{what}", openapi_extra=acts(Action.CREATE_USER))
def admin_add(request: Request, me: WebMe, form: SignedForm, what: str) -> Response:
    """The admin page's forms: the page is an administrator's, so its forms are too (each
    service still authorises its own action); nothing is written for anyone else."""
    authorize(me, Action.LIST_USERS)
    platform = platform_of(request)
    try:
        if what == "user":
            role = Role(text(form, "role", max_len=20))
            platform.auth.create_user(me, text(form, "username", required=True, max_len=60),
                                      text(form, "password", max_len=200), role,
                                      text(form, "scope", max_len=32) or None)
        elif what == "site":
            lat, lng = text(form, "lat", max_len=20), text(form, "lng", max_len=20)
            platform.places.add_site(me, SiteInput(
                name=text(form, "name", required=True, max_len=100),
                kind=SiteKind(text(form, "kind", max_len=20)),
                region_code=text(form, "region_code", required=True, max_len=15),
                opening_hours=text(form, "opening_hours", max_len=11) or "07:00-21:00",
                windows=_number(text(form, "windows", max_len=3) or "2", "windows"),
                lat=_number(lat, "lat", float) if lat else None,
                lng=_number(lng, "lng", float) if lng else None))
        elif what == "lab":
            platform.places.add_lab(me, LabInput(
                text(form, "name", required=True, max_len=100),
                text(form, "region_code", required=True, max_len=15),
                _number(text(form, "daily_capacity", max_len=9), "daily_capacity")))
        elif what == "venue":
            platform.venues.register(me, text(form, "code", required=True, max_len=20),
                                     text(form, "name", required=True, max_len=100),
                                     text(form, "region_code", required=True, max_len=15))
        elif what == "checkpoint":
            platform.fence.add_checkpoint(me, text(form, "code", required=True, max_len=20),
                                          text(form, "name", required=True, max_len=100),
                                          CheckpointKind(text(form, "kind", max_len=20)),
                                          text(form, "region_code", required=True, max_len=15))
        elif what == "policy":
            platform.status.set_policy(me, PolicyInput(
                scope_kind=ScopeKind(text(form, "scope_kind", max_len=10)),
                scope=text(form, "scope", required=True, max_len=20),
                interval=_hours(text(form, "interval_hours", max_len=6), "interval_hours"),
                grace=_hours(text(form, "grace_hours", max_len=6) or "24", "grace_hours"),
                reminder_lead=_hours(text(form, "reminder_lead_hours", max_len=6) or "12",
                                     "reminder_lead_hours"),
                overdue_action=OverdueAction(text(form, "overdue_action", max_len=10)),
                name=text(form, "name", max_len=100), id=text(form, "id", max_len=32) or None))
        elif what == "audit":
            report = platform.audit.verify(me)
            cp = report.checkpoint
            return _admin_page(request, me, audit={
                "entries": report.entries, "intact": report.intact,
                "broken": report.first_broken_seq,
                "anchor_seq": None if cp is None else cp.seq,
                "anchor_at": None if cp is None else cp.signed_at,
                "anchor_overdue": report.anchor_overdue(platform.deps.clock.now())})
        else:
            raise NotFound("no such form", code="not_found")
    except ValueError:
        choose = gettext_for(request)(N_("Choose a value from the list."))
        return _admin_page(request, me, error=choose, form=what)
    except FORM_ERRORS as exc:
        return _admin_page(request, me, error=error_text(request, exc), form=what)
    return _admin_page(request, me, done=what)
