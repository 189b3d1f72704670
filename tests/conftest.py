"""Shared fixtures. Integration tests use the real Kafka broker, Redis and PostgreSQL of the
local stack, started once per session (``make test`` has already started it; ``up`` reuses
it). When they cannot be started the tests fail: they are never skipped.

The triage queue's databases: each test gets one of its own, on SQLite and on PostgreSQL.
PostgreSQL is the local stack's server (or the one FRAUD_TRIAGE__DATABASE_URL names); each
test creates a fresh database there and drops it afterwards, so tests never share rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from confluent_kafka.admin import AdminClient
from sqlalchemy.engine import make_url

from tests.packaging.build import BACKGROUND
from worker.kafka.config import client_config
from worker.kafka.topics import delete_topics, ensure_topics
from worker.settings import Settings, load_settings
from worker.stack import Stack
from worker.stack.postgres import external_postgres_url, libpq_url, postgres_url
from worker.stack.tools import ensure_helm


def pytest_collection_finish(session: pytest.Session) -> None:
    """A session that will run the wheel tests starts building the wheel's venv now, in the
    background (``tests/packaging/build.py``: a minute of pip that other tests overlap)."""
    if any(item.nodeid.startswith("tests/packaging/test_wheel.py") for item in session.items):
        BACKGROUND.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    BACKGROUND.clean()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need helm run last: ``make test`` builds it in the background meanwhile
    (a test that comes to it earlier waits for that build, not for a second one)."""
    items.sort(key=lambda item: "helm" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def helm(settings: Settings) -> Path:
    """The pinned helm, built once into the stack's tools folder."""
    return ensure_helm(settings.stack.dir)


@pytest.fixture(scope="session")
def live_stack(settings: Settings) -> Settings:
    """Kafka, Redis and PostgreSQL are up and answering (started here if they were not)."""
    Stack(settings, with_postgres=True).up()
    return settings


@pytest.fixture(scope="session")
def admin(live_stack: Settings) -> AdminClient:
    return AdminClient(client_config(live_stack))


def topic_factory(admin: AdminClient) -> Iterator[Callable[[int], str]]:
    """A fresh topic per call on ``admin``'s broker, deleted after: tests never share one."""
    created: list[str] = []

    def factory(partitions: int = 1) -> str:
        name = f"test.{uuid.uuid4().hex[:10]}"
        ensure_topics(admin, {name: partitions})
        created.append(name)
        return name

    yield factory
    delete_topics(admin, created)


@pytest.fixture
def make_topic(admin: AdminClient) -> Iterator[Callable[[int], str]]:
    """A fresh topic per call on the local stack's broker."""
    yield from topic_factory(admin)


@pytest.fixture
def redis_client(live_stack: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(live_stack.redis_url)
    yield client
    client.close()


@pytest.fixture
def group_id() -> str:
    return f"test-group-{uuid.uuid4().hex[:10]}"


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
