"""The dead-letter topic read from its start, and which dead letters an operator selects.

A plain reader: no consumer group (partitions assigned by hand, nothing committed), committed
records only (read_committed), up to the end offsets at the start of the read. A dead letter
holds the raw input exactly as consumed, unless it was cut at
``worker.dead_letter_raw_max_bytes`` (its headers say so): such a one cannot be replayed from
the dead-letter topic, only from its source topic, partition and offset.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from worker.codec import DecodeError, EventDecoder, default_schemas_dir, load_schema
from worker.codec.configured import schema_registry
from worker.errors import FraudWorkerError
from worker.kafka.config import reader_config
from worker.kafka.topics import records_before_end
from worker.ops.lag import TIMEOUT_S, topic_partitions
from worker.settings import Settings

DEAD_LETTER_SCHEMA = "dead_letter.v1.avsc"
BATCH_MAX = 500
POLL_S = 0.5
# The marker ``dead_letter_outputs`` appends to the error of a cut dead letter (a fallback
# for a dead letter without headers).
TRUNCATED_MARKER = " [raw value of "


class DeadLetterReadError(FraudWorkerError):
    """The dead-letter topic stopped delivering before its end."""


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter and where it lies in the dead-letter topic. Its raw input is left out
    of ``repr`` (it holds card ids and event contents)."""

    dlq_partition: int
    dlq_offset: int
    error_code: str
    source_topic: str
    source_partition: int
    source_offset: int
    failed_at_ms: int
    raw_size: int  # of the value as consumed, before any cut
    truncated: bool
    raw_value: bytes = field(repr=False)
    raw_key: bytes | None = field(repr=False)

    @property
    def where(self) -> str:
        """Its place in the dead-letter topic: ``partition:offset``."""
        return f"{self.dlq_partition}:{self.dlq_offset}"

    @property
    def source(self) -> str:
        """Where its input was consumed: ``topic partition:offset``."""
        return f"{self.source_topic} {self.source_partition}:{self.source_offset}"


def dead_letter_of(message: Message, record: dict[str, Any]) -> DeadLetter:
    """A dead letter from its decoded record and its headers (``raw_size``, ``raw_truncated``)."""
    listed = message.headers() or []
    pairs = listed.items() if isinstance(listed, dict) else listed
    headers = {name: value for name, value in pairs if isinstance(value, bytes)}
    raw = bytes(record["raw_value"])
    raw_size = int(headers.get("raw_size", str(len(raw)).encode()))
    truncated = (
        headers.get("raw_truncated") == b"true"
        or raw_size > len(raw)
        or ("raw_truncated" not in headers and TRUNCATED_MARKER in record["error"])
    )
    key = record["raw_key"]
    return DeadLetter(
        dlq_partition=int(message.partition() or 0),
        dlq_offset=int(message.offset() or 0),
        error_code=record["error_code"],
        source_topic=record["source_topic"],
        source_partition=record["source_partition"],
        source_offset=record["source_offset"],
        failed_at_ms=record["failed_at_ms"],
        raw_size=raw_size,
        truncated=truncated,
        raw_value=raw,
        raw_key=bytes(key) if key is not None else None,
    )


@dataclass(frozen=True)
class Selection:
    """Which dead letters to replay: every filter given must hold (none given: all)."""

    codes: frozenset[str] = frozenset()  # error codes; empty: any
    since_ms: int | None = None  # failed at or after (ms since the epoch)
    until_ms: int | None = None  # failed before
    source_topic: str | None = None  # consumed from this topic; None: any
    limit: int | None = None  # at most this many, the first in the dead-letter topic

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (not self.codes or letter.error_code in self.codes)
            and (self.since_ms is None or letter.failed_at_ms >= self.since_ms)
            and (self.until_ms is None or letter.failed_at_ms < self.until_ms)
            and (self.source_topic is None or letter.source_topic == self.source_topic)
        )

    def select(self, letters: Iterable[DeadLetter]) -> Iterator[DeadLetter]:
        """The matching dead letters in the order given, up to ``limit``."""
        if self.limit == 0:
            return
        taken = 0
        for letter in letters:
            if self.matches(letter):
                yield letter
                taken += 1
                if self.limit is not None and taken >= self.limit:
                    return


@dataclass
class ReadCounts:
    """What the read met: dead letters read, and records that did not decode as one."""

    read: int = 0
    unreadable: int = 0


def dead_letter_decoder(settings: Settings) -> EventDecoder:
    """Dead letters as the worker wrote them (writer schemas from the configured registry)."""
    reader = load_schema(default_schemas_dir() / DEAD_LETTER_SCHEMA)
    return EventDecoder(schema_registry(settings), reader)


def read_dead_letters(
    settings: Settings, counts: ReadCounts, stall_s: float = 30.0
) -> Iterator[DeadLetter]:
    """Every dead letter of ``topics.dead_letter`` up to its end offsets now, in order per
    partition. A record that does not decode as a dead letter is counted, not yielded."""
    decoder = dead_letter_decoder(settings)
    topic = settings.topics.dead_letter
    consumer = Consumer(reader_config(settings, "fraud-dlq", **{"enable.partition.eof": True}))
    try:
        todo = _assign_to_end(consumer, topic, settings)
        last_progress = time.monotonic()
        while todo:
            messages = consumer.consume(BATCH_MAX, POLL_S)
            records = records_before_end(messages, todo)
            if records:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > stall_s:
                raise DeadLetterReadError(
                    f"{topic}: nothing came for {stall_s:g} s with partitions {sorted(todo)} "
                    "not read to their end; is the broker up?"
                )
            for message in records:
                letter = _decoded(message, decoder, counts)
                if letter is not None:
                    yield letter
    finally:
        consumer.close()


def _assign_to_end(consumer: Consumer, topic: str, settings: Settings) -> dict[int, int]:
    """Assign every non-empty partition from its start; their end offsets now, by partition."""
    todo: dict[int, int] = {}
    starts = []
    for tp in topic_partitions(consumer, topic, settings):
        low, high = consumer.get_watermark_offsets(tp, timeout=TIMEOUT_S)
        if high > low:
            todo[tp.partition] = high
            starts.append(TopicPartition(topic, tp.partition, low))
    if starts:
        consumer.assign(starts)
    return todo



def _decoded(message: Message, decoder: EventDecoder, counts: ReadCounts) -> DeadLetter | None:
    counts.read += 1
    try:
        return dead_letter_of(message, decoder.decode(message.value()))
    except (DecodeError, KeyError, TypeError, ValueError):
        counts.unreadable += 1
        return None
