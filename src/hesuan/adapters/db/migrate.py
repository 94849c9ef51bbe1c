"""Running the Alembic migrations from code (``hesuan db upgrade`` and at start-up), and the
check a command that does not migrate makes first: the database exists and its schema is the
one this code needs.

Imports: Alembic, SQLAlchemy, ``hesuan.domain``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from hesuan.adapters.db.engine import check_sqlite_file, reading
from hesuan.domain.errors import StoreUnavailable

__all__ = ["alembic_config", "head", "require_current", "upgrade"]

_HERE = Path(__file__).parent
#: Seconds after which to try again: someone has to run the upgrade first.
_RETRY_UPGRADE_S = 60


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url",
                            engine.url.render_as_string(hide_password=False).replace("%", "%%"))
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def head() -> str | None:
    """The newest schema revision this code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _behind(message: str) -> StoreUnavailable:
    return StoreUnavailable(f"{message}: run `hesuan db upgrade` first", code="schema_behind",
                            retry_after=_RETRY_UPGRADE_S)


def require_current(database_url: str) -> None:
    """Raise ``StoreUnavailable`` (``schema_behind``) unless the database exists and its
    schema is at :func:`head`. Reads the revision only: it creates no SQLite file, sets no
    pragma and migrates nothing."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        if not Path(url.database).exists():
            raise _behind(f"there is no database at {url.database} yet")
        check_sqlite_file(Path(url.database))
    engine = create_engine(url)
    try:
        with reading(engine) as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    wanted = head()
    if current is None:
        raise _behind("the database holds no Hesuan schema yet")
    if current != wanted:
        raise _behind(f"the database's schema is at revision {current}, this Hesuan needs "
                      f"{wanted}")
