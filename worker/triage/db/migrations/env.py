"""Alembic's entry point: migrations run on the engine handed over in the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from worker.triage.db.tables import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through worker.triage.db.migrate(engine)")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
    )
    context.run_migrations()
