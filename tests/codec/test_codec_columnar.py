"""The columnar codec against ``EventDecoder`` and an independent reading of the Avro spec
(``avro_spec``): same records, same errors; and against fastavro's encoder: same bytes."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.codec.avro_spec import spec_answer, stretched, string, transaction_body, zigzag
from tests.factories import BASE_EVENT
from worker.codec import (
    DecodeError,
    EncodeError,
    EventDecoder,
    LocalSchemaRegistry,
    RecordEncoder,
    frame,
)
from worker.codec.columnar import (
    ColumnarDecoder,
    ColumnarEncoder,
    Encoded,
    compile_plan,
)
from worker.events import EVENT_FIELDS, EventBatch

SCORED_SUBJECT = "transactions.scored-value"
V1_FIELDS = EVENT_FIELDS[:12]

texts = st.text(max_size=12)  # any code point, NUL and astral planes included
events = st.fixed_dictionaries(
    {
        "transaction_id": texts,
        "event_time_ms": st.integers(-(2**63), 2**63 - 1),
        "card_id": texts,
        "terminal_id": texts,
        "amount": st.floats(allow_nan=False),
        "currency": texts,
        "merchant_category": texts,
        "channel": texts,
        "country": texts,
        "is_international": st.booleans(),
        "has_international_history": st.booleans(),
        "account_age_days": st.integers(-(2**31), 2**31 - 1),
        "entry_mode": texts,
        "cardholder_verified": st.booleans(),
        "device_id": st.none() | texts,
        "merchant_name": st.none() | texts,
    }
)


@pytest.fixture(scope="module")
def columnar(registry: LocalSchemaRegistry, decoder: EventDecoder) -> ColumnarDecoder:
    return ColumnarDecoder(registry, decoder.reader_schema)


def reference(decoder: EventDecoder, values: list[bytes | None]) -> list[dict[str, Any] | str]:
    """What ``EventDecoder`` (strict walk, then fastavro) makes of each value: its record, or
    its error code."""
    out: list[dict[str, Any] | str] = []
    for value in values:
        try:
            out.append(decoder.decode(value))
        except DecodeError as exc:
            out.append(exc.code)
    return out


def spec_view(decoder: EventDecoder, values: list[bytes | None]) -> list[dict[str, Any] | str]:
    """What the Avro spec makes of each value (an independent reading, ``avro_spec``)."""
    return [spec_answer(decoder.registry, decoder.reader_schema, value) for value in values]


def agree(columnar: ColumnarDecoder, decoder: EventDecoder, values: list[bytes | None]) -> None:
    """Both paths give the spec's answer: the same records, the same codes."""
    expected = comparable(spec_view(decoder, values))
    assert comparable(reference(decoder, values)) == expected
    assert comparable(columnar_view(columnar, values)) == expected


def comparable(answers: list[Any]) -> list[Any]:
    """Answers with NaN (an overwritten amount) as a string: NaN equals no NaN."""
    return [
        {k: "NaN" if v != v else v for k, v in answer.items()}
        if isinstance(answer, dict)
        else answer
        for answer in answers
    ]


def columnar_view(columnar: ColumnarDecoder, values: list[bytes | None]) -> list[Any]:
    """The columnar decoder's answer in the same shape as ``reference``."""
    decoded = columnar.decode_many(values)
    records = EventBatch.from_columns(decoded.columns).records()
    out: list[Any] = [None] * len(values)
    for index, record in zip(decoded.indices.tolist(), records, strict=True):
        out[index] = record
    for index, error in decoded.failures:
        assert out[index] is None, "a row is both decoded and failed"
        out[index] = error.code
    assert None not in out, "a row got no answer"
    return out


def test_reader_field_order_and_types(columnar: ColumnarDecoder) -> None:
    assert tuple(columnar.kinds) == EVENT_FIELDS


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([1, 2, 3]), events), max_size=8))
def test_every_producer_version_decodes_as_the_spec_says(
    columnar: ColumnarDecoder, decoder: EventDecoder, framed: Any, rows: list[Any]
) -> None:
    values: list[bytes | None] = [framed(schema_id, record) for schema_id, record in rows]
    agree(columnar, decoder, values)


