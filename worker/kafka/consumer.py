"""The source edge: one group member's consumer, its batches and what it owns.

Natural batching (take what has arrived, wait only for a first message), a batch never holds
a message of a partition the member gave up while it was being collected, a fatal client
error stops the member instead of being logged and dropped, and what the client sees of the
broker (reachable or not, partitions owned) is reported for readiness.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from worker.kafka.config import client_config
from worker.kafka.errors import FatalKafkaError
from worker.settings import Settings

log = logging.getLogger(__name__)

# How often librdkafka reports its view of the brokers (readiness follows it).
STATS_INTERVAL_MS = 2_000
# A subscribed topic the broker did not know yet (created just after the member started, or
# not yet in the metadata of the broker it asked) is assigned at the next metadata refresh:
# seconds, not librdkafka's default five minutes. The triage app subscribes to two topics.
METADATA_REFRESH_MS = 10_000

Partitions = list[TopicPartition]
Key = tuple[str, int]


class RebalanceListener(Protocol):
    """What the offset policy does when partitions come and go (inside consume())."""

    def on_assign(self, partitions: Partitions) -> None: ...

    def on_revoke(self, partitions: Partitions) -> None: ...

    def on_lost(self, partitions: Partitions) -> None: ...


def consumer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """The group member's consumer. Offsets are never stored automatically: the offset
    policy stores (at-least-once) or commits in a transaction (exactly-once) itself."""
    worker = settings.worker
    exactly_once = worker.processing_guarantee == "exactly_once"
    return client_config(
        settings,
        **{
            "group.id": worker.group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.offset.store": False,
            "enable.auto.commit": not exactly_once,
            "auto.commit.interval.ms": 1000,
            "isolation.level": "read_committed",
            "max.poll.interval.ms": worker.max_poll_interval_ms,
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "partition.assignment.strategy": "cooperative-sticky",
            **overrides,
        },
    )


def transactional_id(settings: Settings) -> str:
    """This member's transactional id: stable across restarts when ``instance_id`` is set
    (a restart then fences the crashed predecessor at once instead of after its timeout);
    else unique to this member, so two members never fence each other."""
    worker = settings.worker
    suffix = worker.instance_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return f"{worker.group_id}-{suffix}"


def next_offsets(messages: list[Message]) -> list[TopicPartition]:
    """Per partition, the offset after the last message of the batch (messages of a
    partition arrive in offset order, so the last one seen is the highest)."""
    return [TopicPartition(t, p, offset + 1) for (t, p), offset in _offsets(messages).items()]


def first_offsets(messages: list[Message]) -> list[TopicPartition]:
    """Per partition, the offset of the first message of the batch (where to rewind)."""
    return [TopicPartition(t, p, o) for (t, p), o in _offsets(messages, first=True).items()]


def _offsets(messages: list[Message], first: bool = False) -> dict[Key, int]:
    """Per partition, the offset of its last (or first) message in the batch."""
    found: dict[Key, int] = {}
    for message in reversed(messages) if first else messages:
        found[(str(message.topic()), int(message.partition() or 0))] = int(message.offset() or 0)
    return found


def brokers_up(stats_json: str) -> bool:
    """Whether librdkafka's statistics show a connection to any broker."""
    try:
        brokers = json.loads(stats_json).get("brokers", {})
    except (ValueError, AttributeError):
        return False
    return any(broker.get("state") == "UP" for broker in brokers.values())


