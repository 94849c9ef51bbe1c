"""Who may do what: roles, scopes, the principal acting, and the one access policy.

Roles (DESIGN.md §3): admin; health officer (a region and everything under it); site lead and
sampler (one site); courier (the whole city); lab (one lab); grid worker (one grid); venue (one
venue); resident (themself); and the province's account, which reads the city's daily
aggregates for the provincial view and nothing else (docs/DEPLOY.md "Past one city").

``POLICY`` declares, for every :class:`Action`, the roles that may do it and the relation that
must hold between the principal's scope and the object (:class:`Relation`). ``authorize`` is the
one function that decides: services call it with the action and a :class:`Target` describing the
object; nothing else checks roles or scopes. Reads of collections call it with no target and
then keep to ``region_prefix``/the principal's own site, lab or venue.

Imports: standard library only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

from hesuan.domain.digits import is_digits
from hesuan.domain.errors import InvalidInput, NotFound, PermissionDenied

__all__ = [
    "POLICY",
    "UNSCOPED_ROLES",
    "USERNAME_PATTERN",
    "Action",
    "Principal",
    "Relation",
    "Role",
    "Rule",
    "Target",
    "allows",
    "area_for",
    "authorize",
    "check_account",
    "region_prefix",
]


class Role(enum.StrEnum):
    ADMIN = "admin"
    HEALTH_OFFICER = "health_officer"
    SITE_LEAD = "site_lead"
    SAMPLER = "sampler"
    COURIER = "courier"
    LAB = "lab"
    GRID_WORKER = "grid_worker"
    VENUE = "venue"
    RESIDENT = "resident"
    PROVINCE = "province"  # the provincial view's service account: daily aggregates only


#: The roles that act without a scope (city-wide, or on aggregates only); every other role's
#: account names its region, site, lab, venue or person.
UNSCOPED_ROLES = frozenset({Role.ADMIN, Role.COURIER, Role.PROVINCE})

#: A username: 3-60 letters, digits, ``_``, ``.``, ``-`` (what a person types to sign in, and
#: what the audit log names them by).
USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,60}$"


def check_account(username: str, role: Role, scope: str | None) -> None:
    """An account's username, and a scope for a role that needs one and for no other."""
    if not re.fullmatch(USERNAME_PATTERN, username):
        raise InvalidInput("username: 3-60 letters, digits, _ . or -", code="bad_username",
                           field="username")
    if role in UNSCOPED_ROLES and scope:
        raise InvalidInput(f"scope: a {role} acts without a scope", code="unscoped_role",
                           field="scope")
    if role not in UNSCOPED_ROLES and not scope:
        raise InvalidInput(f"scope is required for role {role}", code="missing_scope",
                           field="scope")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: a user id, a role, and the scope the role applies to."""

    user_id: str
    username: str
    role: Role
    scope: str | None = None  # site id, lab id, region code, grid code, venue id or person id

    @property
    def may_unmask(self) -> bool:
        return allows(self, Action.UNMASK_PERSON)


class Relation(enum.StrEnum):
    """What must hold between the principal's scope and the object."""

    ANY = "any"  # nothing: the role acts city-wide
    REGION = "region"  # the object's region code starts with the principal's region code
    SITE = "site"  # the object is at the principal's site
    LAB = "lab"  # the object is at the principal's lab
    VENUE = "venue"  # the object is at the principal's venue
    SELF = "self"  # the object is the principal's own person


@dataclass(frozen=True, slots=True)
class Target:
    """The object of an action, as far as access is concerned: where it is and whose it is.
    A relation reads only its own field; a missing field never satisfies it."""

    region: str | None = None  # region or grid code of the object (a person's grid, a site's)
    site: str | None = None
    lab: str | None = None
    venue: str | None = None
    person: str | None = None


