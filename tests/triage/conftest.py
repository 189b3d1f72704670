"""The triage queue's databases: each test gets one of its own, on SQLite and on PostgreSQL.

PostgreSQL is the local stack's server (or the one FRAUD_TRIAGE__DATABASE_URL names); each
test creates a fresh database there and drops it afterwards, so tests never share rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from worker.settings import Settings
from worker.stack.postgres import external_postgres_url, libpq_url, postgres_url


def _server_url(settings: Settings, database: str) -> str:
    """``database`` on the PostgreSQL in use, as a SQLAlchemy URL."""
    external = external_postgres_url(settings)
    if external is None:
        return postgres_url(settings, database)
    return make_url(external).set(database=database).render_as_string(hide_password=False)


@pytest.fixture
def postgres_database_url(live_stack: Settings) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped (even while connected) after it."""
    name = f"test_{uuid.uuid4().hex}"
    admin_url = libpq_url(_server_url(live_stack, "postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _server_url(live_stack, name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The queue's database on each backend the app supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'triage.db'}"
    url: str = request.getfixturevalue("postgres_database_url")
    return url
