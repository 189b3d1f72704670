"""What the Avro spec rejects is rejected by both decoders, with the right code (issue 9, 7).

Each case is a hand-made value that fastavro used to accept (and the worker then scored) or
rejected with the wrong code; the columnar batch decoder and ``EventDecoder.decode`` must both
dead-letter it now, with the same code. Then what the spec allows at the edges of each rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastavro import parse_schema

from tests.codec.avro_spec import (
    spec_answer,
    stretched,
    string,
    transaction_body,
    uvarint,
    zigzag,
)
from tests.factories import BASE_EVENT
from worker.codec import DecodeError, EventDecoder, LocalSchemaRegistry, RecordEncoder, frame
from worker.codec.columnar import ColumnarDecoder
from worker.codec.strict import StrictBody
from worker.events import EventBatch

CARD = "4111111111111111"  # must never show in an error message
EVENT: dict[str, Any] = {**BASE_EVENT, "card_id": CARD}
V3_EVENT: dict[str, Any] = {**EVENT, "device_id": "dev-42", "merchant_name": "Corner Shop"}


@pytest.fixture(scope="module")
def columnar(registry: LocalSchemaRegistry, decoder: EventDecoder) -> ColumnarDecoder:
    return ColumnarDecoder(registry, decoder.reader_schema)


def value(
    registry: LocalSchemaRegistry, schema_id: int, raw: dict[str, bytes] | None = None, cut: int = 0
) -> bytes:
    """The hand-made value: ``V3_EVENT`` as ``schema_id`` writes it, with the ``raw`` fields."""
    body = transaction_body(registry.schema(schema_id), V3_EVENT, **(raw or {}))
    return frame(schema_id, body[: len(body) - cut])


# (name, schema id, bytes cut off the end, raw fields, expected code)
INVALID: list[tuple[str, int, int, dict[str, bytes], str]] = [
    ("boolean byte 2", 2, 0, {"is_international": b"\x02"}, "invalid_body"),
    ("boolean byte 0xff, last field", 2, 0, {"cardholder_verified": b"\xff"}, "invalid_body"),
    ("boolean byte 0x80, v1", 1, 0, {"has_international_history": b"\x80"}, "invalid_body"),
    ("int of 2**32 + 100", 2, 0, {"account_age_days": zigzag(2**32 + 100)}, "invalid_body"),
    ("int of 2**31", 1, 0, {"account_age_days": zigzag(2**31)}, "invalid_body"),
    ("int of -(2**31) - 1", 3, 0, {"account_age_days": zigzag(-(2**31) - 1)}, "invalid_body"),
    ("int varint of 6 bytes", 2, 0, {"account_age_days": stretched(zigzag(3), 5)}, "invalid_body"),
    ("long varint of 11 bytes", 2, 0, {"event_time_ms": stretched(zigzag(0), 10)}, "invalid_body"),
    ("long beyond 64 bits", 2, 0, {"event_time_ms": uvarint(2**64 + 5)}, "invalid_body"),
    ("long of 2**63", 3, 0, {"event_time_ms": zigzag(2**63)}, "invalid_body"),
    ("union index -1", 3, 0, {"device_id": zigzag(-1) + string(b"dev")}, "invalid_body"),
    ("union index 2, last field", 3, 0, {"merchant_name": zigzag(2)}, "invalid_body"),
    ("union index 2**40", 3, 0, {"device_id": zigzag(2**40)}, "invalid_body"),
    ("v3 cut inside its last string", 3, 4, {}, "truncated_body"),
    ("v3 cut after the last union index", 3, 12, {}, "truncated_body"),
    ("v1 cut inside its last varint", 1, 1, {"account_age_days": zigzag(4000)}, "truncated_body"),
    ("invalid UTF-8, writer-only field", 3, 0, {"device_id": b"\x02" + string(b"\xff\xfe")},
     "invalid_body"),
    ("overlong UTF-8 NUL, writer-only", 3, 0, {"merchant_name": b"\x02" + string(b"\xc0\x80")},
     "invalid_body"),
    ("UTF-16 surrogate in a reader field", 2, 0, {"channel": string(b"\xed\xa0\x80")},
     "invalid_body"),
    ("negative length, last field", 3, 0, {"merchant_name": b"\x02" + zigzag(-1)}, "invalid_body"),
    ("negative length, reader field", 2, 0, {"transaction_id": zigzag(-1)}, "invalid_body"),
    ("negative length, v1 string", 1, 0, {"country": zigzag(-3)}, "invalid_body"),
    ("trailing bytes", 2, 0, {"cardholder_verified": b"\x01\x00"}, "trailing_bytes"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("schema_id", "cut", "raw", "code"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_what_the_spec_rejects_is_dead_lettered_by_both_paths(
    registry: LocalSchemaRegistry,
    decoder: EventDecoder,
    columnar: ColumnarDecoder,
    schema_id: int,
    cut: int,
    raw: dict[str, bytes],
    code: str,
) -> None:
    bad = value(registry, schema_id, raw, cut)
    good = value(registry, schema_id)
    assert spec_answer(registry, decoder.reader_schema, bad) == code  # the case is what it says

    with pytest.raises(DecodeError) as caught:
        decoder.decode(bad)
    assert caught.value.code == code, str(caught.value)
    assert CARD not in str(caught.value)

    decoded = columnar.decode_many([good, bad, good])
    assert decoded.indices.tolist() == [0, 2]
    assert [(i, e.code) for i, e in decoded.failures] == [(1, code)]
    assert str(decoded.failures[0][1]) == str(caught.value)


def test_messages_name_the_field_and_the_rule(
    registry: LocalSchemaRegistry, decoder: EventDecoder
) -> None:
    cases = {
        "is_international": ({"is_international": b"\x02"}, "boolean"),
        "account_age_days": ({"account_age_days": zigzag(2**32)}, "32 bits"),
        "device_id": ({"device_id": zigzag(-1)}, "union"),
        "merchant_name": ({"merchant_name": b"\x02" + string(b"\xff")}, "UTF-8"),
    }
    for field, (raw, rule) in cases.items():
        with pytest.raises(DecodeError) as caught:
            decoder.decode(value(registry, 3, raw))
        assert field in str(caught.value) and rule in str(caught.value), str(caught.value)


EDGES: list[tuple[str, int, dict[str, bytes], dict[str, Any]]] = [
    ("int of -(2**31)", 2, {"account_age_days": zigzag(-(2**31))}, {"account_age_days": -(2**31)}),
    ("int of 2**31 - 1", 1, {"account_age_days": zigzag(2**31 - 1)},
     {"account_age_days": 2**31 - 1}),
    ("int in 5 bytes, not shortest", 2, {"account_age_days": stretched(zigzag(3), 4)},
     {"account_age_days": 3}),
    ("long of 2**63 - 1", 3, {"event_time_ms": zigzag(2**63 - 1)}, {"event_time_ms": 2**63 - 1}),
    ("long of -(2**63)", 2, {"event_time_ms": zigzag(-(2**63))}, {"event_time_ms": -(2**63)}),
    ("long in 10 bytes, not shortest", 2, {"event_time_ms": stretched(zigzag(-7), 9)},
     {"event_time_ms": -7}),
    ("string length in 3 bytes", 2, {"currency": stretched(b"\x06", 2) + b"EUR"}, {}),
    ("empty and astral strings", 3, {"channel": string(b""), "device_id": b"\x02" +
     string("\U0001f600".encode())}, {"channel": ""}),
    ("union index in 2 bytes", 3, {"merchant_name": stretched(zigzag(0), 1)}, {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("schema_id", "raw", "changes"), [case[1:] for case in EDGES], ids=[c[0] for c in EDGES]
)
def test_what_the_spec_allows_at_the_edges_is_decoded_by_both_paths(
    registry: LocalSchemaRegistry,
    decoder: EventDecoder,
    columnar: ColumnarDecoder,
    schema_id: int,
    raw: dict[str, bytes],
    changes: dict[str, Any],
) -> None:
    edge = value(registry, schema_id, raw)
    record = decoder.decode(edge)
    expected = {**EVENT, **changes}
    if schema_id == 1:
        expected.update(entry_mode="unknown", cardholder_verified=False)
    assert record == expected == spec_answer(registry, decoder.reader_schema, edge)
    decoded = columnar.decode_many([edge])
    assert decoded.failures == []
    assert EventBatch.from_columns(decoded.columns).records() == [expected]


# --- the strict walk over the other kinds of schema (results, dead letters) ---------------


def test_results_and_review_items_pass_the_strict_walk(
    registry: LocalSchemaRegistry, decoder: EventDecoder
) -> None:
    scored = {
        "transaction_id": "tx1", "card_id": CARD, "event_time_ms": 1, "score": 0.5,
        "decision": "block", "source": "rules", "model_version": "v", "confidence": 1.0,
        "reasons": ["a", "b"], "degraded": True, "failed_dependencies": [], "input_flags": ["x"],
        "scoring_latency_ms": 1.5, "scored_at_ms": 2,
    }  # fmt: skip
    item = {
        "result": scored,
        "event": dict(BASE_EVENT),
        "review_reasons": ["r"],
        "priority": 0.25,
        "supersedes": {"source": "fallback", "score": 0.1, "decision": "allow", "scored_at_ms": 1},
    }
    for subject, record in (
        ("transactions.scored-value", scored),
        ("transactions.review-value", item),
    ):
        encoded = RecordEncoder(registry, subject).encode(record)
        reader = EventDecoder(registry, registry.schema(registry.latest_id(subject)))
        assert reader.decode(encoded) == record


def strict(schema: Any) -> StrictBody:
    return StrictBody(parse_schema(schema))


def rejects(schema: Any, body: bytes) -> str:
    with pytest.raises(DecodeError) as caught:
        strict(schema).check(body, 7)
    return caught.value.code


ENUM = {"type": "enum", "name": "E", "symbols": ["a", "b"]}


@pytest.mark.parametrize(
    ("schema", "body", "code"),
    [
        (ENUM, zigzag(2), "invalid_body"),
        (ENUM, zigzag(-1), "invalid_body"),
        ({"type": "array", "items": "long"}, zigzag(2) + zigzag(1), "truncated_body"),
        ({"type": "array", "items": "long"}, zigzag(-2) + zigzag(3) + b"\x02\x04\x00",
         "invalid_body"),  # the block says 3 bytes, its items take 2
        ({"type": "array", "items": "boolean"}, zigzag(1) + b"\x03\x00", "invalid_body"),
        ({"type": "map", "values": "int"}, zigzag(1) + string(b"\xff") + b"\x00\x00",
         "invalid_body"),
        ({"type": "fixed", "name": "F", "size": 4}, b"abc", "truncated_body"),
        ("float", b"abc", "truncated_body"),
        ("bytes", zigzag(-1), "invalid_body"),
    ],
)  # fmt: skip
def test_strict_walk_rejects(schema: Any, body: bytes, code: str) -> None:
    assert rejects(schema, body) == code


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        (ENUM, zigzag(1)),
        ({"type": "array", "items": "long"}, zigzag(-2) + zigzag(2) + b"\x02\x04" + zigzag(1)
         + b"\x06\x00"),
        ({"type": "map", "values": ENUM}, zigzag(1) + string(b"k") + zigzag(0) + b"\x00"),
        ({"type": "fixed", "name": "F", "size": 2}, b"\xff\xff"),
        (["null", "bytes"], zigzag(1) + string(b"\xff")),
        ({"type": "record", "name": "L", "fields": [
            {"name": "next", "type": ["null", "L"]}]}, zigzag(1) + zigzag(1) + zigzag(0)),
    ],
)  # fmt: skip
def test_strict_walk_accepts(schema: Any, body: bytes) -> None:
    strict(schema).check(body, 7)  # raises if it does not pass


def test_a_huge_count_of_empty_items_is_not_walked_one_by_one() -> None:
    schema = {"type": "array", "items": "null"}
    assert rejects(schema, zigzag(2**62) + b"\x00") == "invalid_body"
    strict(schema).check(zigzag(3) + b"\x00", 7)


def test_no_row_is_lost_when_strict_rejections_mix_with_good_rows(
    registry: LocalSchemaRegistry, columnar: ColumnarDecoder
) -> None:
    rows = [value(registry, 1 + i % 3, {"account_age_days": zigzag(i)}) for i in range(12)]
    rows[4] = value(registry, 2, {"is_international": b"\x07"})
    rows[9] = value(registry, 3, {"device_id": b"\x02" + string(b"\x80")})
    decoded = columnar.decode_many(rows)
    assert decoded.indices.tolist() == [i for i in range(12) if i not in (4, 9)]
    assert np.array_equal(decoded.columns["account_age_days"], decoded.indices)


def test_values_nested_deeper_than_the_stack_are_invalid_not_a_crash() -> None:
    linked = {"type": "record", "name": "L", "fields": [{"name": "next", "type": ["null", "L"]}]}
    assert rejects(linked, b"\x02" * 100_000 + b"\x00") == "invalid_body"
