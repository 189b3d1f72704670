"""A worker on stub clients: the rules and the safe default answer (no Redis, no models),
so a test is about the Kafka edge alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.factories import BASE_EVENT
from tests.kafka.stubs import StubConsumer, StubProducer
from worker.codec import LocalSchemaRegistry, RecordEncoder, default_schemas_dir
from worker.ladder.core import Ladder
from worker.ladder.decision import DecisionPolicy
from worker.ladder.default import SafeDefaultLevel
from worker.ladder.rules import RulesLevel
from worker.loop import Worker
from worker.metrics import WorkerMetrics
from worker.rules.engine import load_rules
from worker.runtime import Runtime
from worker.settings import Settings, packaged_path

ENCODER = RecordEncoder.for_schema_id(LocalSchemaRegistry(default_schemas_dir()), 2)


def event(n: int, **fields: Any) -> bytes:
    """A valid framed event, transaction id ``tx<n>``."""
    return ENCODER.encode({**BASE_EVENT, "transaction_id": f"tx{n}", **fields})


def stub_runtime() -> Runtime:
    ladder = Ladder(
        levels=[RulesLevel(), SafeDefaultLevel()],
        rules=load_rules(packaged_path("rules", "default.yaml")),
        policy=DecisionPolicy(0.5, 0.9),
        model_version="stub",
    )
    client = redis.Redis(host="127.0.0.1", port=1)  # never used: no level reads Redis
    return Runtime(ladder, client, {}, "none")


def stub_settings(**worker: Any) -> Settings:
    data: dict[str, Any] = {
        "topics": {
            "input": "in",
            "scored": "scored",
            "review": "review",
            "dead_letter": "dlq",
            "degraded": "degraded",
            "shadow": "shadow",
        },
        "worker": {"metrics_port": 0, "flush_timeout_ms": 1000, **worker},
    }
    return Settings.model_validate(data)


WorkerFactory = Callable[..., Worker]


@pytest.fixture
def consumer() -> StubConsumer:
    return StubConsumer()


@pytest.fixture
def producer() -> StubProducer:
    return StubProducer()


@pytest.fixture
def make_worker(consumer: StubConsumer, producer: StubProducer) -> WorkerFactory:
    def factory(**worker: Any) -> Worker:
        built = Worker(
            stub_settings(**worker),
            stub_runtime(),
            WorkerMetrics(),
            consumer,
            producer,  # type: ignore[arg-type]
        )
        consumer.on_empty = built.stop  # run() returns once the queue is served
        return built

    return factory
