"""Dead letters as the worker writes them, read back for a replay, and which ones a
selection takes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from confluent_kafka import Message

from tests.kafka.stubs import StubMessage
from worker.codec import (
    EventDecoder,
    LocalSchemaRegistry,
    RecordEncoder,
    default_schemas_dir,
    load_schema,
)
from worker.ops.dead_letters import DEAD_LETTER_SCHEMA, DeadLetter, Selection, dead_letter_of
from worker.sinks.outputs import Headers, Limits, Rejected, dead_letter_outputs

REGISTRY = LocalSchemaRegistry(default_schemas_dir())
ENCODER = RecordEncoder(REGISTRY, "transactions.dlq-value")
DECODER = EventDecoder(REGISTRY, load_schema(default_schemas_dir() / DEAD_LETTER_SCHEMA))


@dataclass
class DeadLetterMessage(StubMessage):
    """A record of the dead-letter topic, with its headers."""

    _headers: Headers | None = None

    def headers(self) -> Headers | None:
        return self._headers


def written(inputs: list[StubMessage], cut: int, with_headers: bool = True) -> list[DeadLetter]:
    """``inputs`` dead-lettered by the worker's own writer, then read back as the replay does."""
    code, error = "unknown_schema_id", "schema id 999 is unknown"
    rejected = [Rejected(cast(Message, m), code, error) for m in inputs]
    out = dead_letter_outputs(rejected, "dlq", ENCODER, Limits(1_000_000, cut))
    assert out.headers is not None
    letters = []
    for offset, (key, value, headers) in enumerate(
        zip(out.keys, out.values, out.headers, strict=True)
    ):
        message = DeadLetterMessage("dlq", 0, offset, value, key, None, headers)
        if not with_headers:
            message._headers = None
        letters.append(dead_letter_of(cast(Message, message), DECODER.decode(value)))
    return letters


def test_a_dead_letter_keeps_the_input_bytes_key_and_origin() -> None:
    small = StubMessage("transactions", 2, 345, b"\x00\x00\x00\x03\xe7body", b"card-1")
    [letter] = written([small], cut=64)
    assert letter.raw_value == small.value() and letter.raw_key == b"card-1"
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "transactions", 2, 345,
    )  # fmt: skip
    assert letter.error_code == "unknown_schema_id" and not letter.truncated
    assert letter.raw_size == len(small.value() or b"") and letter.where == "0:0"
    assert letter.source == "transactions 2:345"


def test_a_dead_letter_cut_at_the_raw_limit_is_truncated_with_or_without_headers() -> None:
    inputs = [
        StubMessage("transactions", 0, 7, b"x" * 100, b"card-2"),
        StubMessage("transactions", 0, 8, b"y" * 10, b"k" * 100),  # only the key is cut
        StubMessage("transactions", 0, 9, b"z" * 64, None),  # exactly at the limit: whole
    ]
    for with_headers in (True, False):
        long_value, long_key, at_limit = written(inputs, cut=64, with_headers=with_headers)
        assert long_value.truncated and len(long_value.raw_value) == 64
        assert long_key.truncated
        assert not at_limit.truncated and at_limit.raw_key is None
    assert written(inputs, cut=64)[0].raw_size == 100, "the size before the cut, from the header"


def test_a_dead_letters_repr_shows_no_payload_or_card_id() -> None:
    [letter] = written([StubMessage("transactions", 0, 1, b"secret-event", b"card-4242")], 64)
    shown = repr(letter)
    assert "secret-event" not in shown and "card-4242" not in shown
    assert "unknown_schema_id" in shown


def letter(offset: int, code: str, failed_at_ms: int, topic: str = "transactions") -> DeadLetter:
    return DeadLetter(0, offset, code, topic, 0, offset, failed_at_ms, 4, False, b"raw", b"key")


LETTERS = [
    letter(0, "unknown_schema_id", 1_000),
    letter(1, "wrong_magic_byte", 2_000),
    letter(2, "unknown_schema_id", 3_000),
    letter(3, "unknown_schema_id", 4_000, topic="transactions.labels"),
    letter(4, "invalid_body", 5_000),
    letter(5, "unknown_schema_id", 6_000),
]


def offsets(selection: Selection) -> list[int]:
    return [d.dlq_offset for d in selection.select(LETTERS)]


def test_no_filter_selects_every_dead_letter_in_order() -> None:
    assert offsets(Selection()) == [0, 1, 2, 3, 4, 5]


def test_codes_and_source_topic_select_only_theirs() -> None:
    assert offsets(Selection(codes=frozenset({"unknown_schema_id"}))) == [0, 2, 3, 5]
    both = frozenset({"wrong_magic_byte", "invalid_body"})
    assert offsets(Selection(codes=both, source_topic="transactions")) == [1, 4]
    labels = Selection(codes=frozenset({"unknown_schema_id"}), source_topic="transactions.labels")
    assert offsets(labels) == [3]
    assert offsets(Selection(codes=frozenset({"no_such_code"}))) == []


def test_since_is_inclusive_and_until_exclusive() -> None:
    assert offsets(Selection(since_ms=3_000)) == [2, 3, 4, 5]
    assert offsets(Selection(until_ms=3_000)) == [0, 1]
    assert offsets(Selection(since_ms=2_000, until_ms=5_000)) == [1, 2, 3]


def test_limit_takes_the_first_matching_ones() -> None:
    codes = frozenset({"unknown_schema_id"})
    assert offsets(Selection(codes=codes, source_topic="transactions", limit=2)) == [0, 2]
    assert offsets(Selection(limit=1)) == [0]
    assert offsets(Selection(limit=100)) == [0, 1, 2, 3, 4, 5]
    assert offsets(Selection(limit=0)) == []


def test_selection_stops_reading_once_the_limit_is_reached() -> None:
    read: list[int] = []

    def reading() -> Iterator[DeadLetter]:
        for item in LETTERS:
            read.append(item.dlq_offset)
            yield item

    picked = list(Selection(limit=2).select(reading()))
    assert [d.dlq_offset for d in picked] == [0, 1] and read == [0, 1]
