"""The labels consumer on the real broker and Redis: each fraud label counted once in its
terminal's windows, bad records dead-lettered, and a batch that waits (paused, uncommitted)
while Redis is down, then goes through."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from confluent_kafka import Producer

from tests.integration.harness import REGISTRY, read_topic, running, wait_for, worker_settings
from worker.codec import RecordEncoder
from worker.events import MS_PER_DAY
from worker.kafka.config import client_config
from worker.kafka.topics import committed_total
from worker.labels import LabelsConsumer, LabelsMetrics
from worker.runtime import feature_store, redis_client
from worker.settings import Settings
from worker.simulator import SimulationConfig, simulate
from worker.simulator.labels import ChargebackConfig, chargebacks, label_records
from worker.stack.redis import RedisNode


def running_labels(settings: Settings) -> AbstractContextManager[LabelsConsumer]:
    """A labels consumer in a background thread."""
    return running(LabelsConsumer(settings, LabelsMetrics()), "labels consumer")


def produce_labels(
    settings: Settings, labels: list[dict[str, Any]], raw: tuple[bytes, ...] = ()
) -> None:
    encoder = RecordEncoder(REGISTRY, settings.schemas.labels_subject)
    producer = Producer(client_config(settings))
    for label in labels:
        producer.produce(settings.topics.labels, encoder.encode(label), label["card_id"].encode())
    for value in raw:
        producer.produce(settings.topics.labels, value, b"garbage")
    assert producer.flush(30) == 0


def counter(consumer: LabelsConsumer, name: str) -> float:
    value = consumer.metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


def chargeback_labels(n: int, seed: int = 5) -> list[dict[str, Any]]:
    transactions = simulate(
        SimulationConfig(n_customers=200, n_terminals=400, n_days=20, seed=seed)
    )
    feed = chargebacks(transactions, seed, ChargebackConfig(delay_days=7, coverage=1.0))
    return label_records(transactions, feed, 0, n)


def frauds_on_day(settings: Settings, labels: list[dict[str, Any]]) -> dict[tuple[str, int], int]:
    """Per (terminal, day) of the labels: the frauds the store counts on that day (the 1-day
    window of an event 8 days later)."""
    store = feature_store(settings, redis_client(settings))
    found = {}
    for terminal, day in {(r["terminal_id"], r["event_time_ms"] // MS_PER_DAY) for r in labels}:
        windows = store.terminal_aggregates(np.array([terminal], dtype=object), day + 8)
        found[(terminal, day)] = int(windows[0, 0, 1])
    return found


def expected_frauds(labels: list[dict[str, Any]]) -> dict[tuple[str, int], int]:
    counts: dict[tuple[str, int], int] = {}
    for r in {r["transaction_id"]: r for r in labels if r["outcome"] == "fraud"}.values():
        key = (r["terminal_id"], r["event_time_ms"] // MS_PER_DAY)
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_each_fraud_label_counts_once_and_bad_records_are_dead_lettered(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    settings = worker_settings(live_stack, make_topic)
    labels = chargeback_labels(60)
    legitimate = {
        **labels[0],
        "transaction_id": "tx-legit",
        "outcome": "legitimate",
        "label_source": "analyst",
        "decided_by": "ana",
        "note": "customer confirmed",
    }
    empty_terminal = {**labels[1], "transaction_id": "tx-empty", "terminal_id": ""}
    analyst_again = {**labels[2], "label_source": "analyst", "decided_by": "bob"}
    with running_labels(settings) as consumer:
        produce_labels(settings, [*labels, legitimate, empty_terminal], raw=(b"not avro",))
        wait_for(lambda: counter(consumer, "fraud_labels_counted_total") == len(labels))
        # The same labels again (a redelivery) and a second label for one transaction.
        produce_labels(settings, [*labels[:30], analyst_again])
        wait_for(lambda: counter(consumer, "fraud_labels_repeated_total") == 31)
    assert counter(consumer, "fraud_labels_counted_total") == len(labels)
    assert frauds_on_day(settings, labels) == expected_frauds(labels)
    letters = read_topic(settings, settings.topics.dead_letter, "dead_letter", 2)
    assert sorted(r["error_code"] for r, _ in letters) == ["invalid_label", "wrong_magic_byte"]
    sample = consumer.metrics.registry.get_sample_value
    assert sample("fraud_labels_total", {"label_source": "analyst", "outcome": "legitimate"}) == 1


def committed(settings: Settings) -> int:
    """Labels whose offsets the group committed."""
    return committed_total(settings, settings.labels.group_id, settings.topics.labels)


def test_labels_wait_uncommitted_while_redis_is_down_then_count(
    live_stack: Settings, make_topic: Callable[[int], str], own_redis: RedisNode
) -> None:
    data = worker_settings(live_stack, make_topic).model_dump()
    data["redis"]["url"] = own_redis.url
    data["labels"]["retry_wait_s"] = 0.3
    settings = Settings.model_validate(data)
    labels = chargeback_labels(40, seed=9)
    own_redis.stop()
    with running_labels(settings) as consumer:
        produce_labels(settings, labels)
        wait_for(lambda: counter(consumer, "fraud_labels_retries_total") >= 3)
        assert consumer.metrics.registry.get_sample_value("fraud_labels_waiting_for_redis") == 1
        assert "Redis does not answer" in str(consumer.health.not_ready_because())
        time.sleep(1.5)  # auto-commit runs every second: nothing may be committed meanwhile
        assert committed(settings) == 0
        own_redis.start()
        own_redis.wait_ready(10)
        wait_for(lambda: counter(consumer, "fraud_labels_counted_total") == len(labels))
        assert consumer.metrics.registry.get_sample_value("fraud_labels_waiting_for_redis") == 0
    assert committed(settings) == len(labels)
    assert frauds_on_day(settings, labels) == expected_frauds(labels)
