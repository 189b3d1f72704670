"""The re-scorer on the real broker and Redis: degraded items of events the primary scores
high and low go in; superseding review items come out for the high ones only, expired and
undecodable items are set apart, and Redis is never written. With a Redis where nothing
listens the batch waits, uncommitted, and a re-scorer of the same group pointed at the real
Redis then re-scores it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import redis
from confluent_kafka import OFFSET_INVALID, Consumer, Producer, TopicPartition

from tests.factories import BASE_EVENT, free_port
from tests.integration.harness import REGISTRY, read_topic, running, wait_for, worker_settings
from worker.codec import EventDecoder, RecordEncoder, default_schemas_dir, load_schema
from worker.events import EventBatch
from worker.kafka.config import client_config, reader_config
from worker.ladder.types import DECISIONS, Decision
from worker.rescore import Rescored, RescoreMetrics, Rescorer, RescoreWorker
from worker.runtime import build_runtime
from worker.settings import Settings

HOUR_MS = 3_600_000
UNAVAILABLE = "feature_store:unavailable"
REVIEW_V2 = EventDecoder(REGISTRY, load_schema(default_schemas_dir() / "review_item.v2.avsc"))
# A risky profile (crypto, e-commerce, abroad without history, a 3-day-old account, 3 am)
# and a quiet one (groceries at home, chip and PIN, an old account).
QUIET = {
    "merchant_category": "grocery",
    "channel": "pos",
    "country": "FR",
    "is_international": False,
    "account_age_days": 2000,
    "entry_mode": "chip",
    "cardholder_verified": True,
}


def rescore_settings(base: Settings, make_topic: Callable[[int], str], **redis: Any) -> Settings:
    data = worker_settings(base, make_topic).model_dump()
    data["topics"]["degraded"] = make_topic(3)
    data["redis"].update(redis)
    data["rescore"] = {
        "group_id": f"rescore-{uuid.uuid4().hex[:8]}",
        "batch_wait_ms": 100,
        "retry_wait_s": 0.2,
        "metrics_port": 0,
    }
    return Settings.model_validate(data)


def events() -> list[dict[str, Any]]:
    """Distinct cards and terminals: each score is the same in any batch."""
    risky = [{**BASE_EVENT, "amount": a} for a in (300.0, 600.0, 1000.0, 20.0)]
    quiet = [{**BASE_EVENT, **QUIET, "amount": a} for a in (20.0, 50.0, 80.0)]
    return [
        {**event, "transaction_id": f"tx{i}", "card_id": f"c{i}", "terminal_id": f"t{i}"}
        for i, event in enumerate([*risky, *quiet])
    ]


def primary_decisions(settings: Settings, batch: list[dict[str, Any]]) -> dict[str, str]:
    """What the primary decides for each event, read-only (no Redis write either)."""
    runtime = build_runtime(settings)
    try:
        answer = Rescorer.of_runtime(runtime, settings).score(EventBatch.from_records(batch))
    finally:
        runtime.close()
    assert isinstance(answer, Rescored) and answer.answered.all()
    codes = answer.scored.decision.tolist()
    return {e["transaction_id"]: DECISIONS[c].value for e, c in zip(batch, codes, strict=True)}


def degraded_item(event: dict[str, Any], scored_at_ms: int) -> dict[str, Any]:
    result = {
        "transaction_id": event["transaction_id"],
        "card_id": event["card_id"],
        "event_time_ms": event["event_time_ms"],
        "score": 0.1,
        "decision": "allow",
        "source": "fallback",
        "model_version": "fw-old",
        "confidence": 0.75,
        "reasons": [],
        "degraded": True,
        "failed_dependencies": ["feature_store:unavailable"],
        "input_flags": [],
        "scoring_latency_ms": 2.0,
        "scored_at_ms": scored_at_ms,
    }
    return {
        "result": result,
        "event": event,
        "review_reasons": ["degraded:feature_store:unavailable"],
        "priority": 0.1 * event["amount"],
        "supersedes": None,
    }


def produce_items(settings: Settings, items: list[dict[str, Any]], raw: tuple[bytes, ...]) -> None:
    encoder = RecordEncoder(REGISTRY, settings.schemas.degraded_subject)
    producer = Producer(client_config(settings))
    topic = settings.topics.degraded
    for item in items:
        producer.produce(topic, encoder.encode(item), item["event"]["card_id"].encode())
    for value in raw:
        producer.produce(topic, value, b"garbage")
    assert producer.flush(30) == 0


def read_items(settings: Settings, expected: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    """ReviewItem v2 records of the review topic until ``expected`` came and a moment passed."""
    consumer = Consumer(reader_config(settings, "rescore-reader"))
    consumer.subscribe([settings.topics.review])
    out: list[dict[str, Any]] = []
    deadline, quiet_until = time.monotonic() + timeout_s, None
    try:
        while time.monotonic() < deadline:
            out += [
                REVIEW_V2.decode(m.value()) for m in consumer.consume(100, 0.3) if not m.error()
            ]
            if len(out) >= expected:
                quiet_until = quiet_until or time.monotonic() + 2.0
                if time.monotonic() >= quiet_until:
                    break
    finally:
        consumer.close()
    return out


def committed(settings: Settings) -> list[int]:
    consumer = Consumer(client_config(settings, **{"group.id": settings.rescore.group_id}))
    try:
        topic = settings.topics.degraded
        parts = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        return [tp.offset for tp in parts]
    finally:
        consumer.close()


def running_rescorer(settings: Settings) -> AbstractContextManager[RescoreWorker]:
    """A re-scorer in a background thread."""
    return running(RescoreWorker(settings, build_runtime(settings), RescoreMetrics()), "re-scorer")


def sample(worker: RescoreWorker, name: str, **labels: str) -> float:
    return worker.metrics.registry.get_sample_value(name, labels) or 0.0


def outcome(worker: RescoreWorker, name: str) -> float:
    return sample(worker, "fraud_rescore_items_total", outcome=name)


def test_high_rescores_supersede_their_degraded_answers_in_review(
    live_stack: Settings, make_topic: Callable[[int], str], redis_client: redis.Redis
) -> None:
    settings = rescore_settings(live_stack, make_topic)
    batch = events()
    decisions = primary_decisions(settings, batch)
    high = {tx for tx, d in decisions.items() if d != Decision.ALLOW}
    assert len(high) >= 2 and len(decisions) - len(high) >= 2, decisions
    now_ms = int(time.time() * 1000)
    items = [degraded_item(event, now_ms - HOUR_MS) for event in batch]
    expired = degraded_item({**batch[2], "transaction_id": "tx-old"}, now_ms - 7 * HOUR_MS)
    produce_items(settings, [*items, expired], raw=(b"garbage",))
    with running_rescorer(settings) as worker:
        wait_for(lambda: sum(outcome(worker, o) for o in ("escalated", "confirmed")) == 7)
        review = read_items(settings, len(high))
        letters = read_topic(settings, settings.topics.dead_letter, "dead_letter", 1)
        assert outcome(worker, "expired") == 1 and outcome(worker, "undecodable") == 1
    assert {item["result"]["transaction_id"] for item in review} == high
    for item in review:
        result = item["result"]
        assert (result["source"], result["degraded"]) == ("primary", False)
        assert result["decision"] == decisions[result["transaction_id"]]
        assert item["supersedes"] == {
            "source": "fallback",
            "score": 0.1,
            "decision": "allow",
            "scored_at_ms": now_ms - HOUR_MS,
        }
        assert "rescored:fallback" in item["review_reasons"]
        assert item["priority"] == result["score"] * item["event"]["amount"]
    assert [letter["source_topic"] for letter, _ in letters] == [settings.topics.degraded]
    assert redis_client.keys(f"{settings.redis.key_prefix}*") == [], "no Redis write at all"
    assert sum(o for o in committed(settings) if o >= 0) == len(batch) + 2


def test_without_the_primary_the_batch_waits_uncommitted_then_is_rescored(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    settings = rescore_settings(live_stack, make_topic)
    nothing_there = settings.redis.model_copy(update={"url": f"redis://127.0.0.1:{free_port()}/0"})
    dead = settings.model_copy(update={"redis": nothing_there})
    batch = events()
    high = {tx for tx, d in primary_decisions(settings, batch).items() if d != Decision.ALLOW}
    produce_items(settings, [degraded_item(e, int(time.time() * 1000)) for e in batch], raw=())
    with running_rescorer(dead) as worker:
        wait_for(lambda: worker.waiting)
        wait_for(lambda: sample(worker, "fraud_rescore_retries_total", failure=UNAVAILABLE) >= 2)
        assert str(worker.health.not_ready_because()).startswith("waiting: the primary")
        assert sample(worker, "fraud_rescore_waiting_for_primary") == 1
    assert read_items(settings, 0, timeout_s=3) == []
    assert all(offset == OFFSET_INVALID for offset in committed(settings)), "nothing committed"
    with running_rescorer(settings) as worker:
        wait_for(lambda: outcome(worker, "escalated") == len(high))
        review = read_items(settings, len(high))
        assert not worker.waiting
    assert {item["result"]["transaction_id"] for item in review} == high
    assert sum(o for o in committed(settings) if o >= 0) == len(batch)
