"""Validated settings, read from the environment (prefix ``HESUAN_``) and an optional ``.env``.

Nothing here is global: ``Settings()`` is built once at start by the entry point and handed to
``bootstrap``. Invalid settings fail at start with a message naming the variable.

Imports: pydantic / pydantic-settings and the standard library.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HESUAN_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    #: SQLAlchemy URL; ``sqlite:///path`` (embedded, WAL) or ``postgresql+psycopg://...``.
    database_url: str = "sqlite:///var/hesuan.db"
    #: SQLite ``synchronous``: NORMAL survives a killed process (the WAL is in the OS cache);
    #: FULL also survives power loss at the cost of an fsync per commit.
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    #: Master secret from which the data-encryption, lookup-hash and sampling-code keys are
    #: derived. Required in production; in development a random one is kept in ``key_file``.
    secret_key: SecretStr | None = None
    key_file: Path = Path("var/secret.key")
    issuer: str = "CN-14-0100"
    token_ttl: timedelta = timedelta(hours=12)
    transport_limit: timedelta = timedelta(hours=4)
    lab_limit: timedelta = timedelta(hours=6)
    recall_due: timedelta = timedelta(hours=12)
    #: Notification sender for development: ``console`` or ``file`` (JSON lines at ``sms_file``).
    sms_sender: Literal["console", "file"] = "file"
    sms_file: Path = Path("var/sms.jsonl")
    batch_max: int = Field(default=1000, ge=1, le=10000)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        if not (v.startswith("sqlite") or v.startswith("postgresql")):
            raise ValueError("HESUAN_DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL")
        return v

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