class Action(enum.StrEnum):
    """Everything a principal can ask the platform to do."""

    # accounts and the record
    CREATE_USER = "create_user"
    LIST_USERS = "list_users"
    VERIFY_AUDIT = "verify_audit"
    # places
    DEFINE_REGIONS = "define_regions"
    READ_SITES = "read_sites"
    CREATE_SITE = "create_site"
    CREATE_LAB = "create_lab"
    READ_LABS = "read_labs"
    # people
    REGISTER_PERSON = "register_person"
    IMPORT_PEOPLE = "import_people"
    READ_PERSON = "read_person"
    UNMASK_PERSON = "unmask_person"
    FIND_PERSON = "find_person"
    READ_SAMPLING_CODE = "read_sampling_code"
    # 采 sampling, at a window or door to door
    RECORD_STATION_EVENTS = "record_station_events"
    READ_SITE_QUEUE = "read_site_queue"
    READ_TEAM_ROUTE = "read_team_route"
    VISIT_HOUSEHOLD = "visit_household"
    # 送 delivery
    HAND_OVER_BOX = "hand_over_box"
    READ_BOXES_TO_COLLECT = "read_boxes_to_collect"
    RECEIVE_BOX = "receive_box"
    # 检 testing
    READ_LAB_QUEUE = "read_lab_queue"
    RECORD_RESULTS = "record_results"
    READ_ASSAYS = "read_assays"
    SET_ASSAY = "set_assay"
    READ_PLATES = "read_plates"
    BUILD_PLATES = "build_plates"
    IMPORT_RUNS = "import_runs"
    RELEASE_RUNS = "release_runs"
    SET_ONE_PERSON_RELEASE = "set_one_person_release"
    REJECT_SPECIMEN = "reject_specimen"
    REQUEST_CORRECTION = "request_correction"
    DECIDE_CORRECTION = "decide_correction"
    READ_CORRECTIONS = "read_corrections"
    READ_LAB_REPORT = "read_lab_report"
    SEND_LAB_MESSAGES = "send_lab_messages"
    READ_LAB_MESSAGES = "read_lab_messages"
    DECIDE_LAB_MESSAGES = "decide_lab_messages"
    SET_LAB_INTEROP = "set_lab_interop"
    # reports and alerts
    READ_TURNAROUND = "read_turnaround"
    READ_RECONCILIATION = "read_reconciliation"
    READ_ALERTS = "read_alerts"
    CHECK_ALERTS = "check_alerts"
    DELIVER_NOTIFICATIONS = "deliver_notifications"
    READ_DASHBOARD = "read_dashboard"
    READ_STATUS_COUNTS = "read_status_counts"
    READ_RECALLS = "read_recalls"
    READ_POSITIVE_POOLS = "read_positive_pools"
    READ_PREVALENCE = "read_prevalence"
    # cadence and status
    RECOMPUTE_STATUS = "recompute_status"
    RUN_SWEEP = "run_sweep"
    READ_POLICIES = "read_policies"
    SET_POLICY = "set_policy"
    SEED_POLICIES = "seed_policies"
    READ_STATUS_RULES = "read_status_rules"
    CHANGE_STATUS_RULES = "change_status_rules"
    READ_STATUS = "read_status"
    SET_EXEMPTION = "set_exemption"
    REVOKE_EXEMPTION = "revoke_exemption"
    READ_EXEMPTIONS = "read_exemptions"
    REQUEST_OVERRIDE = "request_override"
    DECIDE_OVERRIDE = "decide_override"
    READ_OVERRIDES = "read_overrides"
    REGISTER_ARRIVAL = "register_arrival"
    # passes
    ISSUE_PASS = "issue_pass"
    CHECK_PASS = "check_pass"
    REVOKE_PASSES = "revoke_passes"
    ROTATE_PASS_KEY = "rotate_pass_key"
    # venues and the fence
    REGISTER_VENUE = "register_venue"
    READ_VENUES = "read_venues"
    CHECK_IN = "check_in"
    READ_VENUE_CHECKS = "read_venue_checks"
    REGISTER_CHECKPOINT = "register_checkpoint"
    READ_CHECKPOINTS = "read_checkpoints"
    READ_CHECKPOINT_SCANS = "read_checkpoint_scans"
    RECORD_PLACE_SCANS = "record_place_scans"
    READ_FENCE_ALERTS = "read_fence_alerts"
    HANDLE_FENCE_ALERT = "handle_fence_alert"
    # grid rosters and coverage
    READ_COVERAGE = "read_coverage"
    REFRESH_COVERAGE = "refresh_coverage"
    READ_ROSTER = "read_roster"
    REVEAL_PHONE = "reveal_phone"
    RECORD_ROSTER_OUTCOME = "record_roster_outcome"
    # zones
    READ_ZONES = "read_zones"
    CHANGE_ZONES = "change_zones"
    RUN_ZONE_CHANGES = "run_zone_changes"
    IMPORT_BOUNDARIES = "import_boundaries"
    # teams, staff and shifts
    READ_TEAMS = "read_teams"
    READ_TEAM_STAFF = "read_team_staff"
    MANAGE_TEAMS = "manage_teams"
    ASSIGN_TEAM = "assign_team"
    CLOSE_ASSIGNMENT = "close_assignment"
    REGISTER_STAFF = "register_staff"
    MANAGE_SHIFTS = "manage_shifts"
    READ_SITE_BOARD = "read_site_board"
    # history that expires, and the end of the programme
    RUN_RETENTION = "run_retention"
    READ_AGGREGATES = "read_aggregates"
    REQUEST_PROGRAMME_CLOSE = "request_programme_close"
    APPROVE_PROGRAMME_CLOSE = "approve_programme_close"
    READ_PROGRAMME_CLOSES = "read_programme_closes"
    # running the platform: backups and the data key
    BACKUP_DATABASE = "backup_database"
    RESTORE_DATABASE = "restore_database"
    REKEY_DATA = "rekey_data"
    # a page or route open to anyone signed in, or to no one in particular
    SIGNED_IN = "signed_in"
    PUBLIC = "public"


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may do one action: each allowed role with the relation it needs. ``collection``
    actions read many objects: they are authorised without a target and the service keeps the
    answer to the principal's scope. ``hide`` answers out-of-scope with not-found, so the
    object's existence does not leak."""

    who: Mapping[Role, Relation]
    collection: bool = False
    hide: bool = False


