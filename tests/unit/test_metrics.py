"""Metrics count results by source and decision, failures and flags — and never carry an
event's content (card ids, transaction ids) in a label."""

from __future__ import annotations

from prometheus_client import generate_latest

from tests.factories import make_batch
from tests.ladder.test_ladder_core import FakeLevel, ladder_of
from worker.ladder import Source, score_batch
from worker.metrics import WorkerMetrics


def test_a_batch_is_counted_by_source_decision_failure_and_flag() -> None:
    batch = make_batch(
        {"card_id": "c_secret_token_1"}, {"card_id": "c_secret_token_2", "amount": -1.0}, {}
    )
    primary = FakeLevel(Source.PRIMARY, {0: 0.95, 2: 0.1}, failure="primary:timeout")
    scored = score_batch(batch, ladder_of(primary))
    metrics = WorkerMetrics()
    metrics.observe_batch(scored)
    value = metrics.registry.get_sample_value
    assert value("fraud_results_total", {"source": "primary", "decision": "block"}) == 1
    assert value("fraud_results_total", {"source": "primary", "decision": "allow"}) == 1
    assert value("fraud_results_total", {"source": "safe_default", "decision": "allow"}) == 1
    assert value("fraud_input_flags_total", {"flag": "invalid_amount"}) == 1
    exposition = generate_latest(metrics.registry).decode()
    assert "c_secret_token" not in exposition and "tx1" not in exposition
