"""The composition root: builds every adapter and service from ``Settings``.

Nothing else in Hesuan constructs an engine, a key ring or a sender. Entry points (API, CLI) and
the simulator call ``bootstrap(settings)`` and use the services of the returned ``Platform``.

Imports: everything below it (config, adapters, services).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine

from hesuan.adapters.audit_checkpoints import FileCheckpoints
from hesuan.adapters.clock import SystemClock
from hesuan.adapters.crypto import (
    Argon2Passwords,
    DataKeyMoveFiles,
    HmacCodeSigner,
    KeyRing,
    load_data_key,
    load_master_secret,
    new_data_key_path,
)
from hesuan.adapters.db.analytics import SqlAnalytics
from hesuan.adapters.db.audit_store import check_chain_key, has_audit_log
from hesuan.adapters.db.backup import SqlBackups
from hesuan.adapters.db.checkpoint import WalCheckpointer
from hesuan.adapters.db.engine import make_engine
from hesuan.adapters.db.lease import SchedulerLease
from hesuan.adapters.db.migrate import upgrade
from hesuan.adapters.db.passes_store import last_live_pass
from hesuan.adapters.db.programme_store import SqlCompactor, stored_name
from hesuan.adapters.db.readiness import WriteProbe
from hesuan.adapters.db.replica import ReadOnlyUnitsOfWork, ReadSource, not_a_copy
from hesuan.adapters.db.store import SqlUnitOfWorkFactory
from hesuan.adapters.db.worklists import SqlWorklists
from hesuan.adapters.elr import to_fhir_bundle, to_hl7_oru
from hesuan.adapters.elr.transports import FolderTransport, MllpTransport, tls_context
from hesuan.adapters.geo import ShapelyGeometry
from hesuan.adapters.instruments import InstrumentFileReader
from hesuan.adapters.interop import LabMessages
from hesuan.adapters.kannel import KannelSender
from hesuan.adapters.passes.keys import PassKeysMissing, PassKeyStore
from hesuan.adapters.programme_files import DataKeyFile, FolderFiles, RootKeySigner
from hesuan.adapters.qr import SegnoQr
from hesuan.adapters.senders import ConsoleSender, JsonlFileSender
from hesuan.config import Settings
from hesuan.domain.audit import ChainKey, CheckpointKey
from hesuan.domain.errors import InvalidInput, RuleViolation
from hesuan.domain.instants import iso_utc
from hesuan.services.analytics import AnalyticsService
from hesuan.services.assays import AssayService
from hesuan.services.audit import AuditService
from hesuan.services.auth import AuthService
from hesuan.services.backups import BackupService
from hesuan.services.context import Deps, Limits
from hesuan.services.corrections import CorrectionService
from hesuan.services.delivery import DeliveryService
from hesuan.services.door_teams import DoorTeamService
from hesuan.services.elr import ElrPolicy, ElrService, ElrWriters
from hesuan.services.elr_ports import Application, Disclosure, ElrRoute, Organization
from hesuan.services.elr_queue_ports import ElrFormat, ElrTransport
from hesuan.services.fence import FenceService
from hesuan.services.housekeeping import Housekeeping
from hesuan.services.keys import DataKeyService
from hesuan.services.lab import LabService
from hesuan.services.lab_messages import LabMessageService
from hesuan.services.lab_report import LabReportService
from hesuan.services.lanes import LaneService
from hesuan.services.notify import AlertService, OutboxService, RateLimit
from hesuan.services.passes import PassService
from hesuan.services.people import PeopleService
from hesuan.services.places import PlacesService
from hesuan.services.plates import PlateService
from hesuan.services.ports import Clock, Sender
from hesuan.services.programme import ProgrammeService
from hesuan.services.rejections import RejectionService
from hesuan.services.reports import ReportService
from hesuan.services.retention import RetentionService
from hesuan.services.rosters import RosterService
from hesuan.services.runs import RunService
from hesuan.services.sampling import SamplingService
from hesuan.services.status import StatusService
from hesuan.services.teams import TeamService
from hesuan.services.venues import VenueService
from hesuan.services.worklists import WorklistService
from hesuan.services.zones import ZoneService

__all__ = ["Platform", "backups", "bootstrap", "data_keys", "new_id"]

_log = logging.getLogger("hesuan.keys")


def new_id() -> str:
    """A new id, 32 hex digits (uuid4().hex's form): the wall clock in ms (48 bits), then 80
    random bits — as UUIDv7 and ULID do. Ids made close in time sort together, so the rows a
    moment's work inserts share index pages: the 16 tubes that 16 windows fill at once put
    their samples on one or two pages of the samples' key, not on sixteen (each page a
    transaction dirties is written to the WAL at commit, and again by the checkpoint). The time
    is only for that locality; nothing reads it back. ``os.urandom``, not ``uuid4``: a fifth of
    its cost, which showed in a results file's 126,000 result-log rows."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