_A, _R = Relation.ANY, Relation.REGION
_ADMIN = {Role.ADMIN: _A}
_OFFICER = {Role.HEALTH_OFFICER: _R}
_OFFICERS_AND_GRID = {Role.HEALTH_OFFICER: _R, Role.GRID_WORKER: _R}
_SITE_STAFF = {Role.SAMPLER: Relation.SITE, Role.SITE_LEAD: Relation.SITE}
_LAB = {Role.LAB: Relation.LAB}
_PERSON_READERS = {**_ADMIN, **_OFFICERS_AND_GRID, Role.RESIDENT: Relation.SELF}


def _rule(*groups: Mapping[Role, Relation], collection: bool = False,
          hide: bool = False) -> Rule:
    who: dict[Role, Relation] = {}
    for g in groups:
        who.update(g)
    return Rule(who, collection=collection, hide=hide)


def _list(*groups: Mapping[Role, Relation]) -> Rule:
    return _rule(*groups, collection=True)


#: The access policy: every action, the roles that may do it and the relation each needs.
POLICY: Mapping[Action, Rule] = {
    Action.CREATE_USER: _rule(_ADMIN),
    Action.LIST_USERS: _list(_ADMIN),
    Action.VERIFY_AUDIT: _list(_ADMIN),
    Action.DEFINE_REGIONS: _list(_ADMIN),
    Action.READ_SITES: _list({r: _A for r in Role}),
    Action.CREATE_SITE: _rule(_ADMIN, _OFFICER),
    Action.CREATE_LAB: _rule(_ADMIN),
    Action.READ_LABS: _list(_ADMIN, _OFFICER, {Role.LAB: _A, Role.COURIER: _A}),
    Action.REGISTER_PERSON: _rule(_ADMIN, _OFFICERS_AND_GRID),
    Action.IMPORT_PEOPLE: _rule(_ADMIN, _OFFICER),
    Action.READ_PERSON: _rule(_PERSON_READERS, hide=True),
    Action.UNMASK_PERSON: _rule(_ADMIN, _OFFICER),
    Action.FIND_PERSON: _rule(_ADMIN, _OFFICERS_AND_GRID),
    Action.READ_SAMPLING_CODE: _rule(_PERSON_READERS, hide=True),
    # a batch of events: the role is asked of the batch, the site of each event
    Action.RECORD_STATION_EVENTS: _list(_ADMIN, _SITE_STAFF),
    Action.READ_SITE_QUEUE: _rule(_ADMIN, _SITE_STAFF),
    Action.READ_TEAM_ROUTE: _rule(_ADMIN, _OFFICER, _SITE_STAFF),
    Action.VISIT_HOUSEHOLD: _rule(_ADMIN, _SITE_STAFF),
    Action.HAND_OVER_BOX: _rule(_ADMIN, {Role.COURIER: _A}),
    Action.READ_BOXES_TO_COLLECT: _list(_ADMIN, {Role.COURIER: _A}),
    Action.RECEIVE_BOX: _rule(_ADMIN, _LAB),
    Action.READ_LAB_QUEUE: _rule(_ADMIN, _LAB),
    Action.RECORD_RESULTS: _rule(_ADMIN, _LAB),
    Action.READ_ASSAYS: _list(_ADMIN, {Role.LAB: _A}),
    Action.SET_ASSAY: _list(_ADMIN),
    Action.READ_PLATES: _rule(_ADMIN, _LAB),
    Action.BUILD_PLATES: _rule(_ADMIN, _LAB),
    Action.IMPORT_RUNS: _rule(_ADMIN, _LAB),
    # the second person is checked by the run service (domain/runs.py), not by the role
    Action.RELEASE_RUNS: _rule(_ADMIN, _LAB),
    # a lab's one-person release is an administrator's decision, never the lab's own
    Action.SET_ONE_PERSON_RELEASE: _rule(_ADMIN),
    Action.REJECT_SPECIMEN: _rule(_ADMIN, _LAB),
    # a correction is a lab's own: requested by one of its users, approved by a second one
    # (the second person is checked by the correction service, domain/corrections.py)
    Action.REQUEST_CORRECTION: _rule(_LAB),
    Action.DECIDE_CORRECTION: _rule(_LAB),
    Action.READ_CORRECTIONS: _rule(_ADMIN, _LAB),
    # a lab's report: its own users, and the health officers of the lab's region
    Action.READ_LAB_REPORT: _rule(_ADMIN, _OFFICER, _LAB),
    # a lab's own system sends its results; its inbox: the lab's users, the region's officers
    Action.SEND_LAB_MESSAGES: _rule(_ADMIN, _LAB),
    Action.READ_LAB_MESSAGES: _rule(_ADMIN, _OFFICER, _LAB),
    Action.DECIDE_LAB_MESSAGES: _rule(_ADMIN, _LAB),
    Action.SET_LAB_INTEROP: _rule(_ADMIN, _LAB),
    Action.READ_TURNAROUND: _list(_ADMIN, _OFFICER),
    Action.READ_RECONCILIATION: _list(_ADMIN, _OFFICER),
    Action.READ_ALERTS: _list(_ADMIN, _OFFICER),
    Action.CHECK_ALERTS: _list(_ADMIN, _OFFICER),
    Action.DELIVER_NOTIFICATIONS: _list(_ADMIN),
    Action.READ_DASHBOARD: _rule(_ADMIN, _OFFICER),
    Action.READ_STATUS_COUNTS: _rule(_ADMIN, _OFFICERS_AND_GRID),
    Action.READ_RECALLS: _list(_ADMIN, _OFFICERS_AND_GRID),
    Action.READ_POSITIVE_POOLS: _rule(_ADMIN, _OFFICER),
    Action.READ_PREVALENCE: _rule(_ADMIN, _OFFICER),
    Action.RECOMPUTE_STATUS: _list(_ADMIN),
    Action.RUN_SWEEP: _list(_ADMIN),
    Action.READ_POLICIES: _list(_ADMIN, _OFFICERS_AND_GRID),
    Action.SET_POLICY: _rule(_ADMIN, _OFFICER),
    Action.SEED_POLICIES: _list(_ADMIN),
    Action.READ_STATUS_RULES: _list(_ADMIN, _OFFICER),
    Action.CHANGE_STATUS_RULES: _list(_ADMIN),
    Action.READ_STATUS: _rule(_PERSON_READERS, hide=True),
    Action.SET_EXEMPTION: _rule(_ADMIN, _OFFICER),
    Action.REVOKE_EXEMPTION: _rule(_ADMIN, _OFFICER),
    Action.READ_EXEMPTIONS: _list(_ADMIN, _OFFICERS_AND_GRID),
    Action.REQUEST_OVERRIDE: _rule(_ADMIN, _OFFICER),
    # two different health officers decide an override; an administrator is not one
    Action.DECIDE_OVERRIDE: _rule(_OFFICER),
    Action.READ_OVERRIDES: _list(_ADMIN, _OFFICER),
    Action.REGISTER_ARRIVAL: _rule(_ADMIN, _OFFICER, _SITE_STAFF),
    Action.ISSUE_PASS: _rule(_PERSON_READERS, hide=True),
    Action.CHECK_PASS: _list({r: _A for r in Role}),
    Action.REVOKE_PASSES: _rule(_ADMIN, _OFFICER),
    Action.ROTATE_PASS_KEY: _list(_ADMIN),
    Action.REGISTER_VENUE: _rule(_ADMIN, _OFFICER),
    Action.READ_VENUES: _list(_ADMIN, _OFFICER, {Role.VENUE: Relation.VENUE}),
    Action.CHECK_IN: _rule(_ADMIN, {Role.VENUE: Relation.VENUE}),
    Action.READ_VENUE_CHECKS: _rule(_ADMIN, _OFFICER, {Role.VENUE: Relation.VENUE}),
    Action.REGISTER_CHECKPOINT: _rule(_ADMIN, _OFFICER),
    Action.READ_CHECKPOINTS: _list(_ADMIN, _OFFICER, {Role.VENUE: Relation.VENUE}),
    Action.READ_CHECKPOINT_SCANS: _rule(_ADMIN, _OFFICER, {Role.VENUE: Relation.VENUE}),
    Action.RECORD_PLACE_SCANS: _rule(_ADMIN, _OFFICER, {Role.VENUE: Relation.VENUE}),
    Action.READ_FENCE_ALERTS: _list(_ADMIN, _OFFICERS_AND_GRID),
    Action.HANDLE_FENCE_ALERT: _rule(_ADMIN, _OFFICERS_AND_GRID, hide=True),
    Action.READ_COVERAGE: _rule(_ADMIN, _OFFICERS_AND_GRID),
    Action.REFRESH_COVERAGE: _list(_ADMIN),
    Action.READ_ROSTER: _rule(_ADMIN, _OFFICERS_AND_GRID),
    Action.REVEAL_PHONE: _rule(_ADMIN, _OFFICERS_AND_GRID, hide=True),
    Action.RECORD_ROSTER_OUTCOME: _rule(_ADMIN, _OFFICERS_AND_GRID, hide=True),
    Action.READ_ZONES: _list(_ADMIN, _OFFICERS_AND_GRID),
    Action.CHANGE_ZONES: _rule(_ADMIN, _OFFICER),
    Action.RUN_ZONE_CHANGES: _list(_ADMIN),
    Action.IMPORT_BOUNDARIES: _list(_ADMIN),
    Action.READ_TEAMS: _list(_ADMIN, _OFFICER, {Role.SITE_LEAD: Relation.SITE}),
    Action.MANAGE_TEAMS: _rule(_ADMIN, _OFFICER),
    Action.ASSIGN_TEAM: _rule(_ADMIN, _OFFICER),
    Action.CLOSE_ASSIGNMENT: _rule(_ADMIN, _OFFICER, {Role.SITE_LEAD: Relation.SITE}),
    Action.REGISTER_STAFF: _rule(_ADMIN, _OFFICER, {Role.SITE_LEAD: Relation.SITE}),
    Action.READ_TEAM_STAFF: _rule(_ADMIN, _OFFICER, {Role.SITE_LEAD: Relation.SITE}),
    Action.MANAGE_SHIFTS: _rule(_ADMIN, _OFFICER, {Role.SITE_LEAD: Relation.SITE}),
    Action.READ_SITE_BOARD: _rule(_ADMIN, _OFFICER, _SITE_STAFF),
    Action.RUN_RETENTION: _list(_ADMIN),
    # what remains without personal data, city-wide to the province's view as well
    Action.READ_AGGREGATES: _list(_ADMIN, _OFFICER, {Role.PROVINCE: _A}),
    # two different health officers of the whole city close the programme; an administrator
    # is not one
    Action.REQUEST_PROGRAMME_CLOSE: _rule(_OFFICER),
    Action.APPROVE_PROGRAMME_CLOSE: _rule(_OFFICER),
    Action.READ_PROGRAMME_CLOSES: _list(_ADMIN, _OFFICER),
    # the operator who runs the platform copies and restores the database and moves the
    # personal data to the data key file
    Action.BACKUP_DATABASE: _list(_ADMIN),
    Action.RESTORE_DATABASE: _list(_ADMIN),
    Action.REKEY_DATA: _list(_ADMIN),
    Action.SIGNED_IN: _list({r: _A for r in Role}),
    Action.PUBLIC: _list({r: _A for r in Role}),
}


