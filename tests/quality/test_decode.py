"""The columnar prefix decoder agrees with the per-record decoder, and sends what it cannot
read to it."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from fastavro import parse_schema

from worker.codec import (
    LocalSchemaRegistry,
    RecordEncoder,
    default_schemas_dir,
    frame,
    load_schema,
)
from worker.quality.decode import PrefixDecoder, compile_steps
from worker.quality.results import LABEL_FIELDS, LABEL_OUTCOMES, RESULT_FIELDS, Results

REGISTRY = LocalSchemaRegistry(default_schemas_dir())
SCORED = load_schema(default_schemas_dir() / "scored_result.v1.avsc")
LABEL = load_schema(default_schemas_dir() / "label.v1.avsc")


def scored_record(i: int, **overrides: Any) -> dict[str, Any]:
    record = {
        "transaction_id": f"tx_{i:08d}" + "é" * (i % 3),
        "card_id": f"card_{i % 37}",
        "event_time_ms": 1_775_001_600_000 + i * 86_399 - (i % 2) * 10**12,
        "score": (i % 1000) / 999,
        "decision": ("allow", "review", "block")[i % 3],
        "source": ("cache", "primary", "fallback", "rules", "safe_default")[i % 5],
        "model_version": "mlp-v1",
        "confidence": 1.0,
        "reasons": ["score:0.9"] * (i % 2),
        "degraded": bool(i % 2),
        "failed_dependencies": [],
        "input_flags": ["amount_missing"] * (i % 4 == 0),
        "scoring_latency_ms": 1.5,
        "scored_at_ms": 1_775_001_600_000,
    }
    return {**record, **overrides}


def test_scored_results_decode_as_the_per_record_decoder_reads_them() -> None:
    records = [scored_record(i) for i in range(500)]
    values = RecordEncoder(REGISTRY, "transactions.scored-value").encode_many(records)
    decoded = PrefixDecoder(REGISTRY, SCORED, RESULT_FIELDS).decode_many(values)
    assert decoded.failed == 0 and len(decoded) == 500
    results = Results.from_columns(decoded.data)
    expected = Results.from_columns(
        {
            **{k: [r[k] for r in records] for k in ("transaction_id", "card_id")},
            "event_time_ms": [r["event_time_ms"] for r in records],
            "score": [r["score"] for r in records],
            "decision": [RESULT_FIELDS["decision"].index(r["decision"]) for r in records],
            "source": [RESULT_FIELDS["source"].index(r["source"]) for r in records],
        }
    )
    for name in ("transaction_id", "card_id", "event_time_ms", "score", "decision", "source"):
        assert getattr(results, name).tolist() == getattr(expected, name).tolist(), name


def test_labels_decode_with_their_outcome() -> None:
    encoder = RecordEncoder(REGISTRY, "transactions.labels-value")
    records = [
        {
            "transaction_id": f"tx_{i}",
            "card_id": "c",
            "terminal_id": "t",
            "event_time_ms": i,
            "outcome": LABEL_OUTCOMES[i % 2],
            "label_source": "chargeback",
            "known_at_ms": i + 7,
            "decided_by": None,
            "note": "n" if i % 3 else None,
        }
        for i in range(50)
    ]
    decoded = PrefixDecoder(REGISTRY, LABEL, LABEL_FIELDS).decode_many(encoder.encode_many(records))
    assert decoded.data["transaction_id"].tolist() == [f"tx_{i}".encode() for i in range(50)]
    assert decoded.data["outcome"].tolist() == [i % 2 for i in range(50)]
    assert decoded.data["event_time_ms"].tolist() == list(range(50))


def test_broken_values_are_counted_and_the_rest_kept_in_order() -> None:
    values = RecordEncoder(REGISTRY, "transactions.scored-value").encode_many(
        [scored_record(i) for i in range(10)]
    )
    broken = [
        values[0],
        b"not avro",
        values[1][:12],  # cut short inside the card id
        frame(999, b"\x00"),  # unknown schema id
        None,
        values[2],
    ]
    decoded = PrefixDecoder(REGISTRY, SCORED, RESULT_FIELDS).decode_many(broken)
    assert decoded.failed == 4
    assert decoded.first_error
    assert decoded.data["transaction_id"].tolist() == [
        scored_record(0)["transaction_id"].encode(),
        scored_record(2)["transaction_id"].encode(),
    ]


def test_a_writer_with_a_wanted_field_after_an_array_goes_per_record() -> None:
    raw = copy.deepcopy(_raw_scored())
    fields = raw["fields"]
    reasons = next(f for f in fields if f["name"] == "reasons")
    fields.remove(reasons)
    fields.insert(0, reasons)  # an array before every wanted field
    writer = parse_schema(raw)
    assert compile_steps(writer, RESULT_FIELDS) is None
    assert compile_steps(SCORED, RESULT_FIELDS) is not None

    class OneMore(LocalSchemaRegistry):
        def schema(self, schema_id: int) -> Any:
            return writer if schema_id == 777 else super().schema(schema_id)

    registry = OneMore(default_schemas_dir())
    value = RecordEncoder(registry, "x", 777).encode(scored_record(4))
    decoded = PrefixDecoder(registry, SCORED, RESULT_FIELDS).decode_many([value, value])
    assert decoded.failed == 0
    assert decoded.data["score"].tolist() == [scored_record(4)["score"]] * 2


def test_an_empty_batch_gives_empty_columns() -> None:
    decoded = PrefixDecoder(REGISTRY, SCORED, RESULT_FIELDS).decode_many([])
    assert len(decoded) == 0 and set(decoded.data) == set(RESULT_FIELDS)


@pytest.mark.parametrize("big", [2**40, -(2**40), 2**62 - 1])
def test_long_varints_of_every_size(big: int) -> None:
    values = RecordEncoder(REGISTRY, "transactions.scored-value").encode_many(
        [scored_record(1, event_time_ms=big), scored_record(2, event_time_ms=5)]
    )
    decoded = PrefixDecoder(REGISTRY, SCORED, RESULT_FIELDS).decode_many(values)
    assert decoded.data["event_time_ms"].tolist() == [big, 5]
    assert np.issubdtype(decoded.data["event_time_ms"].dtype, np.int64)


def _raw_scored() -> dict[str, Any]:
    import json

    raw: dict[str, Any] = json.loads(
        (default_schemas_dir() / "scored_result.v1.avsc").read_text(encoding="utf-8")
    )
    return raw
