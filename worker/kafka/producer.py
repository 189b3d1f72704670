"""The sink edge: produce a batch's outputs and learn which were acknowledged.

Acknowledgements are awaited asynchronously (at-least-once): while batch N's outputs are in
flight, batch N+1 is consumed and scored. A batch is *settled* once every output of it was
acknowledged. The first output that fails — a delivery error after the producer's own
retries, or a ``produce()`` the client refuses — fails its batch, and the failure is sticky:
no later batch is ever reported settled, so no offset moves past the lost output.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from worker.kafka.config import client_config
from worker.kafka.consumer import transactional_id
from worker.kafka.errors import DeliveryError
from worker.settings import Settings
from worker.sinks.outputs import Headers, TopicOutputs

log = logging.getLogger(__name__)

# Outputs produced but not yet acknowledged, at most; past this the loop waits for the
# broker (bounded memory, and a broker that stops acknowledging stops the loop instead of
# growing a backlog of unacknowledged work). Counted in records, not batches: a batch is
# anything from one event to batch_max, and a bound in batches stalled the loop on the
# broker's round-trip whenever batches were small.
MAX_UNACKNOWLEDGED = 20_000
# How long ``produce`` waits for room in librdkafka's queue before it counts as refused.
QUEUE_FULL_WAIT_S = 60.0
TRANSACTION_TIMEOUT_MS = 60_000


def producer_config(flush_timeout_ms: int, max_message_bytes: int = 1_000_000) -> dict[str, Any]:
    """Idempotent, acks from every in-sync replica; librdkafka refuses a record larger than
    ``max_message_bytes`` at ``produce()`` (the sink keeps records under it)."""
    return {
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
        "delivery.timeout.ms": flush_timeout_ms,
        "message.max.bytes": max_message_bytes + 65_536,
    }


@dataclass
class PendingBatch:
    """One batch's outputs in flight and the input offsets they cover."""

    offsets: list[TopicPartition]
    remaining: int
    errors: list[str] = field(default_factory=list)

    def forget(self, partitions: set[tuple[str, int]]) -> None:
        """Drop offsets of partitions given up (their new owner decides)."""
        self.offsets = [tp for tp in self.offsets if (tp.topic, tp.partition) not in partitions]


def produce_all(
    producer: Producer,
    outputs: Sequence[TopicOutputs],
    on_delivery: Callable[[KafkaError | None, Message], None] | None,
) -> None:
    """Produce every record; a full local queue waits for room (bounded), any other refusal
    raises ``DeliveryError`` with the client's reason."""
    produce = producer.produce
    for group in outputs:
        topic = group.topic
        headers: Sequence[Headers | None] = group.headers or [None] * len(group)
        for key, value, header in zip(group.keys, group.values, headers, strict=True):
            try:
                produce(topic, value, key, headers=header, on_delivery=on_delivery)
            except BufferError:
                _produce_when_room(producer, topic, value, key, header, on_delivery)
            except KafkaException as exc:
                raise DeliveryError(f"the producer refused a record for {topic}: {exc}") from exc


def _produce_when_room(
    producer: Producer,
    topic: str,
    value: bytes,
    key: bytes | None,
    headers: Headers | None,
    on_delivery: Callable[[KafkaError | None, Message], None] | None,
) -> None:
    """The local queue is full: let deliveries drain, then retry, for a bounded time."""
    for _ in range(int(QUEUE_FULL_WAIT_S / 0.05)):
        producer.poll(0.05)
        try:
            producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
            return
        except BufferError:
            continue
    raise DeliveryError(f"the producer's queue stayed full for {QUEUE_FULL_WAIT_S:g} s")


class Outbox:
    """Outputs in flight, batch by batch, in the order they were sent."""

    def __init__(self, producer: Producer, flush_timeout_s: float) -> None:
        self.producer = producer
        self.flush_timeout_s = flush_timeout_s
        self._pending: deque[PendingBatch] = deque()
        self.failure: DeliveryError | None = None

    @staticmethod
    def _on_delivery(batch: PendingBatch, error: KafkaError | None, _message: Message) -> None:
        batch.remaining -= 1
        if error is not None:
            batch.errors.append(str(error))

    def send(self, outputs: Sequence[TopicOutputs], offsets: list[TopicPartition]) -> None:
        """Produce a batch's outputs; its offsets settle once all are acknowledged."""
        self.raise_if_failed()
        batch = PendingBatch(offsets, sum(len(group) for group in outputs))
        self._pending.append(batch)
        try:
            produce_all(self.producer, outputs, functools.partial(self._on_delivery, batch))
        except DeliveryError as exc:
            self.failure = exc
            raise
        self.producer.poll(0)
        while len(self.producer) > MAX_UNACKNOWLEDGED:
            self.producer.poll(0.01)

    def settled(self) -> list[TopicPartition]:
        """Offsets of the leading batches whose outputs are all acknowledged, in order.

        Raises ``DeliveryError`` once a batch failed — then and at every later call."""
        self.producer.poll(0)
        self.raise_if_failed()
        ready: list[TopicPartition] = []
        while self._pending and self._pending[0].remaining == 0:
            batch = self._pending[0]
            if batch.errors:
                self.failure = DeliveryError(
                    f"{len(batch.errors)} outputs not acknowledged: {batch.errors[0]}"
                )
                break
            self._pending.popleft()
            ready.extend(batch.offsets)
        if self.failure is not None and not ready:
            raise self.failure
        return ready

    def drain(self, timeout_s: float | None = None) -> list[TopicPartition]:
        """Wait for every output in flight; the offsets that settled (all, unless one failed
        or the wait ran out — then ``DeliveryError``, after returning nothing past it)."""
        remaining = self.producer.flush(self.flush_timeout_s if timeout_s is None else timeout_s)
        ready = self.settled()
        if self.failure is None and (remaining or self._pending):
            self.failure = DeliveryError(
                f"{remaining} outputs still unacknowledged after waiting "
                f"{self.flush_timeout_s:g} s for the broker"
            )
        return ready

    def forget(self, partitions: set[tuple[str, int]]) -> None:
        for batch in self._pending:
            batch.forget(partitions)

    def raise_if_failed(self) -> None:
        if self.failure is not None:
            raise self.failure

    def __len__(self) -> int:
        """Batches not yet settled."""
        return len(self._pending)


def worker_producer_config(settings: Settings) -> dict[str, Any]:
    """The worker's producer: idempotent (at-least-once), or transactional (exactly-once)
    with this member's transactional id."""
    worker = settings.worker
    config = producer_config(worker.flush_timeout_ms, worker.max_message_bytes)
    if worker.processing_guarantee == "exactly_once":
        config["transactional.id"] = transactional_id(settings)
        # A crashed member's open transaction blocks read_committed readers until this
        # runs out (unless a successor with the same id fences it first).
        config["transaction.timeout.ms"] = TRANSACTION_TIMEOUT_MS
    return client_config(settings, **config)