class BatchSource:
    """The member's consumer: batches of records of the partitions it owns."""

    def __init__(
        self,
        consumer: Consumer,
        topic: str | Sequence[str],
        on_broker: Callable[[bool], None] = lambda up: None,
    ) -> None:
        self.consumer = consumer
        # One topic (the worker, labels, re-score) or several (the triage queue).
        self.topics = [topic] if isinstance(topic, str) else list(topic)
        self.on_broker = on_broker
        # Replaced, never mutated: other threads (readiness, tests) read it while it changes.
        self.owned: frozenset[Key] = frozenset()
        self.fatal: KafkaError | None = None
        # Told the number of partitions owned after every rebalance (readiness).
        self.on_owned: Callable[[int], None] = lambda owned: None
        # Run before partitions are given up, so that the next owner reads what this member
        # wrote outside Kafka (the feature store's card rings: ``features/owned.py``).
        self.before_give_up: Callable[[], None] = lambda: None
        self._listener: RebalanceListener | None = None
        # Counts revokes and losses: a batch checks ownership only when one happened while
        # it was being collected (no per-message lookup on the hot path otherwise).
        self._given_up = 0

    @classmethod
    def connect(
        cls,
        settings: Settings,
        on_broker: Callable[[bool], None] = lambda up: None,
        topic: str | Sequence[str] | None = None,
        group_id: str | None = None,
    ) -> BatchSource:
        """A real consumer whose statistics and errors feed ``on_broker``: of the input topic
        in the worker's group, unless ``topic`` and ``group_id`` name another (the labels
        and re-score consumers)."""
        holder: list[BatchSource] = []

        def stats(stats_json: str) -> None:
            on_broker(brokers_up(stats_json))

        def error(err: KafkaError) -> None:
            if err.code() == KafkaError._ALL_BROKERS_DOWN:
                on_broker(False)
            log.warning("kafka client error: %s", err)
            if err.fatal() and holder:
                holder[0].fatal = err

        callbacks = {"stats_cb": stats, "error_cb": error}
        overrides: dict[str, Any] = {
            "statistics.interval.ms": STATS_INTERVAL_MS,
            "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
        }
        if group_id is not None:
            overrides["group.id"] = group_id
        config = consumer_config(settings, **overrides)
        consumer = Consumer({**config, **callbacks})
        source = cls(consumer, topic or settings.topics.input, on_broker)
        holder.append(source)
        return source

    def subscribe(self, listener: RebalanceListener) -> None:
        self._listener = listener
        self.consumer.subscribe(
            self.topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
        )

    def next_batch(self, batch_max: int, wait_s: float) -> list[Message]:
        """Whatever has arrived, up to ``batch_max``, without waiting; if nothing has, the
        first message within ``wait_s`` and whatever came with it.

        Natural batching: under load the backlog that builds up while a batch is scored
        makes the next batch large (throughput), and at moderate rates no event waits for a
        batch to fill (latency). ``consume(n, timeout)`` alone would wait out the timeout
        whenever fewer than ``n`` messages are there. A rebalance inside the second call can
        take away a partition of a message the first call returned: such messages are
        dropped (the partition's new owner reads them from the committed offset).
        """
        given_up = self._given_up
        messages = self.consumer.consume(batch_max, 0)
        if not messages:
            first = self.consumer.poll(wait_s)
            messages = [] if first is None else [first, *self.consumer.consume(batch_max - 1, 0)]
        self._raise_if_fatal()
        records = [message for message in messages if message.error() is None]
        if len(records) != len(messages):
            self._client_events(messages)
        if self._given_up != given_up:  # a rebalance ran in between: keep what is still ours
            owned = self.owned
            records = [m for m in records if (m.topic(), m.partition()) in owned]
        if records:
            self.on_broker(True)
        return records

    def _client_events(self, messages: list[Message]) -> None:
        """Client events among the messages: a fatal one raises, real errors are logged."""
        for message in messages:
            error = message.error()
            if error is not None:
                self._client_event(error)

    def _client_event(self, error: KafkaError) -> None:
        if error.fatal():
            raise FatalKafkaError(f"the consumer hit a fatal error: {error}")
        if error.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error: %s", error)

    def _raise_if_fatal(self) -> None:
        if self.fatal is not None:
            raise FatalKafkaError(f"the Kafka client hit a fatal error: {self.fatal}")

    def _assigned(self, _consumer: Consumer, partitions: Partitions) -> None:
        self.owned = self.owned | {(p.topic, p.partition) for p in partitions}
        self.on_owned(len(self.owned))
        self.on_broker(True)
        log.info("assigned %s, now own %s", _numbers(partitions), sorted(p for _t, p in self.owned))
        if self._listener is not None:
            self._listener.on_assign(partitions)

    def _revoked(self, _consumer: Consumer, partitions: Partitions) -> None:
        log.info("revoked %s: settling them before giving them up", _numbers(partitions))
        self.before_give_up()
        if self._listener is not None:
            self._listener.on_revoke(partitions)
        self.owned = self.owned - {(p.topic, p.partition) for p in partitions}
        self._given_up += 1
        self.on_owned(len(self.owned))

    def _lost(self, _consumer: Consumer, partitions: Partitions) -> None:
        log.warning("lost %s: another member may own them already", _numbers(partitions))
        self.owned = self.owned - {(p.topic, p.partition) for p in partitions}
        self._given_up += 1
        self.on_owned(len(self.owned))
        if self._listener is not None:
            self._listener.on_lost(partitions)

    def lag(self) -> dict[Key, int]:
        """Messages behind the end of each owned partition (from cached watermarks)."""
        assignment = self.consumer.assignment()
        if not assignment:
            return {}
        lags: dict[Key, int] = {}
        for position in self.consumer.position(assignment):
            _low, high = self.consumer.get_watermark_offsets(position, cached=True)
            if high >= 0 and position.offset >= 0:
                lags[(position.topic, position.partition)] = max(0, high - position.offset)
        return lags

    def close(self) -> None:
        self.consumer.close()


def _numbers(partitions: Partitions) -> list[int]:
    return [p.partition for p in partitions]