def _holds(relation: Relation, p: Principal, t: Target | None) -> bool:
    if relation is Relation.ANY:
        return True
    if t is None or p.scope is None:
        return False
    if relation is Relation.REGION:
        return t.region is not None and t.region.startswith(p.scope)
    if relation is Relation.SITE:
        return t.site == p.scope
    if relation is Relation.LAB:
        return t.lab == p.scope
    if relation is Relation.VENUE:
        return t.venue == p.scope
    return t.person == p.scope  # Relation.SELF


def allows(principal: Principal, action: Action, target: Target | None = None) -> bool:
    """Whether the policy lets ``principal`` do ``action`` (to ``target``). For a collection
    action without a target only the role is asked."""
    rule = POLICY[action]
    relation = rule.who.get(principal.role)
    if relation is None:
        return False
    if target is None and rule.collection:
        return True
    return _holds(relation, principal, target)


def authorize(principal: Principal, action: Action, target: Target | None = None,
              *, field: str | None = None, hidden: NotFound | None = None) -> None:
    """The one access check. Raise PermissionDenied (``wrong_role`` or ``wrong_scope``), or
    for a ``hide`` action done out of scope ``hidden`` (the caller's own not-found error, the
    same as for an object that does not exist), unless the policy allows it."""
    rule = POLICY[action]
    if target is None and not rule.collection:
        raise TypeError(f"action {action} acts on one object: authorize it with its target")
    relation = rule.who.get(principal.role)
    if relation is None:
        allowed = ", ".join(sorted(r.value for r in rule.who))
        raise PermissionDenied(f"role {principal.role} may not {action.value.replace('_', ' ')} "
                               f"(needs: {allowed})", code="wrong_role")
    if target is None or _holds(relation, principal, target):
        return
    if rule.hide:
        raise hidden or NotFound("no such thing in your scope", code="not_in_scope",
                                 field=field)
    raise PermissionDenied(f"{principal.role} {principal.username} may not "
                           f"{action.value.replace('_', ' ')} outside their {relation.value} "
                           f"({principal.scope})", code="wrong_scope", field=field)


def region_prefix(principal: Principal, action: Action | None = None) -> str:
    """The region codes a principal's collection reads keep to: every code starts with this
    ("" for the city-wide roles, and for ``action`` when its rule lets the role act city-wide:
    the province's account reading the daily aggregates); a role with no region gets a prefix
    no code has."""
    if principal.role is Role.ADMIN or (
            action is not None and POLICY[action].who.get(principal.role) is Relation.ANY):
        return ""
    if principal.role in (Role.HEALTH_OFFICER, Role.GRID_WORKER):
        return principal.scope or "\0"
    return "\0"


def area_for(principal: Principal, action: Action, wanted: str | None,
             field: str = "region") -> str:
    """The region prefix a read of an area keeps to: the one asked for, narrowed to the
    principal's own region when it asks for more (the whole city, say); an area outside it is
    refused by ``authorize``."""
    wanted = (wanted or "").strip()
    if wanted and not is_digits(wanted):
        raise InvalidInput(f"{field} must be a region code", code="bad_region_code",
                           field=field)
    own = region_prefix(principal)
    prefix = own if own.startswith(wanted) else wanted
    authorize(principal, action, Target(region=prefix), field=field)
    return prefix
