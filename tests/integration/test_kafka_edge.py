"""The Kafka edge on the real broker: poison and oversized input, a lost output, an idle
group's committed lag, and exactly-once transactions."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
)

from tests.integration.harness import (
    encoded,
    produce,
    read_topic,
    running_worker,
    simulated_events,
    worker_settings,
)
from worker.codec import frame
from worker.kafka.config import client_config
from worker.kafka.errors import DeliveryError
from worker.loop import Worker
from worker.metrics import WorkerMetrics
from worker.runtime import build_runtime
from worker.settings import Settings


def produce_large(settings: Settings, values: list[tuple[bytes | None, bytes | None]]) -> None:
    """Like ``produce``, with room for records up to the broker's own limit (~1 MB)."""
    producer = Producer(client_config(settings, **{"message.max.bytes": 2_000_000}))
    for key, value in values:
        producer.produce(settings.topics.input, value, key)
    assert producer.flush(30) == 0


def committed(settings: Settings, partitions: int) -> list[int]:
    """The group's committed offsets, read without joining the group."""
    consumer = Consumer(client_config(settings, **{"group.id": settings.worker.group_id}))
    try:
        tps = [TopicPartition(settings.topics.input, p) for p in range(partitions)]
        return [tp.offset for tp in consumer.committed(tps, timeout=10)]
    finally:
        consumer.close()


def ends(settings: Settings, partitions: int) -> list[int]:
    consumer = Consumer(client_config(settings, **{"group.id": "watermarks"}))
    try:
        topic = settings.topics.input
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        ]
    finally:
        consumer.close()


