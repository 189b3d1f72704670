"""Produce a batch's outputs; store its offsets once the broker acknowledged every one.

Acknowledgements are awaited asynchronously: while batch N's outputs are in flight, batch
N+1 is consumed and scored. Offsets are stored strictly in batch order, and only for a batch
all of whose outputs were acknowledged, so an event is never committed before its outputs
are durable (at-least-once). A delivery that fails after the producer's own retries stops the
worker: better a restart that reprocesses than a silent loss.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer, TopicPartition

from worker.errors import FraudWorkerError
from worker.sinks.outputs import Headers, TopicOutputs

# Outputs produced but not yet acknowledged, at most; past this the loop waits for the
# broker (bounded memory, and a broker that stops acknowledging stops the loop instead of
# growing a backlog of unacknowledged work). Counted in records, not batches: a batch is
# anything from one event to batch_max, and a bound in batches stalled the loop on the
# broker's round-trip whenever batches were small.
MAX_UNACKNOWLEDGED = 20_000


class DeliveryError(FraudWorkerError):
    """Outputs were not acknowledged; their inputs must not be committed."""


def producer_config(flush_timeout_ms: int) -> dict[str, Any]:
    return {
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
        "delivery.timeout.ms": flush_timeout_ms,
    }


@dataclass
class _Pending:
    offsets: list[TopicPartition]
    remaining: int
    errors: list[str] = field(default_factory=list)


class OutputSink:
    def __init__(self, producer: Producer, flush_timeout_s: float) -> None:
        self.producer = producer
        self.flush_timeout_s = flush_timeout_s
        self._pending: deque[_Pending] = deque()

    @staticmethod
    def _on_delivery(batch: _Pending, error: KafkaError | None, _message: Message) -> None:
        batch.remaining -= 1
        if error is not None:
            batch.errors.append(str(error))

    def send(self, outputs: Sequence[TopicOutputs], offsets: list[TopicPartition]) -> None:
        """Produce a batch's outputs; its offsets become ready once all are acknowledged."""
        batch = _Pending(offsets, sum(len(group) for group in outputs))
        self._pending.append(batch)
        on_delivery = functools.partial(self._on_delivery, batch)
        produce = self.producer.produce
        for group in outputs:
            topic = group.topic
            headers: Sequence[Headers | None] = group.headers or [None] * len(group)
            for key, value, header in zip(group.keys, group.values, headers, strict=True):
                try:
                    produce(topic, value, key, headers=header, on_delivery=on_delivery)
                except BufferError:
                    self._produce_when_room(topic, value, key, header, on_delivery)
        self.producer.poll(0)
        while len(self.producer) > MAX_UNACKNOWLEDGED:
            self.producer.poll(0.01)

    def _produce_when_room(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: Headers | None,
        on_delivery: Callable[[KafkaError | None, Message], None],
    ) -> None:
        """The local queue is full: let deliveries drain, then retry."""
        while True:
            self.producer.poll(0.05)
            try:
                self.producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                return
            except BufferError:
                continue

    def acknowledged(self) -> list[TopicPartition]:
        """Offsets of the leading batches whose outputs are all acknowledged, in order."""
        self.producer.poll(0)
        ready: list[TopicPartition] = []
        while self._pending and self._pending[0].remaining == 0:
            batch = self._pending.popleft()
            if batch.errors:
                raise DeliveryError(
                    f"{len(batch.errors)} outputs not acknowledged: {batch.errors[0]}"
                )
            ready.extend(batch.offsets)
        return ready

    def drain(self) -> list[TopicPartition]:
        """Wait for every output in flight (before a commit that gives partitions up)."""
        remaining = self.producer.flush(self.flush_timeout_s)
        ready = self.acknowledged()
        if remaining or self._pending:
            raise DeliveryError(f"{remaining} outputs still unacknowledged after the flush timeout")
        return ready
