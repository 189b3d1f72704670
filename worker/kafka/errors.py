"""Errors of the Kafka edge. Each one stops the member without committing past lost work."""

from __future__ import annotations

from worker.errors import FraudWorkerError


class KafkaEdgeError(FraudWorkerError):
    """The Kafka edge cannot go on safely; the member must stop (and be restarted)."""


class DeliveryError(KafkaEdgeError):
    """Outputs were not acknowledged; their inputs, and every later input, stay uncommitted."""


class FatalKafkaError(KafkaEdgeError):
    """librdkafka reported a fatal error (e.g. a fenced transactional producer)."""
