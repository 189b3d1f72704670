"""Helpers for worker integration tests on the real broker and Redis: per-test topics, key
prefixes and groups; producing simulated events; reading the outputs back."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TypeVar

from confluent_kafka import Consumer, Producer

from worker.codec import (
    EventDecoder,
    LocalSchemaRegistry,
    RecordEncoder,
    default_schemas_dir,
    load_schema,
)
from worker.kafka.config import client_config, reader_config
from worker.loop import Worker
from worker.metrics import WorkerMetrics
from worker.runtime import build_runtime
from worker.settings import Settings
from worker.simulator import SimulationConfig, simulate

REGISTRY = LocalSchemaRegistry(default_schemas_dir())
READERS = {
    "scored": "scored_result.v1.avsc",
    "review": "review_item.v1.avsc",
    "item": "review_item.v2.avsc",  # review and degraded items, with priority
    "dead_letter": "dead_letter.v1.avsc",
    "label": "label.v1.avsc",
}


def worker_settings(base: Settings, make_topic: Callable[[int], str], **worker: Any) -> Settings:
    """Settings of a worker isolated from every other test: own topics, group, Redis keys."""
    tag = uuid.uuid4().hex[:8]
    data = base.model_dump()
    data["topics"] = {
        "input": make_topic(3),
        "scored": make_topic(3),
        "review": make_topic(1),
        "dead_letter": make_topic(1),
        "labels": make_topic(3),
        "shadow": make_topic(3),
        "degraded": make_topic(3),
        "input_partitions": 3,
        "output_partitions": 3,
    }
    data["redis"] = {**data["redis"], "key_prefix": f"test:{tag}:"}
    data["worker"] = {**data["worker"], "group_id": f"group-{tag}", "metrics_port": 0, **worker}
    data["labels"] = {**data["labels"], "group_id": f"labels-{tag}", "metrics_port": 0}
    data["rescore"] = {**data["rescore"], "group_id": f"rescore-{tag}", "metrics_port": 0}
    return Settings.model_validate(data)


def simulated_events(count: int, seed: int = 11) -> list[dict[str, Any]]:
    transactions = simulate(
        SimulationConfig(n_customers=300, n_terminals=600, n_days=10, seed=seed)
    )
    return transactions.event_dicts(0, count)


def produce(settings: Settings, values: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = Producer(client_config(settings))
    for key, value in values:
        producer.produce(settings.topics.input, value, key)
    assert producer.flush(30) == 0


def encoded(
    events: list[dict[str, Any]], schema_id: int = 2
) -> list[tuple[bytes | None, bytes | None]]:
    encoder = RecordEncoder.for_schema_id(REGISTRY, schema_id)
    return [(e["card_id"].encode(), encoder.encode(e)) for e in events]


def read_topic(
    settings: Settings,
    topic: str,
    kind: str,
    expected: int,
    timeout_s: float = 60,
    quiet_s: float = 1.0,
) -> list[tuple[dict[str, Any], Any]]:
    """(decoded record, message) pairs from the start of ``topic`` until ``expected`` arrived
    and nothing more came for a moment (so that extra records would be seen too)."""
    decoder = EventDecoder(REGISTRY, load_schema(default_schemas_dir() / READERS[kind]))
    consumer = Consumer(reader_config(settings, "reader"))
    consumer.subscribe([topic])
    out: list[tuple[dict[str, Any], Any]] = []
    deadline = time.monotonic() + timeout_s
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            batch = [m for m in consumer.consume(500, 0.3) if m.error() is None]
            out += [(decoder.decode(m.value()), m) for m in batch]
            if len(out) >= expected:
                quiet_until = quiet_until or time.monotonic() + quiet_s
                if time.monotonic() >= quiet_until:
                    break
    finally:
        consumer.close()
    return out


def wait_for(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    """Until ``condition()`` holds; the test fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:g} s"
        time.sleep(0.1)


class Runnable(Protocol):
    def run(self) -> int: ...

    def stop(self) -> None: ...


R = TypeVar("R", bound=Runnable)


@contextmanager
def running(member: R, name: str) -> Iterator[R]:
    """``member.run()`` in a background thread; stopped (commit, leave) on exit, and what it
    raised re-raised here."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            member.run()
        except BaseException as exc:  # surfaced in the test below
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"test-{name}", daemon=True)
    thread.start()
    try:
        yield member
    finally:
        member.stop()
        thread.join(60)
        assert not thread.is_alive(), f"the {name} did not stop"
        if errors:
            raise errors[0]


def running_worker(settings: Settings) -> AbstractContextManager[Worker]:
    """A worker consuming in a background thread."""
    return running(Worker(settings, build_runtime(settings), WorkerMetrics()), "worker")