@dataclass(frozen=True, slots=True)
class Platform:
    """Every service, wired. The only thing entry points hold."""

    settings: Settings
    engine: Engine
    deps: Deps
    auth: AuthService
    audit: AuditService
    people: PeopleService
    places: PlacesService
    sampling: SamplingService
    delivery: DeliveryService
    lab: LabService
    assays: AssayService
    plates: PlateService
    runs: RunService  # a plate's instrument file imported, then released
    corrections: CorrectionService  # released results corrected or cancelled, by two people
    rejections: RejectionService  # specimens a lab cannot test
    lab_messages: LabMessageService  # results from a lab's own system (HL7 v2, FHIR); inbox
    lab_reports: LabReportService  # per lab: its work, rates and integrity list
    outbox: OutboxService
    alerts: AlertService
    reports: ReportService
    passes: PassService
    status: StatusService
    venues: VenueService
    worklists: WorklistService
    analytics: AnalyticsService
    zones: ZoneService
    rosters: RosterService
    fence: FenceService
    lanes: LaneService
    teams: TeamService  # teams, staff and their shifts
    door_teams: DoorTeamService  # door-to-door teams' assignments, routes and visits
    retention: RetentionService  # history that expires (docs/RETENTION.md)
    housekeeping: Housekeeping  # the scheduler's tick: sweep, alerts, outbox, retention, …
    programme: ProgrammeService  # the end of the programme, by two health officers
    readiness: WriteProbe  # GET /ready: whether the store can write now
    reads: ReadSource  # where reports and dashboards read: the primary or a replica
    scheduler_lease: SchedulerLease  # which server process on this database runs the scheduler
    elr: ElrService | None = None  # electronic lab reports out, when enabled
    _background: list[WalCheckpointer] = field(default_factory=list)

    def close(self) -> None:
        for worker in self._background:
            worker.stop()
        self._background.clear()
        self.scheduler_lease.release()
        self.reads.close()
        self.engine.dispose()

    def start_checkpoints(self) -> WalCheckpointer | None:
        """For a long-running process on an SQLite file (``serve``, ``simulate``): WAL
        checkpoints on a background thread from now on, so that writers no longer pay for
        them inside their transactions (``adapters/db/checkpoint.py``), until ``close()``.
        None on PostgreSQL, in memory, or with ``sqlite_checkpoint_every`` 0. Not while a
        city is bulk-loaded into the same file: the loader leaves WAL mode, which needs the
        file to itself."""
        url = self.engine.url
        every = self.settings.sqlite_checkpoint_every
        if url.get_backend_name() != "sqlite" or not url.database \
                or url.database == ":memory:" or every <= 0:
            return None
        checkpointer = WalCheckpointer(url.database, every)
        checkpointer.start()
        self._background.append(checkpointer)
        return checkpointer


def _sender(settings: Settings) -> Sender:
    if settings.sms_sender == "kannel":
        password = settings.kannel_password
        return KannelSender(settings.kannel_url, settings.kannel_username,
                            password.get_secret_value() if password else "",
                            sender_id=settings.kannel_from, timeout=settings.kannel_timeout)
    if settings.sms_sender == "file":
        return JsonlFileSender(settings.sms_file)
    return ConsoleSender()


def _elr_policy(settings: Settings) -> ElrPolicy | None:
    if not settings.elr_enabled:
        return None
    formats = {"hl7": (ElrFormat.HL7,), "fhir": (ElrFormat.FHIR,),
               "both": (ElrFormat.HL7, ElrFormat.FHIR)}[settings.elr_formats]
    return ElrPolicy(formats, positives_only=settings.elr_results == "positive")


