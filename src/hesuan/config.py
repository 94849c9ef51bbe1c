"""Validated settings, read from the environment (prefix ``HESUAN_``) and an optional ``.env``.

Nothing here is global: ``Settings()`` is built once at start by the entry point and handed to
``bootstrap``. Invalid settings fail at start with a message naming the variable.

Imports: pydantic / pydantic-settings, the standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    FilePath,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from hesuan.domain.errors import InvalidFields, InvalidInput
from hesuan.domain.interop import ProcessingId
from hesuan.domain.retention import Retention

__all__ = ["DATABASE_DRIVERS", "MIN_SECRET_BYTES", "Settings", "settings_from_environment"]

#: The shortest secret key a production server accepts (256 bits).
MIN_SECRET_BYTES = 32


_SECONDS = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_TIMEDELTA = TypeAdapter(timedelta)


def _duration(value: Any) -> Any:
    """A setting's duration: an ISO 8601 duration (``P60D``, ``PT3M``) or a number of seconds
    (``5184000``), as docs/RETENTION.md says."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if _SECONDS.fullmatch(text):
        return timedelta(seconds=float(text))
    try:
        return _TIMEDELTA.validate_python(text)
    except ValidationError:
        raise ValueError("must be an ISO 8601 duration such as P60D or PT3M, or a number of "
                         "seconds") from None


#: The drivers the platform runs on (SQLAlchemy's names): SQLite, PostgreSQL through psycopg 3.
DATABASE_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")
#: A URL of one of them; SQLite's names a file (in memory it would be one process's alone).
_DATABASE_URL = re.compile("|".join(
    rf"{re.escape(d)}:///(?!:memory:).+" if d.startswith("sqlite") else rf"{re.escape(d)}://.+"
    for d in DATABASE_DRIVERS))

