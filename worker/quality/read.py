"""Read topics from their beginning to the end offsets they have now, as columns.

One consumer, no group membership (partitions assigned by hand), read_committed: in
exactly-once mode an aborted batch is never counted. A partition is done when its last
record (at the end offset read at the start) has come, or librdkafka says it reached the end
(the last offsets of a transactional topic are commit markers, never delivered).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import Consumer, TopicPartition
from numpy.typing import NDArray

from worker.errors import FraudWorkerError
from worker.kafka.config import reader_config
from worker.kafka.topics import records_before_end
from worker.quality.decode import PrefixDecoder
from worker.settings import Settings

BATCH_MAX = 20_000
POLL_S = 0.5
METADATA_TIMEOUT_S = 10.0


class TopicReadError(FraudWorkerError):
    """A topic is missing or stopped delivering before its end."""


@dataclass
class TopicRead:
    """What was read of one topic."""

    topic: str
    columns: dict[str, NDArray[Any]]
    records: int = 0
    undecodable: int = 0
    first_error: str | None = None
    exists: bool = True


@dataclass
class _Batches:
    parts: list[dict[str, NDArray[Any]]] = field(default_factory=list)
    records: int = 0
    undecodable: int = 0
    first_error: str | None = None


def partitions_of(consumer: Consumer, topic: str) -> list[TopicPartition] | None:
    """The partitions of ``topic``, or None when the topic does not exist."""
    metadata = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        return None
    return [TopicPartition(topic, p) for p in sorted(metadata.partitions)]


def read_topic(
    settings: Settings,
    topic: str,
    decoder: PrefixDecoder,
    progress: Callable[[int], object] = lambda _n: None,
    stall_s: float = 30.0,
) -> TopicRead:
    """Every record of ``topic`` up to its end offsets now, decoded into columns. Records
    written while reading are not waited for (they may be read all the same)."""
    consumer = Consumer(reader_config(settings, "fraud-evaluate", **{"enable.partition.eof": True}))
    try:
        partitions = partitions_of(consumer, topic)
        if partitions is None:
            return TopicRead(topic, decoder.empty(), exists=False)
        ends = _bounds(consumer, partitions)
        todo = {p: end for p, (start, end) in ends.items() if end > start}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in todo])
        batches = _consume(consumer, topic, todo, decoder, progress, stall_s)
    finally:
        consumer.close()
    columns = _concatenate(batches.parts) if batches.parts else decoder.empty()
    return TopicRead(topic, columns, batches.records, batches.undecodable, batches.first_error)


def records_to_read(settings: Settings, topics: list[str]) -> int:
    """How many records (offsets) the topics hold now: the progress bar's total."""
    consumer = Consumer(reader_config(settings, "fraud-evaluate"))
    try:
        total = 0
        for topic in topics:
            partitions = partitions_of(consumer, topic)
            if partitions is not None:
                total += sum(end - start for start, end in _bounds(consumer, partitions).values())
        return total
    finally:
        consumer.close()


def _bounds(consumer: Consumer, partitions: list[TopicPartition]) -> dict[int, tuple[int, int]]:
    return {
        tp.partition: consumer.get_watermark_offsets(tp, timeout=METADATA_TIMEOUT_S)
        for tp in partitions
    }


def _consume(
    consumer: Consumer,
    topic: str,
    todo: dict[int, int],
    decoder: PrefixDecoder,
    progress: Callable[[int], object],
    stall_s: float,
) -> _Batches:
    batches = _Batches()
    last_progress = time.monotonic()
    while todo:
        messages = consumer.consume(BATCH_MAX, POLL_S)
        values = [m.value() for m in records_before_end(messages, todo)]
        if values:
            _decode(batches, decoder, values)
            progress(len(values))
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > stall_s:
            raise TopicReadError(
                f"{topic}: nothing came for {stall_s:g} s with partitions {sorted(todo)} "
                "not read to their end; is the broker up?"
            )
    return batches



def _decode(batches: _Batches, decoder: PrefixDecoder, values: list[bytes | None]) -> None:
    decoded = decoder.decode_many(values)
    batches.parts.append(decoded.data)
    batches.records += len(values)
    batches.undecodable += decoded.failed
    batches.first_error = batches.first_error or decoded.first_error


def _concatenate(parts: list[dict[str, NDArray[Any]]]) -> dict[str, NDArray[Any]]:
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