def _elr(settings: Settings, deps: Deps) -> ElrService | None:
    """Electronic lab reports out (docs/INTEROP.md "Out"), from the ``HESUAN_ELR_*`` settings
    (checked by ``config.Settings``)."""
    if not settings.elr_enabled:
        return None
    s = settings
    route = ElrRoute(
        Application(s.elr_sending_application, s.elr_sending_application_oid),
        Organization(s.elr_sending_facility or "", s.elr_sending_facility_oid or "",
                     short_name=s.elr_sending_facility_short),
        Application(s.elr_receiving_application or "", s.elr_receiving_application_oid),
        Organization(s.elr_receiving_facility or "", s.elr_receiving_facility_oid or "",
                     short_name=s.elr_receiving_facility_short),
        disclosure=Disclosure(s.elr_disclosure), processing=s.elr_processing)
    tls = (tls_context(s.elr_mllp_tls_ca, s.elr_mllp_tls_cert, s.elr_mllp_tls_key)
           if s.elr_delivery == "mllp" and s.elr_mllp_tls else None)
    transport: ElrTransport = (
        MllpTransport(s.elr_mllp_host or "", s.elr_mllp_port or 0, s.elr_mllp_timeout, tls)
        if s.elr_delivery == "mllp" else FolderTransport(s.elr_folder))
    writers: ElrWriters = {ElrFormat.HL7: to_hl7_oru, ElrFormat.FHIR: to_fhir_bundle}
    return ElrService(deps, route, writers, transport, timedelta(seconds=s.elr_claim_timeout_s))


def _read_source(settings: Settings, uow: SqlUnitOfWorkFactory, engine: Engine,
                 chain: ChainKey) -> ReadSource:
    """The replica when ``database_replica_url`` is set (read-only units of work only), else
    the primary. A start refuses a replica that is not a copy of the primary (another
    cluster), naming the setting to mend (``InvalidInput``, code ``invalid_setting``)."""
    if settings.database_replica_url is None:
        return ReadSource("primary", uow, engine)
    replica = make_engine(settings.model_copy(
        update={"database_url": settings.database_replica_url}))
    if (why := not_a_copy(engine, replica)) is not None:
        replica.dispose()
        raise _bad_setting("HESUAN_DATABASE_REPLICA_URL", why)
    return ReadSource("replica", ReadOnlyUnitsOfWork(SqlUnitOfWorkFactory(replica, chain=chain)),
                      replica)


def _key_ring(settings: Settings, engine: Engine) -> KeyRing:
    """The keys: the audit chain's from the master secret, the personal data's from the data
    key file, made while the database holds no people (a new one would read no one's name).
    A database whose people were stored before data key files is read with the legacy keys of
    the master secret (in production only when ``data_key_legacy`` says so). Whichever keys,
    they are checked against the database: the master secret against the audit log's last
    entries (a key file is made only for a database whose log is empty), the personal data's
    keys against one stored name. A start never goes on with keys that do not read the
    database or would sign entries that no longer verify: it refuses with the setting to
    mend (``InvalidInput``, code ``invalid_setting``)."""
    master = _checked_master(settings, engine)
    path = settings.data_key_path
    stored = stored_name(engine)
    data = load_data_key(path, create=stored is None)
    if data is not None:
        keys = KeyRing(master, data)
        if stored is not None and not keys.reads(stored):
            raise _bad_setting("HESUAN_DATA_KEY_FILE",
                               f"the data key file {path} (HESUAN_DATA_KEY_FILE) does not read "
                               f"the people in the database: restore theirs from its backup")
        return keys
    assert stored is not None  # with no people the data key file was made
    if new_data_key_path(path).exists():
        raise RuleViolation(f"the personal data is being moved to a new data key "
                            f"({new_data_key_path(path)}) and is not all there yet: run "
                            f"`hesuan keys rekey-data` again to finish", code="data_key_moving")
    legacy = KeyRing(master)
    if not legacy.reads(stored):
        raise _bad_setting("HESUAN_DATA_KEY_FILE",
                           f"the data key file {path} (HESUAN_DATA_KEY_FILE) is missing and the "
                           f"database holds people encrypted under it: restore it from its "
                           f"backup")
    if settings.environment == "production" and not settings.data_key_legacy:
        raise _bad_setting("HESUAN_DATA_KEY_LEGACY",
                           f"no data key file {path} (HESUAN_DATA_KEY_FILE), and the database "
                           f"holds people stored before data key files, under the keys of "
                           f"HESUAN_SECRET_KEY: set HESUAN_DATA_KEY_LEGACY=true to read them "
                           f"(the end of the programme cannot destroy those keys)")
    _log.warning("no data key file %s: the people in the database were stored before data key "
                 "files, under the legacy keys derived from the master secret (HESUAN_SECRET_KEY, "
                 "or HESUAN_KEY_FILE in development), which the end of the programme cannot "
                 "destroy (docs/RETENTION.md)", path)
    return legacy


