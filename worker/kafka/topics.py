"""Create and describe the worker's topics, idempotently."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # public, not in __all__
    AdminClient,
    ConfigResource,
    ResourceType,
)
from confluent_kafka.cimpl import NewTopic

from worker.errors import FraudWorkerError
from worker.kafka.config import reader_config
from worker.settings import Settings


class TopicError(FraudWorkerError):
    """A topic could not be created or does not match what the worker needs."""


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int


def ensure_topics(admin: AdminClient, wanted: dict[str, int], timeout_s: float = 30.0) -> list[str]:
    """Create the topics of ``wanted`` (name → partitions) that are missing; return those created.

    An existing topic is left as it is (its partition count is reported by ``describe_topics``).
    """
    existing = admin.list_topics(timeout=timeout_s).topics
    missing = [NewTopic(name, parts, 1) for name, parts in wanted.items() if name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(missing, operation_timeout=timeout_s)
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TopicError(f"could not create topic {name!r}: {exc}") from exc
    return sorted(created)


def describe_topics(
    admin: AdminClient, names: list[str], timeout_s: float = 10.0
) -> list[TopicInfo]:
    """Partition counts of the named topics; a missing topic shows 0 partitions."""
    topics = admin.list_topics(timeout=timeout_s).topics
    return [
        TopicInfo(name, len(topics[name].partitions) if name in topics else 0) for name in names
    ]


def delete_topics(admin: AdminClient, names: list[str], timeout_s: float = 30.0) -> None:
    """Delete topics (tests and benchmarks clean up after themselves)."""
    if not names:
        return
    for future in admin.delete_topics(names, operation_timeout=timeout_s).values():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise


def smallest_record_limit(admin: AdminClient, names: list[str], timeout_s: float = 5.0) -> int:
    """The smallest ``max.message.bytes`` of the named topics: the broker refuses a record
    larger than its topic's limit (and a refused output stops the member), so the worker
    keeps every record under it. Raises KafkaException when the broker cannot say."""
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    limits = []
    for future in admin.describe_configs(resources, request_timeout=timeout_s).values():
        entry = future.result(timeout=timeout_s).get("max.message.bytes")
        if entry is not None and entry.value:
            limits.append(int(entry.value))
    if not limits:
        raise KafkaException(KafkaError(KafkaError._INVALID_ARG, "no max.message.bytes"))
    return min(limits)


def _partitions(consumer: Consumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    return [TopicPartition(topic, p) for p in sorted(partitions)]


def end_offsets(settings: Settings, topic: str) -> list[TopicPartition]:
    """Per partition of ``topic``, the offset after its last record (the high watermark)."""
    consumer = Consumer(reader_config(settings, "offsets"))
    try:
        return [
            TopicPartition(topic, tp.partition, consumer.get_watermark_offsets(tp, timeout=10)[1])
            for tp in _partitions(consumer, topic)
        ]
    finally:
        consumer.close()


def committed_offsets(settings: Settings, group: str, topic: str) -> list[TopicPartition]:
    """Per partition of ``topic``, what ``group`` committed (negative: nothing yet)."""
    consumer = Consumer(reader_config(settings, "offsets", **{"group.id": group}))
    try:
        return list(consumer.committed(_partitions(consumer, topic), timeout=10))
    finally:
        consumer.close()


def topic_size(settings: Settings, topic: str) -> int:
    """Records written to ``topic`` (the sum of its high watermarks)."""
    return sum(tp.offset for tp in end_offsets(settings, topic))


def committed_total(settings: Settings, group: str, topic: str) -> int:
    """Records of ``topic`` that ``group`` committed, over all partitions."""
    return sum(max(tp.offset, 0) for tp in committed_offsets(settings, group, topic))


def caught_up(settings: Settings, group: str, topic: str) -> bool:
    """``group`` committed every record of ``topic`` written so far."""
    ends = end_offsets(settings, topic)
    done = committed_offsets(settings, group, topic)
    return all(c.offset >= e.offset for c, e in zip(done, ends, strict=True))


def records_before_end(messages: list[Message], todo: dict[int, int]) -> list[Message]:
    """The records before each partition's end; a partition that reached it leaves ``todo``
    (its last offsets may be transaction markers, never delivered: EOF says so)."""
    kept = []
    for message in messages:
        partition, error = int(message.partition() or 0), message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                todo.pop(partition, None)
            continue
        end, offset = todo.get(partition), int(message.offset() or 0)
        if end is None or offset >= end:
            continue
        kept.append(message)
        if offset >= end - 1:
            del todo[partition]
    return kept
