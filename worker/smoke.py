"""A smoke flow through the real stack: events produced to Kafka and consumed back, and a
Redis round-trip. ``make demo`` runs it until the scoring worker is in place.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from worker.errors import FraudWorkerError
from worker.kafka.config import client_config
from worker.kafka.topics import delete_topics, ensure_topics
from worker.redis_client import build_client
from worker.settings import Settings, load_settings


@dataclass(frozen=True)
class SmokeReport:
    topic: str
    produced: int
    consumed: int
    produce_s: float
    consume_s: float
    redis_keys: int

    def describe(self) -> str:
        return (
            f"kafka: produced {self.produced} events to {self.topic} in {self.produce_s:.2f} s, "
            f"consumed {self.consumed} back in {self.consume_s:.2f} s\n"
            f"redis: wrote and read back {self.redis_keys} keys in one pipeline each"
        )


def produce_events(settings: Settings, topic: str, count: int) -> float:
    """Produce ``count`` small JSON events; return the seconds until all were acknowledged."""
    producer = Producer(client_config(settings, **{"linger.ms": 5}))
    failures: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    start = time.perf_counter()
    for i in range(count):
        event = {"transaction_id": f"smoke-{i}", "amount": round(10 + i % 90, 2)}
        payload = json.dumps(event).encode()
        producer.produce(topic, payload, key=str(i % 16), on_delivery=on_delivery)
        producer.poll(0)
    producer.flush(30)
    if failures:
        raise FraudWorkerError(f"{len(failures)} events were not acknowledged: {failures[0]}")
    return time.perf_counter() - start


def consume_events(settings: Settings, topic: str, expected: int, timeout_s: float) -> int:
    """Consume from the beginning in a fresh group until ``expected`` events or the timeout."""
    consumer = Consumer(
        client_config(
            settings,
            **{"group.id": f"smoke-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest"},
        )
    )
    consumer.subscribe([topic])
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                value = msg.value()
                if msg.error() is None and value is not None:
                    seen.add(json.loads(value)["transaction_id"])
        if seen:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return len(seen)


def redis_round_trip(settings: Settings, count: int) -> int:
    """Write and read back ``count`` keys, one pipelined round-trip each way."""
    client = build_client(settings, timeout_s=5.0)
    # Under the key prefix: an ACL user (``~fw:*``) may touch nothing else.
    prefix = f"{settings.redis.key_prefix}smoke:{uuid.uuid4().hex[:8]}:"
    try:
        pipe = client.pipeline(transaction=False)
        for i in range(count):
            pipe.set(f"{prefix}{i}", i, ex=60)
        pipe.execute()
        values = client.mget([f"{prefix}{i}" for i in range(count)])
        if [int(v) for v in values if v is not None] != list(range(count)):
            raise FraudWorkerError("redis returned different values than were written")
        client.delete(*[f"{prefix}{i}" for i in range(count)])
    finally:
        client.close()
    return count


def run_smoke(events: int, settings: Settings | None = None) -> SmokeReport:
    settings = settings or load_settings()
    topic = f"smoke.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(client_config(settings))
    ensure_topics(admin, {topic: 3})
    try:
        produce_s = produce_events(settings, topic, events)
        start = time.perf_counter()
        consumed = consume_events(settings, topic, events, timeout_s=60)
        consume_s = time.perf_counter() - start
    finally:
        delete_topics(admin, [topic])
    if consumed != events:
        raise FraudWorkerError(f"produced {events} events but consumed {consumed}")
    redis_keys = redis_round_trip(settings, 100)
    return SmokeReport(topic, events, consumed, produce_s, consume_s, redis_keys)
