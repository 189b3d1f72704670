"""Produce and consume through the real broker."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from worker.kafka.config import client_config
from worker.settings import Settings


def _produce(settings: Settings, topic: str, count: int) -> None:
    producer = Producer(client_config(settings))
    for i in range(count):
        producer.produce(topic, value=f"event-{i}".encode(), key=f"card-{i % 7}".encode())
    assert producer.flush(30) == 0


def _consumer(settings: Settings, group_id: str) -> Consumer:
    return Consumer(
        client_config(
            settings,
            **{
                "group.id": group_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
            },
        )
    )


def _drain(consumers: list[Consumer], expected: int, timeout_s: float) -> list[list[Message]]:
    """Poll every consumer in turn until ``expected`` messages in all, or the timeout."""
    received: list[list[Message]] = [[] for _ in consumers]
    deadline = time.monotonic() + timeout_s
    while sum(map(len, received)) < expected and time.monotonic() < deadline:
        for i, consumer in enumerate(consumers):
            batch = consumer.consume(num_messages=200, timeout=0.2)
            received[i].extend(m for m in batch if m.error() is None)
    return received


def test_produced_events_are_consumed_back_in_order_per_key(
    live_stack: Settings, make_topic: Callable[[int], str], group_id: str
) -> None:
    topic = make_topic(3)
    _produce(live_stack, topic, 300)
    consumer = _consumer(live_stack, group_id)
    consumer.subscribe([topic])
    try:
        [messages] = _drain([consumer], 300, timeout_s=30)
    finally:
        consumer.close()
    values = [m.value() for m in messages]
    assert sorted(values) == sorted(f"event-{i}".encode() for i in range(300))
    for key in {m.key() for m in messages}:
        per_key = [int(m.value().decode().split("-")[1]) for m in messages if m.key() == key]
        assert per_key == sorted(per_key), "events of one key must keep their order"


def test_two_consumers_in_one_group_share_the_partitions(
    live_stack: Settings, make_topic: Callable[[int], str], group_id: str
) -> None:
    topic = make_topic(4)
    first, second = _consumer(live_stack, group_id), _consumer(live_stack, group_id)
    first.subscribe([topic])
    second.subscribe([topic])
    try:
        _wait_for_assignment([first, second], partitions=4, timeout_s=30)
        _produce(live_stack, topic, 400)
        got_first, got_second = _drain([first, second], 400, timeout_s=30)
        owned_first = {p.partition for p in first.assignment()}
        owned_second = {p.partition for p in second.assignment()}
    finally:
        first.close()
        second.close()
    assert owned_first and owned_second, "each member must own at least one partition"
    assert owned_first.isdisjoint(owned_second)
    assert owned_first | owned_second == {0, 1, 2, 3}
    assert {m.partition() for m in got_first} <= owned_first
    assert {m.partition() for m in got_second} <= owned_second
    assert len(got_first) + len(got_second) == 400


def test_committed_offsets_resume_a_new_member(
    live_stack: Settings, make_topic: Callable[[int], str], group_id: str
) -> None:
    topic = make_topic(1)
    _produce(live_stack, topic, 100)
    consumer = _consumer(live_stack, group_id)
    consumer.subscribe([topic])
    [first_pass] = _drain([consumer], 100, timeout_s=30)
    consumer.commit(offsets=[TopicPartition(topic, 0, 60)], asynchronous=False)
    consumer.close()

    resumed = _consumer(live_stack, group_id)
    resumed.subscribe([topic])
    try:
        [second_pass] = _drain([resumed], 40, timeout_s=30)
    finally:
        resumed.close()
    assert len(first_pass) == 100
    assert [m.offset() for m in second_pass] == list(range(60, 100))


def _wait_for_assignment(consumers: list[Consumer], partitions: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for consumer in consumers:
            consumer.consume(num_messages=1, timeout=0.1)
        owned = [len(c.assignment()) for c in consumers]
        if all(owned) and sum(owned) == partitions:
            return
    raise AssertionError(f"the group did not spread {partitions} partitions: {owned}")
