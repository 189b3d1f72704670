"""The queue's database: an engine for a URL, and its schema brought up to date by Alembic.

SQLite (the default) is embedded: a file, WAL journal so the web pages read while the consumer
writes, a busy timeout so two writers wait rather than fail. PostgreSQL is used as it is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def connect(url: str) -> Engine:
    """An engine for ``url`` (its SQLite file's folder created), connecting lazily."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True
    )


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        # Password hashes and card ids: the folder is ours alone.
        Path(database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        hide_parameters=True,  # an error's message must not carry card ids or event content
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there). Alembic's own
    lines are quieted; one line says when the schema changed."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    behind = pending_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    if behind is not None:
        log.info("the queue's database schema is now at revision %s", behind)


def pending_revision(engine: Engine) -> str | None:
    """The newest revision when the database is behind it (for readiness), else None."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return None if current == head else head
