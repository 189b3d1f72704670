"""Event decoding (round trip, schema evolution, every broken-value code) and result encoders."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from io import BytesIO
from typing import Any

import pytest
from fastavro import schemaless_reader
from fastavro.types import Schema
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.codec import (
    DECODE_ERROR_CODES,
    DecodeError,
    EncodeError,
    EventDecoder,
    LocalSchemaRegistry,
    RecordEncoder,
    SchemaRegistry,
    frame,
    unframe,
)
from worker.events import EVENT_FIELDS, EventBatch

V1_ID, V2_ID, V3_ID = 1, 2, 3
V1_FIELDS = EVENT_FIELDS[:12]
Writer = Callable[[int, dict[str, Any]], bytes]  # the ``framed`` and ``avro_body`` fixtures


class PinnedLatest:
    """A registry whose latest id per subject is chosen by the test (e.g. to encode with v2)."""

    def __init__(self, inner: SchemaRegistry, latest: dict[str, int]) -> None:
        self.inner = inner
        self.latest = latest

    def schema(self, schema_id: int) -> Schema:
        return self.inner.schema(schema_id)

    def latest_id(self, subject: str) -> int:
        return self.latest[subject]


def expect_code(decoder: EventDecoder, value: bytes | None, code: str) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decoder.decode(value)
    assert caught.value.code == code, str(caught.value)
    return caught.value


# --- round trip and evolution -------------------------------------------------------------


def test_v2_round_trip_keeps_every_field_and_type(
    registry: LocalSchemaRegistry, decoder: EventDecoder, event: dict[str, Any]
) -> None:
    encoder = RecordEncoder(PinnedLatest(registry, {"t-value": V2_ID}), "t-value")
    event.update(amount=1234.5678, account_age_days=4000, cardholder_verified=True)
    value = encoder.encode(event)
    assert unframe(value)[0] == V2_ID

    decoded = decoder.decode(value)

    assert tuple(decoded) == EVENT_FIELDS
    for name in EVENT_FIELDS:
        assert type(decoded[name]) is type(event[name]), name
        assert decoded[name] == event[name], name
    assert {type(v) for v in decoded.values()} == {str, int, float, bool}


def test_decoded_records_build_an_event_batch(
    framed: Writer, decoder: EventDecoder, event: dict[str, Any]
) -> None:
    values = [framed(V2_ID, {**event, "transaction_id": f"tx{i}"}) for i in range(3)]
    records, indices, failures = decoder.decode_many(values)
    batch = EventBatch.from_records(records)
    assert (len(batch), indices, failures) == (3, [0, 1, 2], [])
    assert batch.records() == records


def test_v1_event_gets_the_v2_defaults(
    framed: Writer, decoder: EventDecoder, event: dict[str, Any]
) -> None:
    v1_event = {name: event[name] for name in V1_FIELDS}

    decoded = decoder.decode(framed(V1_ID, v1_event))

    assert tuple(decoded) == EVENT_FIELDS
    assert decoded["entry_mode"] == "unknown"
    assert decoded["cardholder_verified"] is False
    assert {k: decoded[k] for k in V1_FIELDS} == v1_event


def test_v3_event_loses_exactly_the_new_fields(
    framed: Writer, decoder: EventDecoder, event: dict[str, Any]
) -> None:
    v3_event = {**event, "device_id": "dev-42", "merchant_name": "Corner Shop"}

    decoded = decoder.decode(framed(V3_ID, v3_event))

    assert decoded == event
    assert tuple(decoded) == EVENT_FIELDS


def test_transaction_encoder_uses_the_latest_producer_schema(
    registry: LocalSchemaRegistry, decoder: EventDecoder, event: dict[str, Any]
) -> None:
    encoder = RecordEncoder(registry, "transactions-value")
    assert encoder.schema_id == V3_ID  # the optional v3 fields fall back to null
    assert decoder.decode(encoder.encode(event)) == event


# --- broken values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code"), [(None, "empty"), (b"", "empty"), (b"\0\0\0", "too_short")]
)
def test_header_errors(decoder: EventDecoder, value: bytes | None, code: str) -> None:
    expect_code(decoder, value, code)


def test_wrong_magic_byte(framed: Writer, decoder: EventDecoder, event: dict[str, Any]) -> None:
    value = b"\x01" + framed(V2_ID, event)[1:]
    expect_code(decoder, value, "wrong_magic_byte")


def test_unknown_schema_id(avro_body: Writer, decoder: EventDecoder, event: dict[str, Any]) -> None:
    error = expect_code(decoder, frame(999, avro_body(V2_ID, event)), "unknown_schema_id")
    assert "999" in str(error)


def test_every_truncation_is_truncated_body(
    avro_body: Writer, decoder: EventDecoder, event: dict[str, Any]
) -> None:
    body = avro_body(V2_ID, event)
    for keep in range(len(body)):  # includes the header with no body at all
        expect_code(decoder, frame(V2_ID, body[:keep]), "truncated_body")


def test_trailing_bytes(framed: Writer, decoder: EventDecoder, event: dict[str, Any]) -> None:
    error = expect_code(decoder, framed(V2_ID, event) + b"\0\0", "trailing_bytes")
    assert "2 bytes" in str(error)


def test_invalid_utf8_is_invalid_body(decoder: EventDecoder) -> None:
    body = b"\x04\xff\xfe" + bytes(60)  # transaction_id: 2 bytes that are not UTF-8
    expect_code(decoder, frame(V2_ID, body), "invalid_body")


def test_writer_schema_of_another_record_is_invalid_body(
    framed: Writer, decoder: EventDecoder
) -> None:
    dead_letter = {
        "raw_value": b"x", "raw_key": None, "error_code": "empty", "error": "e",
        "source_topic": "t", "source_partition": 0, "source_offset": 1, "failed_at_ms": 2,
    }  # fmt: skip
    expect_code(decoder, framed(300, dead_letter), "invalid_body")


def test_errors_never_quote_the_payload(
    avro_body: Writer, decoder: EventDecoder, event: dict[str, Any]
) -> None:
    card = "4111111111111111"
    body = avro_body(V2_ID, {**event, "card_id": card})
    for value in (frame(V2_ID, body[:-1]), frame(V2_ID, body + b"\0"), b"\x07" + body):
        with pytest.raises(DecodeError) as caught:
            decoder.decode(value)
        assert card not in str(caught.value) and card not in repr(caught.value)


@settings(max_examples=400, deadline=None)
@given(body=st.binary(max_size=128))
def test_random_bodies_decode_or_raise_decode_error(decoder: EventDecoder, body: bytes) -> None:
    for schema_id in (V1_ID, V2_ID, V3_ID):
        try:
            record = decoder.decode(frame(schema_id, body))
        except DecodeError as exc:
            assert exc.code in DECODE_ERROR_CODES
        else:
            assert tuple(record) == EVENT_FIELDS


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(st.none(), st.binary(max_size=64)))
def test_random_values_decode_or_raise_decode_error(
    decoder: EventDecoder, value: bytes | None
) -> None:
    try:
        decoder.decode(value)
    except DecodeError as exc:
        assert exc.code in DECODE_ERROR_CODES


def test_decode_many_reports_bad_values_by_index(
    framed: Writer, decoder: EventDecoder, event: dict[str, Any]
) -> None:
    good = framed(V2_ID, event)
    old = framed(V1_ID, {name: event[name] for name in V1_FIELDS})
    values: list[bytes | None] = [
        good,
        None,
        old,
        good[:-1],
        b"\x01" + good[1:],
        good + b"\0",
        frame(999, good[5:]),
        good,
    ]

    records, indices, failures = decoder.decode_many(values)

    assert indices == [0, 2, 7]
    assert len(records) == 3 and records[0] == records[2] == event
    assert records[1]["entry_mode"] == "unknown"
    assert [(i, e.code) for i, e in failures] == [
        (1, "empty"),
        (3, "truncated_body"),
        (4, "wrong_magic_byte"),
        (5, "trailing_bytes"),
        (6, "unknown_schema_id"),
    ]


def test_decode_many_of_nothing(decoder: EventDecoder) -> None:
    assert decoder.decode_many([]) == ([], [], [])


# --- result encoders ----------------------------------------------------------------------

SCORED: dict[str, Any] = {
    "transaction_id": "tx1",
    "card_id": "c_1",
    "event_time_ms": 1_777_690_800_000,
    "score": 0.87,
    "decision": "review",
    "source": "fallback",
    "model_version": "lgbm-2026.05.01",
    "confidence": 0.6,
    "reasons": ["new_account", "crypto_merchant"],
    "degraded": True,
    "failed_dependencies": ["primary_model"],
    "input_flags": [],
    "scoring_latency_ms": 3.25,
    "scored_at_ms": 1_777_690_800_123,
}


def round_trip(registry: LocalSchemaRegistry, subject: str, record: dict[str, Any]) -> Any:
    encoder = RecordEncoder(registry, subject)
    schema_id, body = unframe(encoder.encode(record))
    assert schema_id == registry.latest_id(subject)
    stream = BytesIO(body)
    decoded = schemaless_reader(stream, registry.schema(schema_id), None)
    assert stream.tell() == len(body)
    return decoded


def test_scored_result_round_trip(registry: LocalSchemaRegistry) -> None:
    assert round_trip(registry, "transactions.scored-value", SCORED) == SCORED


def test_review_item_round_trip(registry: LocalSchemaRegistry, event: dict[str, Any]) -> None:
    item = {
        "result": SCORED,
        "event": event,
        "review_reasons": ["score_in_review_band"],
        "priority": 12.5,
        "supersedes": None,
    }
    assert round_trip(registry, "transactions.review-value", item) == item


@pytest.mark.parametrize("raw_key", [None, b"tx1"])
def test_dead_letter_round_trip(registry: LocalSchemaRegistry, raw_key: bytes | None) -> None:
    letter = {
        "raw_value": b"\x01\x00\x00\x00\x02garbage",
        "raw_key": raw_key,
        "error_code": "wrong_magic_byte",
        "error": "message value starts with byte 1",
        "source_topic": "transactions",
        "source_partition": 3,
        "source_offset": 2**40,
        "failed_at_ms": 1_777_690_800_000,
    }
    assert round_trip(registry, "transactions.dlq-value", letter) == letter


def test_encode_many_reuses_the_buffer_safely(registry: LocalSchemaRegistry) -> None:
    encoder = RecordEncoder(registry, "transactions.scored-value")
    records = [{**SCORED, "transaction_id": "t" * n, "reasons": ["r"] * n} for n in (30, 1, 5)]
    values = encoder.encode_many(records)
    assert values == [encoder.encode(r) for r in records]
    assert len({len(v) for v in values}) == 3


@pytest.mark.parametrize(
    "change", [{"decision": "maybe"}, {"score": "high"}, {"reasons": None}], ids=str
)
def test_record_that_does_not_fit_is_an_encode_error(
    registry: LocalSchemaRegistry, change: dict[str, Any]
) -> None:
    encoder = RecordEncoder(registry, "transactions.scored-value")
    with pytest.raises(EncodeError, match=r"transactions\.scored-value"):
        encoder.encode({**SCORED, **change})
    assert encoder.encode(SCORED)  # the encoder is still usable afterwards


# --- throughput (printed, not asserted) ---------------------------------------------------


@pytest.mark.parametrize("schema_id", [V2_ID, V1_ID, V3_ID])
def test_decode_throughput(
    framed: Writer, decoder: EventDecoder, event: dict[str, Any], schema_id: int
) -> None:
    n = int(os.environ.get("CODEC_BENCH_EVENTS", "10000"))
    extra = {"device_id": "dev-1", "merchant_name": "Shop"} if schema_id == V3_ID else {}
    values = [
        framed(schema_id, {**event, "transaction_id": f"tx{i:08d}", **extra}) for i in range(n)
    ]
    decoder.decode_many(values[:100])  # warm the pairing cache
    start = time.perf_counter()
    records, _, failures = decoder.decode_many(values)
    elapsed = time.perf_counter() - start
    assert len(records) == n and not failures
    print(
        f"\ndecode v{schema_id}->v2: {n} events in {elapsed * 1000:.1f} ms "
        f"= {n / elapsed:,.0f} events/s"
    )
