"""A consumer group's committed lag, read the way KEDA's Kafka scaler reads it.

Per partition: the end offset (high watermark) minus the group's committed offset. A
partition the group never committed counts from offset 0 — KEDA's reading under the
``earliest`` offset policy, which is the worker's ``auto.offset.reset``. Only where retention
has already deleted the partition's first records (log start > 0) does the worker itself read
fewer than that: ``unread`` says how many.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from worker.errors import FraudWorkerError
from worker.kafka.config import client_config, reader_config
from worker.settings import Settings

TIMEOUT_S = 10.0


class MissingTopic(FraudWorkerError):
    """A topic an operator command was pointed at does not exist."""


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    log_start: int
    end: int
    committed: int | None  # None: the group never committed this partition

    @property
    def lag(self) -> int:
        """What KEDA counts: end - committed, or the end when nothing was committed."""
        return self.end - (self.committed if self.committed is not None else 0)

    @property
    def unread(self) -> int:
        """Records the group's next member would read (it starts at the log start when
        there is no commit, or when the committed offset was deleted by retention)."""
        start = self.committed if self.committed is not None else self.log_start
        return max(0, self.end - max(start, self.log_start))


@dataclass(frozen=True)
class GroupLag:
    group: str
    known: bool  # the broker knows the group (it has members or committed offsets)
    partitions: list[PartitionLag]

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def unread(self) -> int:
        return sum(p.unread for p in self.partitions)

    @property
    def topics(self) -> list[str]:
        return list(dict.fromkeys(p.topic for p in self.partitions))

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "known": self.known,
            "topics": self.topics,
            "lag": self.lag,
            "unread": self.unread,
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "log_start": p.log_start,
                    "end": p.end,
                    "committed": p.committed,
                    "lag": p.lag,
                }
                for p in self.partitions
            ],
        }


def package_groups(settings: Settings) -> dict[str, list[str]]:
    """Every consumer group this package runs, with the topics it reads (from the settings)."""
    topics = settings.topics
    triage = [topics.review] + ([topics.degraded] if settings.triage.include_degraded else [])
    return {
        settings.worker.group_id: [topics.input],
        settings.labels.group_id: [topics.labels],
        settings.rescore.group_id: [topics.degraded],
        settings.triage.group_id: triage,
    }


def default_topics(settings: Settings, group: str) -> list[str]:
    """The topics ``group`` reads when it is one of ours; the input topic otherwise."""
    return package_groups(settings).get(group, [settings.topics.input])


def group_lag(settings: Settings, group: str, topics: list[str]) -> GroupLag:
    """The committed lag of ``group`` on each partition of ``topics``. Raises MissingTopic for a
    missing topic, KafkaException when the broker does not answer."""
    consumer = Consumer(reader_config(settings, "fraud-lag", **{"group.id": group}))
    try:
        partitions = [tp for topic in topics for tp in topic_partitions(consumer, topic, settings)]
        committed = consumer.committed(partitions, timeout=TIMEOUT_S)
        rows = [_partition_lag(consumer, tp) for tp in committed]
    finally:
        consumer.close()
    return GroupLag(group, group in known_groups(settings), rows)


def known_groups(settings: Settings) -> set[str]:
    """The consumer groups the broker knows now."""
    admin = AdminClient(client_config(settings))
    listed = admin.list_consumer_groups(request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
    return {g.group_id for g in listed.valid}


def topic_partitions(consumer: Consumer, topic: str, settings: Settings) -> list[TopicPartition]:
    """The partitions of ``topic``; MissingTopic naming the fix when it does not exist."""
    metadata = consumer.list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise MissingTopic(
            f"topic {topic!r} does not exist on the broker at {settings.kafka_bootstrap}; "
            "name an existing topic, or create ours with `fraud-worker topics create`"
        )
    return [TopicPartition(topic, p) for p in sorted(metadata.partitions)]


def _partition_lag(consumer: Consumer, committed: TopicPartition) -> PartitionLag:
    low, high = consumer.get_watermark_offsets(committed, timeout=TIMEOUT_S)
    offset = committed.offset if committed.offset >= 0 else None
    return PartitionLag(committed.topic, committed.partition, low, high, offset)
