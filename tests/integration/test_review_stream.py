"""The review stream on the real broker during a Redis outage (a Redis of the test's own):
review grows only by what a human should see, degraded answers are kept apart, no high
amount is allowed, and shadow results come while the primary answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.harness import (
    encoded,
    produce,
    read_topic,
    running_worker,
    simulated_events,
    worker_settings,
)
from worker.settings import Settings
from worker.stack.redis import RedisNode

HEALTHY, OUTAGE = 300, 300


def _settings(live_stack: Settings, make_topic: Callable[[int], str], url: str) -> Settings:
    data = worker_settings(live_stack, make_topic, shadow_sample_rate=1.0).model_dump()
    data["redis"]["url"] = url
    data["breaker"].update(minimum_calls=2, window_size=4, open_wait_s=30, max_open_wait_s=60)
    return Settings.model_validate(data)


def _ids(records: list[tuple[dict[str, Any], Any]]) -> list[str]:
    return [(r.get("result") or r)["transaction_id"] for r, _ in records]


def test_during_a_redis_outage_review_gets_only_what_deserves_a_human(
    live_stack: Settings, make_topic: Callable[[int], str], own_redis: RedisNode
) -> None:
    settings = _settings(live_stack, make_topic, own_redis.url)
    topics = settings.topics
    events = simulated_events(HEALTHY + OUTAGE, seed=23)
    healthy_ids = {e["transaction_id"] for e in events[:HEALTHY]}
    with running_worker(settings):
        produce(settings, encoded(events[:HEALTHY]))
        read_topic(settings, topics.scored, "scored", HEALTHY)
        review_before = read_topic(settings, topics.review, "item", 0, timeout_s=5)
        shadow = read_topic(settings, topics.shadow, "scored", 2 * HEALTHY)
        own_redis.stop()
        produce(settings, encoded(events[HEALTHY:]))
        scored = read_topic(settings, topics.scored, "scored", HEALTHY + OUTAGE)
        apart = read_topic(settings, topics.degraded, "item", 1)
        review = read_topic(settings, topics.review, "item", 1)
    results = {r["transaction_id"]: r for r, _ in scored}
    assert len(results) == len(scored) == HEALTHY + OUTAGE, "one result per event"
    down = {tid: r for tid, r in results.items() if tid not in healthy_ids}
    assert {r["source"] for r in down.values()} == {"fallback"}

    new_review = [
        (item, m) for item, m in review if item["result"]["transaction_id"] not in healthy_ids
    ]
    assert len(review) == len(review_before) + len(new_review)
    for item, _ in review:
        result = item["result"]
        assert result["decision"] != "allow" or result["input_flags"], "deserves a human"
        assert item["priority"] == pytest.approx(result["score"] * item["event"]["amount"])
    assert len(new_review) < OUTAGE / 5, "not every degraded answer goes to review"

    kept = set(_ids(apart))
    reviewed = set(_ids(new_review))
    assert kept | reviewed == set(down) and not kept & reviewed, "each degraded answer once"
    assert len(apart) == len(kept), "and only once"
    for item, _ in apart:
        assert item["result"]["decision"] == "allow" and item["result"]["degraded"]
        assert all(reason.startswith("degraded:") for reason in item["review_reasons"])
        assert item["supersedes"] is None

    high = [e["transaction_id"] for e in events if e["amount"] > 220]
    assert high, "the simulated data has high amounts (all fraud)"
    assert all(results[tid]["decision"] != "allow" for tid in high), "no high amount allowed"
    high_review = {i["result"]["transaction_id"]: i for i, _ in review}
    assert all("rule:HIGH_AMOUNT" in high_review[tid]["review_reasons"] for tid in high)

    assert sorted((r["transaction_id"], r["source"]) for r, _ in shadow) == sorted(
        (tid, level) for tid in healthy_ids for level in ("fallback", "rules")
    ), "every primary answer shadowed once by each level below it; no degraded one"