def test_poison_oversized_and_absurd_inputs_each_get_one_answer_and_the_worker_lives(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    """1,000,000 random bytes, a valid event with a 1 MB id (dead-lettered: its result
    cannot fit), one with a 1 MB merchant category (flagged unknown, so reviewed: scored,
    its review item trimmed) and 1,000 events with 1e15 or NaN amounts between valid ones:
    the old worker died on the first (its dead letter did not fit) and every member that
    took the partition died in turn."""
    settings = worker_settings(live_stack, make_topic)
    events = simulated_events(1600, seed=31)
    valid, absurd = events[:600], events[600:]
    for i, event in enumerate(absurd):
        event["amount"] = 1e15 if i % 2 else float("nan")
    huge_id = {**valid[0], "transaction_id": "x" * 1_000_000}
    huge_category = {**valid[1], "transaction_id": "huge", "merchant_category": "y" * 1_000_000}
    poison = [(b"poison", random.Random(1).randbytes(1_000_000)), (b"p", frame(2, b"\xff" * 9))]
    values = encoded(valid[:300]) + poison + encoded([huge_id, huge_category])
    values += encoded(absurd) + encoded(valid[300:])
    with running_worker(settings) as worker:
        produce_large(settings, values)
        scored = read_topic(settings, settings.topics.scored, "scored", 1601, timeout_s=120)
        dead = read_topic(settings, settings.topics.dead_letter, "dead_letter", 3)
        review = read_topic(settings, settings.topics.review, "review", 1)
        assert worker.assigned, "still a member of its group"
    by_id = Counter(record["transaction_id"] for record, _ in scored)
    assert set(by_id) == {e["transaction_id"] for e in events} | {"huge"}
    assert set(by_id.values()) == {1}, "exactly one answer each"
    codes = Counter(record["error_code"] for record, _ in dead)
    assert len(dead) == 3 and codes["oversized_result"] == 1
    trimmed = [item for item, _ in review if item["result"]["transaction_id"] == "huge"]
    assert "input:trimmed_for_review" in trimmed[0]["review_reasons"]
    assert all(len(record["raw_value"]) <= 65_536 for record, _ in dead)
    valid_ids = {e["transaction_id"] for e in valid}
    sources = Counter(r["source"] for r, _ in scored if r["transaction_id"] in valid_ids)
    assert sources == {"primary": 600}, "the valid neighbours are answered by the primary"
    flagged = [r for r, _ in scored if r["transaction_id"] not in valid_ids | {"huge"}]
    assert all("invalid_amount" in r["input_flags"] for r in flagged)


def test_a_lost_output_stops_the_member_and_nothing_past_it_is_committed(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    """The dead-letter topic does not exist: the member stops naming the failure, the group's
    offset stays before the undecodable input (the old worker committed past it), and a
    restart with the topic in place dead-letters it."""
    missing = f"missing.{os.urandom(4).hex()}"
    base = worker_settings(live_stack, make_topic, flush_timeout_ms=3000)
    data = base.model_dump()
    data["topics"] = {**data["topics"], "dead_letter": missing, "input_partitions": 1}
    data["topics"]["input"] = make_topic(1)
    settings = Settings.model_validate(data)
    events = simulated_events(20, seed=3)
    produce(settings, [*encoded(events[:10]), (b"bad", b"garbage"), *encoded(events[10:])])
    worker = Worker(settings, build_runtime(settings), WorkerMetrics())
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the member stops"
    assert errors and isinstance(errors[0], DeliveryError), errors
    assert "not acknowledged" in str(errors[0])
    assert committed(settings, 1)[0] <= 10, "never past the undecodable input at offset 10"
    data["topics"]["dead_letter"] = make_topic(1)
    again = Settings.model_validate(data)
    with running_worker(again):
        dead = read_topic(again, again.topics.dead_letter, "dead_letter", 1)
    assert [record["source_offset"] for record, _ in dead] == [10]


def test_an_idle_group_commits_up_to_the_end_of_its_partitions(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    """After a burst the committed lag — what KEDA and Kafka UIs read — goes to 0 while the
    group is idle (the old loop stored a batch's offsets only when the next batch came)."""
    settings = worker_settings(live_stack, make_topic)
    produce(settings, encoded(simulated_events(600, seed=4)))
    with running_worker(settings):
        read_topic(settings, settings.topics.scored, "scored", 600)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and committed(settings, 3) != ends(settings, 3):
            time.sleep(0.5)
        assert committed(settings, 3) == ends(settings, 3)


@pytest.mark.parametrize("workers", [1, 2])
def test_exactly_once_outputs_and_offsets_commit_together(
    live_stack: Settings, make_topic: Callable[[int], str], workers: int
) -> None:
    settings = worker_settings(
        live_stack, make_topic, processing_guarantee="exactly_once", batch_max=100
    )
    events = simulated_events(900, seed=9)
    with ExitStack() as members:
        for _ in range(workers):
            members.enter_context(running_worker(settings))
        produce(settings, encoded(events))
        scored = read_topic(settings, settings.topics.scored, "scored", 900)
    counts = Counter(record["transaction_id"] for record, _ in scored)
    assert set(counts) == {e["transaction_id"] for e in events}
    assert set(counts.values()) == {1}, "no duplicates for a read_committed reader"
    assert committed(settings, 3) == ends(settings, 3)


def test_records_stay_under_a_smaller_limit_of_the_output_topics(
    live_stack: Settings, make_topic: Callable[[int], str], admin: AdminClient
) -> None:
    """Output topics that accept at most 100 kB: a 200 kB id is dead-lettered within that
    limit instead of being refused by the broker (which stopped the member)."""
    settings = worker_settings(live_stack, make_topic)
    small = {"max.message.bytes": "100000"}
    for topic in (settings.topics.scored, settings.topics.review, settings.topics.dead_letter):
        entries = [_set(name, value) for name, value in small.items()]
        resource = ConfigResource("topic", topic, incremental_configs=entries)
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(10)
    events = simulated_events(50, seed=12)
    events[25] = {**events[25], "transaction_id": "z" * 200_000}
    with running_worker(settings) as worker:
        produce_large(settings, encoded(events))
        scored = read_topic(settings, settings.topics.scored, "scored", 49)
        dead = read_topic(settings, settings.topics.dead_letter, "dead_letter", 1)
        assert worker.limits.max_message_bytes == 100_000
    assert len(scored) == 49
    assert [record["error_code"] for record, _ in dead] == ["oversized_result"]
    assert len(dead[0][1].value()) < 100_000


def _set(name: str, value: str) -> ConfigEntry:
    return ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
