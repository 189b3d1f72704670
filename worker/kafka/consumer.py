"""Consumer-side settings shared by every member of the group (the worker and the
benchmark's designs alike)."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Message, TopicPartition

from worker.kafka.config import client_config
from worker.settings import Settings


def consumer_config(settings: Settings) -> dict[str, Any]:
    worker = settings.worker
    return client_config(
        settings,
        **{
            "group.id": worker.group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.offset.store": False,
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 1000,
            "max.poll.interval.ms": worker.max_poll_interval_ms,
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "partition.assignment.strategy": "cooperative-sticky",
        },
    )


def next_offsets(messages: list[Message]) -> list[TopicPartition]:
    """Per partition, the offset after the last message of the batch (messages of a
    partition arrive in offset order, so the last one seen is the highest)."""
    last: dict[tuple[str | None, int | None], int | None] = {}
    for message in messages:
        last[(message.topic(), message.partition())] = message.offset()
    return [
        TopicPartition(str(topic), int(part or 0), int(offset or 0) + 1)
        for (topic, part), offset in last.items()
    ]
