"""Which record goes to which topic, on stub clients: review only for what a human should see
(with its priority), degraded answers kept apart, shadow results apart, all counted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
import redis
from numpy.typing import NDArray

from tests.kafka.conftest import event, stub_runtime, stub_settings
from tests.kafka.stubs import Produced, StubConsumer, StubProducer
from worker.codec import EventDecoder, LocalSchemaRegistry, default_schemas_dir, load_schema
from worker.ladder.core import Ladder
from worker.ladder.decision import DecisionPolicy
from worker.ladder.default import SafeDefaultLevel
from worker.ladder.level import BatchContext, LevelResult
from worker.ladder.rules import RulesLevel
from worker.ladder.types import ScoredBatch, Source
from worker.loop import Worker
from worker.metrics import WorkerMetrics
from worker.rules.engine import load_rules
from worker.runtime import Runtime
from worker.settings import packaged_path


def _decoder(schema: str) -> EventDecoder:
    schemas = default_schemas_dir()
    return EventDecoder(LocalSchemaRegistry(schemas), load_schema(schemas / schema))


ITEMS = _decoder("review_item.v2.avsc")
RESULTS = _decoder("scored_result.v1.avsc")


def on(topic: str, producer: StubProducer, decoder: EventDecoder) -> list[dict[str, Any]]:
    return [decoder.decode(r.value) for r in producer.delivered if r.topic == topic]


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {(r.get("result") or r)["transaction_id"]: r for r in records}


@dataclass
class Constant:
    """A level that answers every row it is offered with one score."""

    source: Source
    value: float

    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        return LevelResult(rows, np.full(len(rows), self.value))

    def finish(self, ctx: BatchContext, outcome: ScoredBatch) -> None:
        return None


def with_primary() -> Runtime:
    """Primary (0.2 for everything), fallback (0.4), the shipped rules, the safe default."""
    ladder = Ladder(
        levels=[
            Constant(Source.PRIMARY, 0.2),
            Constant(Source.FALLBACK, 0.4),
            RulesLevel(),
            SafeDefaultLevel(),
        ],
        rules=load_rules(packaged_path("rules", "default.yaml")),
        policy=DecisionPolicy(0.5, 0.9),
        model_version="stub",
    )
    return Runtime(ladder, redis.Redis(host="127.0.0.1", port=1), {}, "none")


def run_worker(
    consumer: StubConsumer,
    producer: StubProducer,
    runtime: Callable[[], Runtime] = stub_runtime,
    **worker: Any,
) -> Worker:
    built_runtime = runtime()
    # As build_runtime does: the ladder shadows at the settings' rate.
    rate = worker.get("shadow_sample_rate", 0.0)
    built_runtime.ladder = replace(built_runtime.ladder, shadow_sample_rate=rate)
    built = Worker(
        stub_settings(**worker),
        built_runtime,
        WorkerMetrics(),
        consumer,
        producer,  # type: ignore[arg-type]
    )
    consumer.on_empty = built.stop
    built.run()
    return built


def sample(worker: Worker, name: str, **labels: str) -> float:
    return worker.metrics.registry.get_sample_value(name, labels) or 0.0


def test_review_gets_what_a_human_should_see_and_degraded_answers_are_kept_apart(
    consumer: StubConsumer, producer: StubProducer
) -> None:
    """The rules answer everything (degraded): a plain event is kept apart; a high amount
    (a decisive rule) and a flagged input go to review; each event has one result."""
    consumer.add(
        0,
        event(0),
        event(1, amount=300.0),
        event(2, merchant_category="space_tourism"),
        event(3),
    )
    worker = run_worker(consumer, producer)
    assert sorted(by_id(on("scored", producer, RESULTS))) == ["tx0", "tx1", "tx2", "tx3"]
    review = by_id(on("review", producer, ITEMS))
    apart = by_id(on("degraded", producer, ITEMS))
    assert sorted(review) == ["tx1", "tx2"] and sorted(apart) == ["tx0", "tx3"]
    high = review["tx1"]
    assert "rule:HIGH_AMOUNT" in high["review_reasons"]
    assert high["result"]["decision"] in ("review", "block")
    assert high["priority"] == pytest.approx(high["result"]["score"] * 300.0)
    assert "input:unknown_category" in review["tx2"]["review_reasons"]
    kept = apart["tx0"]
    assert kept["review_reasons"] == ["degraded:rules"]
    assert kept["result"]["decision"] == "allow" and kept["result"]["degraded"]
    assert kept["priority"] == pytest.approx(kept["result"]["score"] * 50.0)
    assert kept["supersedes"] is None
    assert sample(worker, "fraud_review_items_total") == 2
    assert sample(worker, "fraud_degraded_kept_apart_total", source="rules") == 2
    assert sample(worker, "fraud_rule_raised_decisions_total", source="rules") == 0, (
        "the rules' own score already blocks a high amount"
    )


def test_a_model_answer_is_raised_by_a_decisive_rule_and_reviewed(
    consumer: StubConsumer, producer: StubProducer
) -> None:
    consumer.add(0, event(0), event(1, amount=300.0))
    worker = run_worker(consumer, producer, with_primary)
    results = by_id(on("scored", producer, RESULTS))
    assert {r["source"] for r in results.values()} == {"primary"}
    assert results["tx0"]["decision"] == "allow" and results["tx1"]["decision"] == "review"
    assert "HIGH_AMOUNT" in results["tx1"]["reasons"]
    review = on("review", producer, ITEMS)
    assert [item["result"]["transaction_id"] for item in review] == ["tx1"]
    assert review[0]["review_reasons"] == ["rule:HIGH_AMOUNT", "decision:review"]
    assert review[0]["priority"] == pytest.approx(0.2 * 300.0)
    assert on("degraded", producer, ITEMS) == [], "nothing degraded"
    assert sample(worker, "fraud_rule_raised_decisions_total", source="primary") == 1


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_shadow_results_go_to_their_own_topic_and_change_nothing(
    consumer: StubConsumer, producer: StubProducer, guarantee: str
) -> None:
    consumer.add(0, *[event(i) for i in range(4)])
    worker = run_worker(
        consumer,
        producer,
        with_primary,
        shadow_sample_rate=1.0,
        processing_guarantee=guarantee,
    )
    assert {r["source"] for r in on("scored", producer, RESULTS)} == {"primary"}
    shadow = on("shadow", producer, RESULTS)
    assert sorted((r["transaction_id"], r["source"]) for r in shadow) == sorted(
        (f"tx{i}", level) for i in range(4) for level in ("fallback", "rules")
    )
    assert all(r["degraded"] for r in shadow)
    assert on("review", producer, ITEMS) == [] and on("degraded", producer, ITEMS) == []
    assert sample(worker, "fraud_shadow_results_total", source="fallback") == 4
    assert sample(worker, "fraud_shadow_results_total", source="rules") == 4
    if guarantee == "exactly_once":
        topics = {record.topic for batch in producer.committed for record in batch}
        assert topics == {"scored", "shadow"}, "shadow records are in the batch's transaction"


def test_a_shadow_that_cannot_be_encoded_is_counted_and_the_batch_goes_on(
    consumer: StubConsumer, producer: StubProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.codec.columnar import ColumnarEncoder

    real = ColumnarEncoder.encode_columns

    def encode_columns(self: ColumnarEncoder, columns: Any, n: int) -> list[bytes]:
        if self.subject == "transactions.shadow-value":
            raise RuntimeError("broken shadow encoder")
        return real(self, columns, n)

    monkeypatch.setattr(ColumnarEncoder, "encode_columns", encode_columns)
    consumer.add(0, event(0), event(1))
    worker = run_worker(consumer, producer, with_primary, shadow_sample_rate=1.0)
    assert len(on("scored", producer, RESULTS)) == 2
    assert on("shadow", producer, RESULTS) == []
    assert sample(worker, "fraud_shadow_failures_total", failure="shadow:encode_error") == 1
    assert consumer.committed == {("in", 0): 2}


def test_without_a_shadow_rate_nothing_is_shadowed(
    consumer: StubConsumer, producer: StubProducer
) -> None:
    consumer.add(0, event(0))
    run_worker(consumer, producer, with_primary)
    delivered: list[Produced] = producer.delivered
    assert {record.topic for record in delivered} == {"scored"}


def test_a_shadow_result_too_large_is_left_out_and_its_event_dead_lettered(
    consumer: StubConsumer, producer: StubProducer
) -> None:
    consumer.add(0, event(0), event(1, transaction_id="x" * 1_000_000))
    worker = run_worker(consumer, producer, with_primary, shadow_sample_rate=1.0)
    assert [r["transaction_id"] for r in on("scored", producer, RESULTS)] == ["tx0"]
    assert {r["transaction_id"] for r in on("shadow", producer, RESULTS)} == {"tx0"}
    assert [r.topic for r in producer.delivered].count("dlq") == 1
    assert sample(worker, "fraud_shadow_results_total", source="fallback") == 1
    assert all(len(r.value) < 1_000_000 for r in producer.delivered)
