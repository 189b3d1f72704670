"""The re-scorer on stub Kafka clients, with the worker's real ``PrimaryLevel`` over a model
whose score is a function of the amount (``sigmoid((amount - 100) / 10)``: 1000 blocks, 100
reviews, 10 allows) and a feature store that fails on demand."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import redis
from onnx import helper, numpy_helper

from tests.factories import BASE_EVENT
from tests.kafka.stubs import PausableConsumer, StubProducer
from tests.ladder.fakes import FakeStore, SentWrites
from tests.onnx_models import models_dir_with_primary
from worker.breaker import BreakerConfig, CircuitBreaker
from worker.codec import (
    EventDecoder,
    LocalSchemaRegistry,
    RecordEncoder,
    default_schemas_dir,
    load_schema,
)
from worker.features.event import EVENT_FEATURES
from worker.features.stateful import STATEFUL_FEATURES
from worker.ladder.core import Ladder
from worker.ladder.decision import DecisionPolicy
from worker.ladder.default import SafeDefaultLevel
from worker.ladder.level import Level
from worker.ladder.primary import PrimaryLevel
from worker.models.faulty import graph_model
from worker.models.manifest import load_manifest
from worker.models.primary import INPUT_NAME, OUTPUT_NAME, PrimaryModel
from worker.rescore import RescoreMetrics, RescoreWorker
from worker.rescore.items import Outcome
from worker.runtime import Runtime
from worker.settings import Settings

REGISTRY = LocalSchemaRegistry(default_schemas_dir())
DEGRADED = RecordEncoder(REGISTRY, "transactions.degraded-value")
REVIEW_V2 = EventDecoder(REGISTRY, load_schema(default_schemas_dir() / "review_item.v2.avsc"))
DEAD_LETTERS = EventDecoder(REGISTRY, load_schema(default_schemas_dir() / "dead_letter.v1.avsc"))
N_FEATURES = len(EVENT_FEATURES) + len(STATEFUL_FEATURES)
BLOCK_AMOUNT, REVIEW_AMOUNT, ALLOW_AMOUNT = 1000.0, 100.0, 10.0


def amount_model() -> bytes:
    """sigmoid((amount - 100) / 10): the amount is feature 0."""
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "column"),
        numpy_helper.from_array(np.array([100.0], np.float32), "centre"),
        numpy_helper.from_array(np.array([0.1], np.float32), "scale"),
    ]
    nodes: list[onnx.NodeProto] = [
        helper.make_node("Gather", [INPUT_NAME, "column"], ["amount"], axis=1),
        helper.make_node("Sub", ["amount", "centre"], ["centred"]),
        helper.make_node("Mul", ["centred", "scale"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], [OUTPUT_NAME]),
    ]
    return graph_model(nodes, inits, N_FEATURES)


def degraded_item(
    n: int,
    amount: float,
    scored_at_ms: int | None = None,
    decision: str = "allow",
    source: str = "fallback",
) -> bytes:
    """A framed ReviewItem v2 of the degraded topic for transaction ``tx<n>`` (card ``c_<n>``)."""
    event = {**BASE_EVENT, "transaction_id": f"tx{n}", "card_id": f"c_{n}", "amount": amount}
    result = {
        "transaction_id": event["transaction_id"],
        "card_id": event["card_id"],
        "event_time_ms": event["event_time_ms"],
        "score": 0.2,
        "decision": decision,
        "source": source,
        "model_version": "fw-old",
        "confidence": 0.75,
        "reasons": [],
        "degraded": True,
        "failed_dependencies": ["feature_store:unavailable"],
        "input_flags": [],
        "scoring_latency_ms": 1.0,
        "scored_at_ms": int(time.time() * 1000) if scored_at_ms is None else scored_at_ms,
    }
    item = {
        "result": result,
        "event": event,
        "review_reasons": ["degraded:feature_store:unavailable"],
        "priority": 0.2 * amount,
        "supersedes": None,
    }
    return DEGRADED.encode(item)


@pytest.fixture(scope="session")
def amount_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models_dir_with_primary(tmp_path_factory.mktemp("models") / "m", amount_model())


@dataclass
class Setup:
    consumer: PausableConsumer
    producer: StubProducer
    store: FakeStore
    writes: SentWrites
    primary: PrimaryLevel
    metrics: RescoreMetrics = field(default_factory=RescoreMetrics)

    def on(self, topic: str) -> list[Any]:
        return [record for record in self.producer.delivered if record.topic == topic]

    def reviews(self) -> list[dict[str, Any]]:
        return [REVIEW_V2.decode(record.value) for record in self.on("review")]

    def outcomes(self) -> dict[str, float | None]:
        get = self.metrics.registry.get_sample_value
        return {o.value: get("fraud_rescore_items_total", {"outcome": o.value}) for o in Outcome}

    def sample(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)


def stub_settings(**rescore: Any) -> Settings:
    data: dict[str, Any] = {
        "topics": {"degraded": "degraded", "review": "review", "dead_letter": "dlq"},
        "worker": {"metrics_port": 0, "flush_timeout_ms": 1000},
        "rescore": {"batch_wait_ms": 0, "retry_wait_s": 0.05, **rescore},
    }
    return Settings.model_validate(data)


def stub_runtime(primary: PrimaryLevel) -> Runtime:
    levels: list[Level] = [primary, SafeDefaultLevel()]
    ladder = Ladder(levels, None, DecisionPolicy(0.5, 0.9), "fw-test")
    client = redis.Redis(host="127.0.0.1", port=1)  # never used: the store is a fake
    breakers = {"feature_store": primary.store_breaker, "primary": primary.breaker}
    return Runtime(ladder, client, breakers, "cpu", [], primary)


@pytest.fixture
def setup(amount_models: Path) -> Iterator[Setup]:
    store, writes = FakeStore(), SentWrites()
    # Opens after 3 failures, tries again 50 ms later: a test sees both states quickly.
    config = BreakerConfig(window_size=4, minimum_calls=3, open_wait_s=0.05, max_open_wait_s=0.1)
    primary = PrimaryLevel(
        PrimaryModel.load(amount_models, load_manifest(amount_models), prefer_gpu=False),
        store,  # type: ignore[arg-type]
        CircuitBreaker("feature_store", config),
        CircuitBreaker("primary", config),
        1.0,
        writes,
    )
    yield Setup(PausableConsumer(topic="degraded"), StubProducer(), store, writes, primary)
    primary.close()


WorkerFactory = Callable[..., RescoreWorker]


@pytest.fixture
def make_worker(setup: Setup) -> WorkerFactory:
    def factory(clock: Callable[[], float] = time.time, **rescore: Any) -> RescoreWorker:
        worker = RescoreWorker(
            stub_settings(**rescore),
            stub_runtime(setup.primary),
            setup.metrics,
            setup.consumer,  # type: ignore[arg-type]
            setup.producer,  # type: ignore[arg-type]
            clock=clock,
        )
        # run() returns once the queue is served and no batch waits for the primary.
        setup.consumer.on_empty = lambda: None if worker.waiting else worker.stop()
        return worker

    return factory