#: A duration setting (``_duration``).
_Duration = Annotated[timedelta, BeforeValidator(_duration)]
#: A duration that must be more than nothing.
_SOME = timedelta(0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HESUAN_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    #: SQLAlchemy URL; ``sqlite:///path`` (embedded, WAL) or ``postgresql+psycopg://...``.
    database_url: str = "sqlite:///var/hesuan.db"
    #: A read-only PostgreSQL database (a streaming replica of ``database_url``) that serves
    #: the reads which may be a little stale: the dashboards' analytics, the turnaround and
    #: reconciliation reports, the rosters' coverage. Their answers say which database served
    #: them and how far behind it was (docs/DEPLOY.md). Unset: the primary serves them.
    database_replica_url: str | None = None
    #: SQLite ``synchronous``: NORMAL survives a killed process (the WAL is in the OS cache);
    #: FULL also survives power loss at the cost of an fsync per commit.
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    #: SQLite's page cache per connection, in MiB. A server holds up to 16 connections, so
    #: this bounds its memory; the operating system caches the file besides.
    sqlite_cache_mib: int = Field(default=32, ge=1, le=4096)
    #: SQLite WAL pages after which a committing writer checkpoints the WAL itself
    #: (``wal_autocheckpoint``; SQLite's default is 1,000). A safety net: long-running
    #: processes (``serve``, ``simulate``) checkpoint on a thread of their own instead.
    sqlite_checkpoint_pages: int = Field(default=10_000, ge=100, le=1_000_000)
    #: Seconds between those background checkpoints; 0 leaves it to the writers.
    sqlite_checkpoint_every: float = Field(default=0.5, ge=0, le=3600)
    #: FastAPI's OpenTelemetry spans, metrics and logs, sent to the providers the process has
    #: configured. Off by default: with no provider set up, each request would still pay for
    #: asking whether one was.
    telemetry: bool = False
    #: Master secret from which the audit chain's keys are derived (and the personal-data
    #: keys of a database from before data key files, ``data_key_legacy``). Required in
    #: production, at least ``MIN_SECRET_BYTES`` bytes (the key file does not stand in for it
    #: there); in development a random one is kept in ``key_file``.
    secret_key: SecretStr | None = None
    key_file: Path = Path("var/secret.key")
    #: The data key's file (32 random bytes, Base64, owner-only), outside the database: the
    #: data-encryption, lookup-hash and sampling-code keys derive from it, the audit chain's
    #: from the master secret. Made at the first start while the database holds no people;
    #: backed up apart from the database and destroyed at the end of the programme
    #: (docs/RETENTION.md). Unset: beside ``key_file``, named after it (``var/secret.key``:
    #: ``var/secret.data.key``), so each master secret's databases have their own.
    data_key_file: Path | None = None
    #: Production: start on a database whose people were stored before data key files, under
    #: the keys of the master secret, which are then not destroyable (development does so by
    #: itself, with a warning).
    data_key_legacy: bool = False
    issuer: str = "CN-14-0100"
    token_ttl: _Duration = Field(default=timedelta(hours=12), gt=_SOME)
    transport_limit: _Duration = Field(default=timedelta(hours=4), gt=_SOME)
    lab_limit: _Duration = Field(default=timedelta(hours=6), gt=_SOME)
    recall_due: _Duration = Field(default=timedelta(hours=12), gt=_SOME)
    #: Notification sender: ``console`` or ``file`` (JSON lines at ``sms_file``) for
    #: development; ``kannel`` (the SMS gateway's smsbox ``sendsms`` at ``kannel_url``).
    sms_sender: Literal["console", "file", "kannel"] = "file"
    sms_file: Path = Path("var/sms.jsonl")
    kannel_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    kannel_username: str = "hesuan"
    kannel_password: SecretStr | None = None
    #: Sender id shown on the phone (``from``); Kannel's ``global-sender`` when unset.
    kannel_from: str | None = None
    kannel_timeout: float = Field(default=10.0, gt=0, le=120)
    #: Directory of the status-pass keys (root, signing keys, trust list); made on first use
    #: outside production.
    pass_key_dir: Path = Path("var/keys")
    #: Algorithm of new pass-signing keys: ES256 (P-256, default: its checks cost less CPU
    #: than Ed25519's here) or Ed25519. Switch with a key rotation; both verify side by side.
    pass_alg: Literal["Ed25519", "ES256"] = "ES256"
    #: How stale the online verifier's copy of the revocation list may be.
    pass_revocation_refresh: _Duration = Field(default=timedelta(seconds=5), ge=_SOME)
    #: SMS sends a second at most (token bucket; the operator throttles faster senders).
    sms_rate_per_s: float = Field(default=50.0, gt=0, le=10_000)
    #: Seconds after which a message claimed for sending and never marked sent is in doubt
    #: (its process died mid-send), no longer in flight; longer than ``kannel_timeout``.
    sms_claim_timeout_s: float = Field(default=60.0, gt=0, le=86_400)
    #: Electronic lab reports out (docs/INTEROP.md "Out"): off unless enabled; which results
    #: (``positive`` only, or ``all``), in which forms (``hl7`` v2.5.1 ORU^R01, ``fhir`` R4
    #: Bundle, ``both``), delivered to a ``folder`` or over ``mllp`` to host:port.
    elr_enabled: bool = False
    elr_results: Literal["positive", "all"] = "positive"
    elr_formats: Literal["hl7", "fhir", "both"] = "both"
    elr_delivery: Literal["folder", "mllp"] = "folder"
    elr_folder: Path = Path("var/elr")
    elr_mllp_host: str | None = None
    elr_mllp_port: int | None = Field(default=None, ge=1, le=65535)
    #: Seconds a report sent over MLLP waits for its ACK (connect included).
    elr_mllp_timeout: float = Field(default=10.0, gt=0, le=120)
    #: MLLP inside TLS: the receiver's certificate checked for ``elr_mllp_host``'s name against
    #: ``elr_mllp_tls_ca`` (the system's CAs without it); off only on a network of the city's
    #: own, the reports name people.
    elr_mllp_tls: bool = True
    elr_mllp_tls_ca: FilePath | None = None
    #: The city's client certificate and its key (PEM), when the receiver asks for one.
    elr_mllp_tls_cert: FilePath | None = None
    elr_mllp_tls_key: FilePath | None = None
    #: Seconds after which a report claimed for delivery and never marked is in doubt; longer
    #: than ``elr_mllp_timeout``.
    elr_claim_timeout_s: float = Field(default=60.0, gt=0, le=86_400)
    #: What the receiving authority is entitled to know of a person.
    elr_disclosure: Literal["pseudonymous", "full"] = "pseudonymous"
    #: HL7's processing id: P production, T training, D debugging.
    elr_processing: ProcessingId = "P"
    #: The HL7 processing id of the labs' messages this platform applies (a training
    #: platform: T); a message that names another is refused (AR) and applies nothing.
    lab_processing: ProcessingId = "P"
    #: Sending and receiving application (name, OID) and facility (name, OID, and the short
    #: name of at most 20 characters an HL7 v2 namespace carries when the name is longer).
    elr_sending_application: str = "Hesuan"
    elr_sending_application_oid: str | None = None
    elr_sending_facility: str | None = None
    elr_sending_facility_oid: str | None = None
    elr_sending_facility_short: str | None = None
    elr_receiving_application: str | None = None
    elr_receiving_application_oid: str | None = None
    elr_receiving_facility: str | None = None
    elr_receiving_facility_oid: str | None = None
    elr_receiving_facility_short: str | None = None
    #: How long each kind of personal data is kept once it is no longer needed
    #: (docs/RETENTION.md): samples from their tube's result, station events from their receipt
    #: (at least the offline window), notifications from their delivery, passes from their
    #: expiry, venue checks and checkpoint scans from the scan (``venue_retention``).
    retention_samples: _Duration = Field(default=timedelta(days=30), ge=timedelta(0))
    retention_station_events: _Duration = Field(default=timedelta(days=30), ge=timedelta(0))
    retention_notifications: _Duration = Field(default=timedelta(days=7), ge=timedelta(0))
    retention_passes: _Duration = Field(default=timedelta(days=1), ge=timedelta(0))
    venue_retention: _Duration = Field(default=timedelta(days=14), ge=timedelta(0))
    retention_arrivals: _Duration = Field(default=timedelta(days=14), ge=timedelta(0))
    retention_lab_messages: _Duration = Field(default=timedelta(days=30), ge=timedelta(0))
    #: Where the end of the programme leaves the final aggregates and the destruction
    #: certificate (docs/RETENTION.md); owner-only.
    programme_dir: Path = Path("var/programme")
    #: Where signed checkpoints of the audit chain are written (by the scheduler inside
    #: ``serve`` every ``sweep_every`` and at shutdown, and by ``hesuan audit checkpoint``): a
    #: directory outside the database, owner-only. Copy its files off the machine.
    audit_checkpoint_dir: Path = Path("var/audit")
    #: How often the scheduler inside ``serve`` runs the sweep and the outbox.
    #: At least a second: each run writes to the audit log and a checkpoint file (the
    #: deployment test ticks every 2 s; a city every few minutes).
    sweep_every: _Duration = Field(default=timedelta(minutes=3), ge=timedelta(seconds=1))
    batch_max: int = Field(default=1000, ge=1, le=10000)
    #: PostgreSQL: how many 20,000-row chunks of one results file are applied at the same
    #: time, each in its own transaction on its own connection (docs/DEPLOY.md says how to
    #: size it). SQLite has one writer and applies one chunk at a time whatever this says.
    result_chunks_at_once: int = Field(default=2, ge=1, le=16)
    #: PostgreSQL: how many groups of single scans one server process writes at the same
    #: time, each on its own connection, once 64 scans wait (docs/API.md). SQLite has one
    #: writer and writes one group at a time whatever this says.
    station_groups_at_once: int = Field(default=3, ge=1, le=16)
    #: The longest a station may hold events offline: an event stamped earlier than this
    #: before the server's clock is rejected (``stale_time``).
    station_offline_window: _Duration = Field(default=timedelta(days=1), gt=timedelta(0),
                                              le=timedelta(days=30))
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: The MLLP listener (docs/INTEROP.md "MLLP"): a lab's system sends HL7 v2 results over
    #: TCP to host:port for the one lab ``mllp_lab``; off unless the port is set (``serve``
    #: starts it then; ``hesuan mllp`` runs it alone).
    mllp_host: str = "127.0.0.1"
    mllp_port: int | None = Field(default=None, ge=1, le=65535)
    mllp_lab: str | None = Field(default=None, min_length=1, max_length=40)
    #: The drop folder (docs/INTEROP.md "Files"): a lab's system writes results files into
    #: ``<folder>/<lab id>/``; the scheduler's pass receives them. Off when unset.
    lab_drop_folder: Path | None = None
    #: Server processes (``serve``). One suits SQLite's single writer; more spread read-heavy
    #: load (venues checking passes) over cores, each with its own caches.
    workers: int = Field(default=1, ge=1, le=64)
    #: Serve the API's documentation (``/docs``, ``/redoc``) and its schema (``/openapi.json``).
    #: Unset: on, except in production.
    api_docs: bool | None = None

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        # the URL is never quoted back: it may hold a password
        if not _DATABASE_URL.fullmatch(v):
            raise ValueError("HESUAN_DATABASE_URL must be sqlite:///PATH (a file: SQLite in "
                             "memory is one process's alone) or postgresql+psycopg://…")
        return v

    @field_validator("key_file", "data_key_file")
    @classmethod
    def _a_file(cls, v: Path | None) -> Path | None:
        if v is not None and v.is_dir():
            raise ValueError(f"must be a file, not the folder {v}")
        return v

    @model_validator(mode="after")
    def _replica_of_postgresql(self) -> Settings:
        if self.database_replica_url is not None and not (
                self.database_replica_url.startswith("postgresql")
                and self.database_url.startswith("postgresql")):
            raise ValueError("HESUAN_DATABASE_REPLICA_URL is a PostgreSQL replica of a "
                             "PostgreSQL HESUAN_DATABASE_URL (postgresql+psycopg://...)")
        return self

    @field_validator("audit_checkpoint_dir")
    @classmethod
    def _a_directory(cls, v: Path) -> Path:
        if v.exists() and not v.is_dir():
            raise ValueError("HESUAN_AUDIT_CHECKPOINT_DIR must be a directory, not a file")
        if not str(v).strip():
            raise ValueError("HESUAN_AUDIT_CHECKPOINT_DIR must not be empty")
        return v

    @model_validator(mode="after")
    def _data_key_apart(self) -> Settings:
        # the end of the programme destroys the data key file, never the master secret's
        if self.data_key_path.resolve() == self.key_file.resolve():
            raise ValueError(f"HESUAN_DATA_KEY_FILE must not be HESUAN_KEY_FILE "
                             f"({self.key_file})")
        return self

    @model_validator(mode="after")
    def _production_secret(self) -> Settings:
        if self.environment != "production":
            return self
        if self.secret_key is None or not self.secret_key.get_secret_value():
            raise ValueError(f"HESUAN_SECRET_KEY is required in production (the key file "
                             f"{self.key_file} is for development only)")
        if len(self.secret_key.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"HESUAN_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes in "
                             f"production (e.g. `python -c 'import secrets; "
                             f"print(secrets.token_urlsafe(48))'`)")
        return self

    @model_validator(mode="after")
    def _retention(self) -> Settings:
        try:  # the domain's rule: e.g. station events kept at least the offline window
            self.retention().check(self.station_offline_window)
        except InvalidInput as exc:
            name = "VENUE_RETENTION" if exc.field == "venue_scans" else f"RETENTION_{exc.field}"
            raise ValueError(f"HESUAN_{name.upper()}: {exc.message}") from None
        return self

    def retention(self) -> Retention:
        """The retention periods, one per kind of personal data."""
        return Retention(samples=self.retention_samples,
                         station_events=self.retention_station_events,
                         notifications=self.retention_notifications,
                         passes=self.retention_passes, venue_scans=self.venue_retention,
                         arrivals=self.retention_arrivals,
                         lab_messages=self.retention_lab_messages)

    @model_validator(mode="after")
    def _kannel_password(self) -> Settings:
        if self.sms_sender == "kannel" and self.kannel_password is None:
            raise ValueError("HESUAN_KANNEL_PASSWORD is required when HESUAN_SMS_SENDER=kannel")
        if self.sms_sender == "kannel" and self.sms_claim_timeout_s <= self.kannel_timeout:
            # a send still waiting on Kannel must never be taken for a crashed one
            raise ValueError("HESUAN_SMS_CLAIM_TIMEOUT_S must be longer than "
                             "HESUAN_KANNEL_TIMEOUT")
        return self

    @model_validator(mode="after")
    def _elr_route(self) -> Settings:
        if not self.elr_enabled:
            return self
        required = {"HESUAN_ELR_SENDING_APPLICATION_OID": self.elr_sending_application_oid,
                    "HESUAN_ELR_SENDING_FACILITY": self.elr_sending_facility,
                    "HESUAN_ELR_SENDING_FACILITY_OID": self.elr_sending_facility_oid,
                    "HESUAN_ELR_RECEIVING_APPLICATION": self.elr_receiving_application,
                    "HESUAN_ELR_RECEIVING_APPLICATION_OID": self.elr_receiving_application_oid,
                    "HESUAN_ELR_RECEIVING_FACILITY": self.elr_receiving_facility,
                    "HESUAN_ELR_RECEIVING_FACILITY_OID": self.elr_receiving_facility_oid}
        missing = [name for name, value in required.items() if not value]
        if missing:
            raise ValueError(f"HESUAN_ELR_ENABLED needs {', '.join(missing)}")
        if self.elr_delivery == "mllp" and (not self.elr_mllp_host or not self.elr_mllp_port):
            raise ValueError("HESUAN_ELR_DELIVERY=mllp needs HESUAN_ELR_MLLP_HOST and "
                             "HESUAN_ELR_MLLP_PORT")
        if (self.elr_mllp_tls_cert is None) != (self.elr_mllp_tls_key is None):
            raise ValueError("HESUAN_ELR_MLLP_TLS_CERT and HESUAN_ELR_MLLP_TLS_KEY go together")
        if self.elr_delivery == "mllp" and self.elr_formats != "hl7":
            raise ValueError("HESUAN_ELR_DELIVERY=mllp carries HL7 v2 only: set "
                             "HESUAN_ELR_FORMATS=hl7")
        if self.elr_delivery == "mllp" and self.elr_claim_timeout_s <= self.elr_mllp_timeout:
            # a report still waiting for its ACK must never be taken for a crashed delivery
            raise ValueError("HESUAN_ELR_CLAIM_TIMEOUT_S must be longer than "
                             "HESUAN_ELR_MLLP_TIMEOUT")
        return self

    @model_validator(mode="after")
    def _mllp_lab(self) -> Settings:
        if self.mllp_port is not None and not (self.mllp_lab or "").strip():
            raise ValueError("HESUAN_MLLP_PORT needs HESUAN_MLLP_LAB: the lab whose system "
                             "sends over MLLP")
        if not self.mllp_host.strip():
            raise ValueError("HESUAN_MLLP_HOST must not be empty")
        return self

    @property
    def docs_enabled(self) -> bool:
        return self.environment != "production" if self.api_docs is None else self.api_docs

    @property
    def master_secret_setting(self) -> str:
        """The setting the master secret comes from: the secret key, else (development) the
        key file."""
        return "HESUAN_SECRET_KEY" if self.secret_key is not None else "HESUAN_KEY_FILE"

    @property
    def data_key_path(self) -> Path:
        return self.data_key_file or self.key_file.with_suffix(".data.key")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def settings_from_environment() -> Settings:
    """The settings from the environment (``HESUAN_*``, ``.env``). Invalid ones raise
    ``InvalidFields``: one ``invalid_setting`` error per setting, each naming its variable, so
    every entry point (the CLI, a uvicorn worker) says what to fix in words, not a pydantic
    traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidFields([_invalid_setting(e["loc"], str(e["msg"]))
                             for e in exc.errors()]) from None


def _invalid_setting(loc: tuple[int | str, ...], msg: str) -> InvalidInput:
    # a field's own rule names the field; a rule across settings (a model validator) names
    # its variables in its message, which leads with the first of them
    message = msg.removeprefix("Value error, ")
    if loc:
        name = "HESUAN_" + "_".join(str(part) for part in loc).upper()
        return InvalidInput(message if message.startswith(name) else f"{name}: {message}",
                            code="invalid_setting", field=name)
    name = message.split(" ", 1)[0].rstrip(":,")
    return InvalidInput(message, code="invalid_setting",
                        field=name if name.startswith("HESUAN_") else None)
