"""Produce a batch's outputs and wait until the broker acknowledged every one of them.

Offsets are stored only after this returns, so an event is never committed before all its
outputs are durable (at-least-once). A delivery that fails after the producer's own retries
stops the worker: better a restart that reprocesses than a silent loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from worker.errors import FraudWorkerError
from worker.sinks.outputs import OutputRecord


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


class OutputSink:
    def __init__(self, producer: Producer, flush_timeout_s: float) -> None:
        self.producer = producer
        self.flush_timeout_s = flush_timeout_s
        self._failures: list[str] = []

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._failures.append(str(error))

    def send(self, outputs: Sequence[OutputRecord]) -> None:
        """Produce all, then block until each is acknowledged or raise DeliveryError."""
        produce, on_delivery = self.producer.produce, self._on_delivery
        for out in outputs:
            while True:
                try:
                    produce(
                        out.topic, out.value, out.key, headers=out.headers, on_delivery=on_delivery
                    )
                    break
                except BufferError:  # local queue full: let deliveries drain, then retry
                    self.producer.poll(0.05)
        remaining = self.producer.flush(self.flush_timeout_s)
        if remaining or self._failures:
            failures, self._failures = self._failures, []
            detail = failures[0] if failures else f"{remaining} still queued"
            raise DeliveryError(f"{len(failures) or remaining} outputs not acknowledged: {detail}")
