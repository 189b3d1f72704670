"""``fraud-worker review`` reads review items of both schema versions, with a priority."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import BASE_EVENT
from worker.cli_worker import ReviewItems, _format
from worker.codec import LocalSchemaRegistry, RecordEncoder, default_schemas_dir

REGISTRY = LocalSchemaRegistry(default_schemas_dir())
RESULT: dict[str, Any] = {
    "transaction_id": "tx1",
    "card_id": "c_1",
    "event_time_ms": BASE_EVENT["event_time_ms"],
    "score": 0.6,
    "decision": "review",
    "source": "primary",
    "model_version": "fw-test",
    "confidence": 1.0,
    "reasons": ["HIGH_AMOUNT"],
    "degraded": False,
    "failed_dependencies": [],
    "input_flags": [],
    "scoring_latency_ms": 1.0,
    "scored_at_ms": 1,
}


def item(**extra: Any) -> dict[str, Any]:
    event = {**BASE_EVENT, "amount": 300.0}
    return {"result": RESULT, "event": event, "review_reasons": ["decision:review"], **extra}


def test_a_v2_item_keeps_its_priority_and_a_v1_item_gets_score_times_amount() -> None:
    items = ReviewItems(REGISTRY)
    v2 = items.decode(RecordEncoder.for_schema_id(REGISTRY, 201).encode(item(priority=42.0)))
    v1 = items.decode(RecordEncoder.for_schema_id(REGISTRY, 200).encode(item()))
    assert v2["priority"] == 42.0 and v2["supersedes"] is None
    assert v1["priority"] == pytest.approx(0.6 * 300.0)
    assert v1["result"] == RESULT and v1["review_reasons"] == ["decision:review"]


def test_the_table_shows_the_priority() -> None:
    line = _format({**item(), "priority": 180.0, "supersedes": None}, as_json=False)
    assert "tx1" in line and " 180.00 " in line and "decision:review, HIGH_AMOUNT" in line
