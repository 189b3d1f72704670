"""Shared fixtures. Integration tests use the real Kafka broker, Redis and PostgreSQL of the
local stack, started once per session (``make test`` has already started it; ``up`` reuses
it). When they cannot be started the tests fail: they are never skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from confluent_kafka.admin import AdminClient

from worker.kafka.config import client_config
from worker.kafka.topics import delete_topics, ensure_topics
from worker.settings import Settings, load_settings
from worker.stack import Stack


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def live_stack(settings: Settings) -> Settings:
    """Kafka, Redis and PostgreSQL are up and answering (started here if they were not)."""
    Stack(settings, with_postgres=True).up()
    return settings


@pytest.fixture(scope="session")
def admin(live_stack: Settings) -> AdminClient:
    return AdminClient(client_config(live_stack))


@pytest.fixture
def make_topic(admin: AdminClient) -> Iterator[Callable[[int], str]]:
    """A fresh topic per call, deleted after the test: tests never share a topic."""
    created: list[str] = []

    def factory(partitions: int = 1) -> str:
        name = f"test.{uuid.uuid4().hex[:10]}"
        ensure_topics(admin, {name: partitions})
        created.append(name)
        return name

    yield factory
    delete_topics(admin, created)


@pytest.fixture
def redis_client(live_stack: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(live_stack.redis_url)
    yield client
    client.close()


@pytest.fixture
def group_id() -> str:
    return f"test-group-{uuid.uuid4().hex[:10]}"