def _checked_master(settings: Settings, engine: Engine) -> bytes:
    """The master secret, checked against the audit log of ``engine``'s database; the
    development key file is made only for a database whose log is empty."""
    # the log is read only when a key file would be made (a first start has none)
    at_hand = settings.secret_key is not None or settings.key_file.exists()
    master = _master(settings, create=at_hand or not has_audit_log(engine))
    check_chain_key(engine, ChainKey(KeyRing(master).audit_chain_key),
                    settings.master_secret_setting)
    return master


def _bad_setting(setting: str, message: str) -> InvalidInput:
    """A start refused for a setting that does not fit the database or its files."""
    return InvalidInput(message, code="invalid_setting", field=setting)


def _master(settings: Settings, *, create: bool) -> bytes:
    """The master secret; ``create``: the development key file may be made when missing."""
    if settings.secret_key is None and not settings.key_file.exists() and not create:
        raise _bad_setting("HESUAN_KEY_FILE",
                           f"the key file {settings.key_file} is missing and the database's "
                           f"audit log is signed under a master secret: point HESUAN_KEY_FILE "
                           f"at the database's key file, or restore it from its backup")
    return load_master_secret(
        settings.secret_key.get_secret_value() if settings.secret_key else None,
        settings.key_file, create=settings.environment != "production")


def _pass_keys(settings: Settings, engine: Engine, now: datetime) -> PassKeyStore:
    """The pass keys, checked against the passes the database holds. A production start needs
    them whole (``hesuan passes init-keys``), rather than answer 500 on every pass route; any
    start needs the signing key of the live pass that expires last, which venues go on
    checking: a development start makes new keys only when there is no live pass, and keys of
    another directory are refused."""
    live = last_live_pass(engine, now)
    production = settings.environment == "production"
    store = PassKeyStore(settings.pass_key_dir, settings.issuer,
                         create=not production and live is None, alg=settings.pass_alg)
    if store.destroyed:  # the programme's close destroyed them: its uses are refused
        return store
    held: frozenset[str] = frozenset()
    if production or live is not None:
        try:
            store.check(now)
            held = store.key_ids(now)
        except PassKeysMissing as exc:
            if live is None:
                raise _bad_setting("HESUAN_PASS_KEY_DIR", str(exc)) from exc
    if live is not None and live[0] not in held:
        raise _bad_setting("HESUAN_PASS_KEY_DIR",
                           f"the pass keys in {settings.pass_key_dir} lack the signing key of "
                           f"unexpired passes (key {live[0]}; the last of them expires at "
                           f"{iso_utc(live[1])}): restore the directory from its backup, or "
                           f"start after that time")
    return store


def backups(settings: Settings, *, clock: Clock | None = None) -> BackupService:
    """The backups alone, without a platform: a copy is taken of a database at any schema,
    and a restore goes into a new database while the one the settings name may be gone. It
    connects only when a use case needs it; the audit chain's key is the platform's."""
    chain = ChainKey(KeyRing(_master(settings, create=False)).audit_chain_key)
    return BackupService(clock or SystemClock(), SqlBackups(settings, chain))


@contextmanager
def data_keys(settings: Settings, *, clock: Clock | None = None) -> Iterator[DataKeyService]:
    """The data key's use cases alone, without a platform, which does not start while the
    personal data is half moved to a new data key; the database closed at the end."""
    engine = make_engine(settings)
    try:
        master = _checked_master(settings, engine)
        uow = SqlUnitOfWorkFactory(engine, settings.sqlite_synchronous,
                                   chain=ChainKey(KeyRing(master).audit_chain_key))
        yield DataKeyService(clock or SystemClock(), uow,
                             DataKeyMoveFiles(master, settings.data_key_path))
    finally:
        engine.dispose()