@st.composite
def damaged(draw: st.DrawFn, framed: Any) -> bytes | None:
    """A valid value, then cut, extended, overwritten (a byte or a run), spliced into or
    re-labelled."""
    value = bytearray(framed(draw(st.sampled_from([1, 2, 3])), draw(events)))
    how = draw(
        st.sampled_from(
            ["cut", "append", "overwrite", "run", "splice", "schema_id", "none", "intact"]
        )
    )
    if how == "cut":
        return bytes(value[: draw(st.integers(0, len(value) - 1))])
    if how == "append":
        return bytes(value) + draw(st.binary(min_size=1, max_size=4))
    if how == "overwrite":
        at = draw(st.integers(0, len(value) - 1))
        value[at] = draw(st.integers(0, 255))
        return bytes(value)
    if how in ("run", "splice"):
        at = draw(st.integers(5, len(value)))
        piece = draw(st.binary(min_size=1, max_size=6))
        end = at + len(piece) if how == "run" else at
        return bytes(value[:at] + piece + value[end:])
    if how == "schema_id":
        value[1:5] = struct.pack(">I", draw(st.sampled_from([0, 1, 2, 3, 100, 2**31 - 1])))
        return bytes(value)
    return None if how == "none" else bytes(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_values_get_the_specs_answer_from_both_paths(
    columnar: ColumnarDecoder, decoder: EventDecoder, framed: Any, data: st.DataObject
) -> None:
    values = data.draw(st.lists(damaged(framed), min_size=1, max_size=6))
    agree(columnar, decoder, values)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_random_bodies_get_the_specs_answer_from_both_paths(
    columnar: ColumnarDecoder, decoder: EventDecoder, body: bytes
) -> None:
    values: list[bytes | None] = [frame(2, body), frame(1, body), frame(3, body)]
    agree(columnar, decoder, values)


# Encodings of one field, valid or not, aimed at every rule the spec has for it: any integer
# (beyond 64 bits too) in a varint of any width, any byte for a boolean, any bytes with any
# (even negative) length for a string, any union index with either branch's bytes.
wide_ints = st.integers(-(2**66), 2**66) | st.sampled_from(
    [-(2**63) - 1, -(2**63), -(2**31) - 1, -(2**31), 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63]
)
varints = st.builds(stretched, st.builds(zigzag, wide_ints), st.integers(0, 6))
strings = st.builds(string, st.binary(max_size=6)) | st.builds(
    lambda length, raw: zigzag(length) + raw, st.integers(-3, 8), st.binary(max_size=6)
)
union_indices = varints | st.builds(zigzag, st.integers(-2, 3))
unions = st.builds(lambda index, rest: index + rest, union_indices, st.just(b"") | strings)
FIELD_DAMAGE = {
    "string": strings,
    "int": varints,
    "long": varints,
    "boolean": st.integers(0, 255).map(lambda byte: bytes([byte])),
    "double": st.binary(min_size=8, max_size=8),
}


@st.composite
def field_damaged(draw: st.DrawFn, registry: LocalSchemaRegistry) -> bytes:
    """A value of writer v1, v2 or v3 with one to three fields re-encoded, maybe wrongly,
    and maybe cut at the end."""
    schema_id = draw(st.sampled_from([1, 2, 3]))
    writer = registry.schema(schema_id)
    fields = draw(st.lists(st.sampled_from(writer["fields"]), min_size=1, max_size=3))
    raw = {}
    for field in fields:
        kind = field["type"]
        raw[field["name"]] = draw(unions if isinstance(kind, list) else FIELD_DAMAGE[kind])
    body = transaction_body(writer, draw(events), **raw)
    return frame(schema_id, body[: len(body) - draw(st.integers(0, 2))])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_fields_get_the_specs_answer_from_both_paths(
    columnar: ColumnarDecoder,
    decoder: EventDecoder,
    registry: LocalSchemaRegistry,
    data: st.DataObject,
) -> None:
    values: list[bytes | None] = data.draw(
        st.lists(field_damaged(registry), min_size=1, max_size=6)
    )
    agree(columnar, decoder, values)


def test_odd_encodings_get_the_specs_answer_from_both_paths(
    columnar: ColumnarDecoder, decoder: EventDecoder, framed: Any
) -> None:
    """A boolean byte of 2 (rejected), a 10-byte varint (valid): both paths agree."""
    value = bytearray(framed(2, BASE_EVENT))
    bool_at = len(value) - 1  # cardholder_verified is the last byte
    as_two = bytes(value[:bool_at]) + b"\x02"
    huge = dict(BASE_EVENT, event_time_ms=2**63 - 1)  # zig-zag needs 10 bytes
    values: list[bytes | None] = [as_two, framed(2, huge), framed(2, BASE_EVENT)]
    agree(columnar, decoder, values)
    assert reference(decoder, values)[0] == "invalid_body"  # fastavro alone took it as True


def test_rows_keep_their_order_across_versions_and_failures(
    columnar: ColumnarDecoder, framed: Any
) -> None:
    values: list[bytes | None] = []
    for i in range(30):
        version = (1, 2, 3)[i % 3]
        values.append(framed(version, {**BASE_EVENT, "transaction_id": f"tx{i}"}))
        if i % 7 == 0:
            values.append(b"\x00\x00\x00\x00\x02\xff")
    decoded = columnar.decode_many(values)
    assert decoded.columns["transaction_id"].tolist() == [f"tx{i}" for i in range(30)]
    assert [values[i] for i in decoded.indices.tolist()] == [v for v in values if len(v or b"") > 6]
    assert {error.code for _, error in decoded.failures} == {"truncated_body"}


def test_nothing_to_decode(columnar: ColumnarDecoder) -> None:
    decoded = columnar.decode_many([])
    assert len(EventBatch.from_columns(decoded.columns)) == 0
    assert decoded.failures == [] and len(decoded.indices) == 0


def record(name: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": fields}


MAP_OF_LONGS = {"type": "map", "values": "long"}
READER = record("T", [{"name": "a", "type": "long"}, {"name": "b", "type": "string"}])


@pytest.mark.parametrize(
    ("writer", "supported"),
    [
        (READER, True),
        (record("T", [{"name": "a", "type": "int"}, {"name": "b", "type": "string"}]), True),
        (record("T", [{"name": "b", "type": "string"}, {"name": "a", "type": "long"}]), True),
        (record("T", [{"name": "a", "type": "long"}]), False),  # b has no default
        (record("U", READER["fields"]), False),  # another record
        (record("T", [*READER["fields"], {"name": "m", "type": ["null", "long"]}]), True),
        (record("T", [*READER["fields"], {"name": "m", "type": MAP_OF_LONGS}]), False),
        (
            record(
                "T",
                [
                    {"name": "a", "type": {"type": "long", "logicalType": "timestamp-millis"}},
                    {"name": "b", "type": "string"},
                ],
            ),
            False,
        ),
        (record("T", [{"name": "a", "type": "double"}, {"name": "b", "type": "string"}]), False),
    ],
)
def test_plans_only_for_what_columns_hold_exactly(writer: dict[str, Any], supported: bool) -> None:
    assert (compile_plan(writer, READER) is not None) == supported


def test_a_reader_with_aliases_is_left_to_fastavro() -> None:
    reader = record("T", [{"name": "a", "type": "long", "aliases": ["x"]}])
    assert compile_plan(record("T", [{"name": "x", "type": "long"}]), reader) is None


# --- encoding -------------------------------------------------------------------------------

results = st.fixed_dictionaries(
    {
        "transaction_id": texts,
        "card_id": texts,
        "event_time_ms": st.integers(-(2**63), 2**63 - 1),
        "score": st.floats(allow_nan=False),
        "decision": st.sampled_from(["allow", "review", "block"]),
        "source": st.sampled_from(["cache", "primary", "fallback", "rules", "safe_default"]),
        "model_version": texts,
        "confidence": st.floats(0, 1),
        "reasons": st.lists(texts, max_size=3),
        "degraded": st.booleans(),
        "failed_dependencies": st.lists(texts, max_size=3),
        "input_flags": st.lists(texts, max_size=2),
        "scoring_latency_ms": st.floats(allow_nan=False),
        "scored_at_ms": st.integers(-(2**63), 2**63 - 1),
    }
)


def as_columns(encoder: ColumnarEncoder, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Columns of every kind the encoder takes: numbers, enums, strings (str and bytes),
    and Encoded lookups for arrays and a repeated string."""
    enums = {
        "decision": ["allow", "review", "block"],
        "source": ["cache", "primary", "fallback", "rules", "safe_default"],
    }

    def column(name: str) -> list[Any]:
        return [r[name] for r in records]

    def looked_up(name: str) -> Encoded:
        distinct = sorted({repr(v): v for v in column(name)}.items())
        position = {key: i for i, (key, _) in enumerate(distinct)}
        codes = np.array([position[repr(v)] for v in column(name)], dtype=np.intp)
        return Encoded(codes, encoder.table(name, [v for _, v in distinct]))

    columns: dict[str, Any] = {
        "transaction_id": column("transaction_id"),
        "card_id": [c.encode() for c in column("card_id")],
        "event_time_ms": np.array(column("event_time_ms"), dtype=np.int64),
        "score": np.array(column("score")),
        "confidence": np.array(column("confidence")),
        "scoring_latency_ms": np.array(column("scoring_latency_ms")),
        "scored_at_ms": np.array(column("scored_at_ms"), dtype=np.int64),
        "degraded": np.array(column("degraded"), dtype=np.bool_),
    }
    for name, symbols in enums.items():
        columns[name] = np.array([symbols.index(v) for v in column(name)], dtype=np.int8)
    for name in ("model_version", "reasons", "failed_dependencies", "input_flags"):
        columns[name] = looked_up(name)
    return columns


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(results, min_size=1, max_size=8))
def test_columns_encode_to_fastavros_bytes(
    registry: LocalSchemaRegistry, records: list[dict[str, Any]]
) -> None:
    encoder = ColumnarEncoder(registry, SCORED_SUBJECT)
    expected = RecordEncoder(registry, SCORED_SUBJECT).encode_many(records)
    assert encoder.encode_columns(as_columns(encoder, records), len(records)) == expected


def test_column_errors_are_encode_errors(registry: LocalSchemaRegistry) -> None:
    encoder = ColumnarEncoder(registry, SCORED_SUBJECT)
    base = {
        "transaction_id": "t",
        "card_id": "c",
        "event_time_ms": 1,
        "score": 0.5,
        "decision": "allow",
        "source": "primary",
        "model_version": "v",
        "confidence": 1.0,
        "reasons": [],
        "degraded": False,
        "failed_dependencies": [],
        "input_flags": [],
        "scoring_latency_ms": 1.0,
        "scored_at_ms": 2,
    }
    columns = as_columns(encoder, [base, base])
    with pytest.raises(EncodeError, match="missing"):
        encoder.encode_columns({k: v for k, v in columns.items() if k != "score"}, 2)
    with pytest.raises(EncodeError, match="enum index"):
        encoder.encode_columns({**columns, "decision": np.array([0, 3])}, 2)
    with pytest.raises(EncodeError, match="rows"):
        encoder.encode_columns({**columns, "score": np.array([0.5])}, 2)
    with pytest.raises(EncodeError, match="reasons"):
        encoder.table("reasons", [None])
    assert encoder.encode_columns(columns, 0) == []
    expected = RecordEncoder(registry, SCORED_SUBJECT).encode_many([base, base])
    assert encoder.encode_columns(columns, 2) == expected
