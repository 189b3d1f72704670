"""The worker on the real broker and Redis: N events in, exactly N tagged results out, and
each ladder level seen when its cause is created by real means."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.integration.harness import (
    encoded,
    produce,
    read_topic,
    running_worker,
    simulated_events,
    worker_settings,
)
from tests.onnx_models import models_dir_with_primary, raising_model
from worker.settings import Settings


def test_every_event_gets_exactly_one_tagged_result(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    settings = worker_settings(live_stack, make_topic)
    events = simulated_events(1500)
    produce(settings, encoded(events))
    with running_worker(settings):
        results = read_topic(settings, settings.topics.scored, "scored", len(events))
    ids = Counter(r["transaction_id"] for r, _ in results)
    assert set(ids) == {e["transaction_id"] for e in events}
    assert max(ids.values()) == 1, "exactly one result per event"
    assert {r["source"] for r, _ in results} == {"primary"}
    high = [r for r, _ in results if "HIGH_AMOUNT" in r["reasons"]]
    assert high and all(r["decision"] != "allow" for r in high), "a decisive rule decides"
    for record, message in results:
        assert message.key() == record["card_id"].encode(), "keyed by card: per-card order"
        assert record["model_version"].startswith("fw-")


def test_a_replay_is_answered_by_the_cache_with_the_same_scores(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    settings = worker_settings(live_stack, make_topic)
    events = simulated_events(400)
    produce(settings, encoded(events))
    with running_worker(settings):
        first = read_topic(settings, settings.topics.scored, "scored", 400)
        produce(settings, encoded(events))  # the same events, delivered again
        both = read_topic(settings, settings.topics.scored, "scored", 800)
    by_id: dict[str, list[dict[str, object]]] = {}
    for record, _ in both:
        by_id.setdefault(str(record["transaction_id"]), []).append(record)
    assert len(first) == 400 and len(by_id) == 400
    for pair in by_id.values():
        assert sorted(str(r["source"]) for r in pair) == ["cache", "primary"]
        assert pair[0]["score"] == pair[1]["score"] and pair[0]["decision"] == pair[1]["decision"]
        assert not any(r["degraded"] for r in pair)


def test_models_that_fail_leave_the_rules_to_answer(
    live_stack: Settings, make_topic: Callable[[int], str], tmp_path: Path
) -> None:
    from worker.features.event import EVENT_FEATURES
    from worker.features.stateful import STATEFUL_FEATURES

    models = models_dir_with_primary(
        tmp_path / "models", raising_model(len(EVENT_FEATURES) + len(STATEFUL_FEATURES))
    )
    (models / "fallback.lgb.txt").write_bytes(b"corrupted")  # refused at load: hash mismatch
    settings = worker_settings(live_stack, make_topic, models_dir=models)
    events = simulated_events(300)
    produce(settings, encoded(events))
    with running_worker(settings):
        results = read_topic(settings, settings.topics.scored, "scored", 300)
        apart = read_topic(settings, settings.topics.degraded, "item", 1)
        review = read_topic(settings, settings.topics.review, "item", 300 - len(apart))
    assert len(results) == 300
    assert {r["source"] for r, _ in results} == {"rules"}
    failed = {dep for r, _ in results for dep in r["failed_dependencies"]}
    assert failed == {"primary:error", "fallback:unavailable"}
    reviewed = {item["result"]["transaction_id"] for item, _ in review}
    kept = {item["result"]["transaction_id"] for item, _ in apart}
    assert len(reviewed) + len(kept) == 300 and not reviewed & kept, "each degraded answer once"
    assert len(reviewed) < 100, "only what a human should see goes to review"
    for item, _ in review:
        result = item["result"]
        assert result["decision"] != "allow" or result["input_flags"]
    for item, _ in apart:
        assert item["result"]["decision"] == "allow" and not item["result"]["input_flags"]
        assert item["review_reasons"] == ["degraded:primary:error", "degraded:fallback:unavailable"]


def test_without_models_and_rules_the_safe_default_answers(
    live_stack: Settings, make_topic: Callable[[int], str], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{name: broken}]\n")
    settings = worker_settings(
        live_stack, make_topic, models_dir=tmp_path / "no-models", rules_path=rules
    )
    produce(settings, encoded(simulated_events(200)))
    with running_worker(settings):
        results = read_topic(settings, settings.topics.scored, "scored", 200)
    assert len(results) == 200
    assert {(r["source"], r["decision"], r["confidence"]) for r, _ in results} == {
        ("safe_default", "allow", 0.0)
    }