def bootstrap(settings: Settings, *, clock: Clock | None = None, sender: Sender | None = None,
              migrate: bool = True, fast_passwords: bool = False) -> Platform:
    engine = make_engine(settings)
    if migrate:
        upgrade(engine)
    keys = _key_ring(settings, engine)
    pass_keys = _pass_keys(settings, engine, (clock or SystemClock()).now())
    chain = ChainKey(keys.audit_chain_key)
    uow = SqlUnitOfWorkFactory(engine, settings.sqlite_synchronous, chain=chain)
    several_writers = engine.dialect.name == "postgresql"
    deps = Deps(
        uow=uow,
        clock=clock or SystemClock(),
        vault=keys,
        codes=HmacCodeSigner(keys.code_key),
        passwords=Argon2Passwords(fast=fast_passwords or settings.environment == "test"),
        qr=SegnoQr(),
        new_id=new_id,
        limits=Limits(transport=settings.transport_limit, lab=settings.lab_limit,
                      recall_due=settings.recall_due, token_ttl=settings.token_ttl,
                      batch_max=settings.batch_max,
                      offline_window=settings.station_offline_window,
                      result_chunks_at_once=(settings.result_chunks_at_once
                                             if several_writers else 1),
                      station_groups_at_once=(settings.station_groups_at_once
                                              if several_writers else 1)),
        inline_writes=uow.inline,
    )
    if sender is None:
        sender = _sender(settings)
    reads = _read_source(settings, uow, engine, chain)
    # the services whose reads may lag a few seconds read where ``reads`` says
    stale_ok = replace(deps, uow=reads.uow)
    status = StatusService(deps)
    passes = PassService(deps, pass_keys, status, settings.pass_revocation_refresh)
    sampling = SamplingService(deps, status)
    analytics = AnalyticsService(deps, SqlAnalytics(reads.engine))
    zones = ZoneService(deps, status, ShapelyGeometry())
    fence = FenceService(deps, zones, passes)
    # the services that fan a results file out: scratch in memory (``for_bulk``)
    bulk = replace(deps, uow=uow.for_bulk())
    lab = LabService(bulk, status, _elr_policy(settings))
    assays = AssayService(deps)
    rejections = RejectionService(deps, status)
    audit = AuditService(deps, chain, FileCheckpoints(
        settings.audit_checkpoint_dir, CheckpointKey(keys.audit_checkpoint_key)))
    outbox = OutboxService(deps, sender, RateLimit(settings.sms_rate_per_s),
                           timedelta(seconds=settings.sms_claim_timeout_s))
    alerts = AlertService(deps)
    rosters = RosterService(deps, analytics, reads=reads.uow)
    retention = RetentionService(deps, settings.retention())
    elr = _elr(settings, deps)
    return Platform(
        settings=settings, engine=engine, deps=deps, auth=AuthService(deps), audit=audit,
        people=PeopleService(deps), places=PlacesService(deps),
        sampling=sampling, delivery=DeliveryService(deps, rejections),
        lab=lab, assays=assays, plates=PlateService(deps, assays),
        runs=RunService(bulk, lab, assays, InstrumentFileReader()),
        corrections=CorrectionService(deps, lab, status), rejections=rejections,
        lab_messages=LabMessageService(bulk, lab, rejections, LabMessages(),
                                       settings.lab_processing),
        lab_reports=LabReportService(deps),
        outbox=outbox, alerts=alerts, reports=ReportService(stale_ok), passes=passes,
        status=status,
        venues=VenueService(deps, passes, fence),
        worklists=WorklistService(deps, SqlWorklists(engine)),
        analytics=analytics, zones=zones,
        rosters=rosters, fence=fence,
        lanes=LaneService(deps, sampling), teams=TeamService(deps),
        door_teams=DoorTeamService(deps, sampling),
        retention=retention,
        housekeeping=Housekeeping(deps.clock, status, alerts, outbox, zones, rosters,
                                  retention, audit, elr),
        programme=ProgrammeService(deps, audit, RootKeySigner(pass_keys, deps.clock),
                                   FolderFiles(settings.programme_dir), SqlCompactor(engine),
                                   DataKeyFile(settings.data_key_path, legacy=keys.legacy)),
        readiness=WriteProbe(uow), reads=reads, scheduler_lease=SchedulerLease(engine),
        elr=elr,
    )
