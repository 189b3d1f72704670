"""``fraud-worker labels``: the labels topic → the feature store's terminal-risk windows.

A member of its own consumer group (``labels.group_id``), so each label is applied once, by
whichever member owns its partition. The Kafka edge is the worker's: the batch source and the
at-least-once policy — a batch's offsets are stored only once its labels are counted and its
dead letters acknowledged. A redelivered label counts once (the store remembers it), so
at-least-once is exactly-once for the features.

While Redis is down the batch is neither skipped nor committed: the member pauses its
partitions, keeps polling (it stays in the group), applies the same batch again every
``labels.retry_wait_s`` and resumes once it went through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis
from confluent_kafka import Consumer, Message, Producer
from prometheus_client import CollectorRegistry, Counter, Gauge

from worker.codec import EventDecoder, RecordEncoder, default_schemas_dir, load_schema
from worker.codec.configured import schema_registry
from worker.features.store import RedisFeatureStore
from worker.health import Health
from worker.kafka.config import client_config
from worker.kafka.consumer import BatchSource
from worker.kafka.hold import Hold, LagExport
from worker.kafka.offsets import at_least_once, at_least_once_policy
from worker.kafka.producer import producer_config
from worker.labels.apply import Applied, apply_labels, invalid_label
from worker.member import GroupMember, close_in_order
from worker.runtime import feature_store, redis_client
from worker.settings import Settings
from worker.sinks.outputs import Limits, Rejected, dead_letter_outputs

log = logging.getLogger(__name__)

LABEL_READER_SCHEMA = "label.v1.avsc"
REDIS_DOWN = "Redis does not answer; the labels are applied once it does"
# Off the hot path: a slow Redis costs a labels batch time, not an event its answer.
REDIS_TIMEOUT_S = 5.0


class LabelsMetrics:
    """The labels consumer's Prometheus metrics (low-cardinality labels only)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.labels = Counter(
            "fraud_labels",
            "Labels read, by where they came from and what they say",
            ["label_source", "outcome"],
            registry=r,
        )
        self.counted = Counter(
            "fraud_labels_counted", "Fraud labels counted in terminal risk", registry=r
        )
        self.repeated = Counter(
            "fraud_labels_repeated",
            "Fraud labels already counted: redelivered, a second label of a transaction, or "
            "counted by an attempt whose reply was lost",
            registry=r,
        )
        self.dead_letters = Counter(
            "fraud_labels_dead_letters",
            "Labels sent to the dead-letter topic",
            ["error_code"],
            registry=r,
        )
        self.waiting = Gauge(
            "fraud_labels_waiting_for_redis",
            "1 while a batch of labels waits for Redis to come back",
            registry=r,
        )
        self.retries = Counter(
            "fraud_labels_retries",
            "Attempts to apply a batch again after Redis failed",
            registry=r,
        )
        self.lag = Gauge(
            "fraud_labels_consumer_lag",
            "Labels behind the partition's end",
            ["topic", "partition"],
            registry=r,
        )


@dataclass
class LabelsReport:
    consumed: int
    counted: int
    dead_letters: int


class LabelsConsumer(GroupMember):
    def __init__(
        self,
        settings: Settings,
        metrics: LabelsMetrics,
        store: RedisFeatureStore | None = None,
        consumer: Consumer | None = None,
        producer: Producer | None = None,
    ) -> None:
        # At-least-once whatever the worker runs with: under exactly_once the consumer would
        # not auto-commit, and the offsets this policy stores would wait for a rebalance.
        settings = at_least_once(settings)
        self.settings = settings
        self.metrics = metrics
        options = settings.labels
        self.health = Health(stall_after_s=settings.worker.max_poll_interval_ms / 1000)
        client = redis_client(settings, REDIS_TIMEOUT_S)
        self.store = store or feature_store(settings, client)
        registry = schema_registry(settings)
        reader = load_schema(default_schemas_dir() / LABEL_READER_SCHEMA)
        self.decoder = EventDecoder(registry, reader)
        self.dead_letter_encoder = RecordEncoder(registry, settings.schemas.dead_letter_subject)
        self.limits = Limits(
            settings.worker.max_message_bytes, settings.worker.dead_letter_raw_max_bytes
        )
        topic = settings.topics.labels
        if consumer is None:
            self.source = BatchSource.connect(
                settings, self.health.set_broker_up, topic, options.group_id
            )
        else:
            self.source = BatchSource(consumer, topic, self.health.set_broker_up)
        self.source.on_owned = self.health.set_partitions
        if producer is None:
            producer = Producer(
                client_config(settings, **producer_config(settings.worker.flush_timeout_ms))
            )
        self.policy = at_least_once_policy(settings, self.source, producer)
        self.remember_s = options.dedupe_ttl_days * 86_400
        self._stopping = False
        self.hold = Hold(
            self.source, self.policy, options.batch_max, self._waiting, self.health.beat
        )
        self._report_lag = LagExport(self.source, metrics.lag)

    def run(self, max_batches: int | None = None) -> int:
        self.source.subscribe(self.policy)
        self.health.start()
        log.info(
            "applying labels of %s as group %s",
            self.settings.topics.labels,
            self.settings.labels.group_id,
        )
        failed = True
        try:
            batches = 0
            options = self.settings.labels
            while not self._stopping and (max_batches is None or batches < max_batches):
                messages = self.source.next_batch(options.batch_max, options.batch_wait_ms / 1000)
                self.health.beat()
                if messages:
                    self.process(messages)
                    batches += 1
                else:
                    self.policy.settle()
                self._report_lag()
            failed = False
        finally:
            self._shutdown(failed)
        return 0

    def process(self, messages: list[Message]) -> LabelsReport | None:
        """Decode, count, hand the dead letters over; the batch is done once they are acked.
        While Redis fails the batch is held (see ``Hold``) and tried again. None when the
        member stopped, or gave the batch's partitions up, first (nothing is stored)."""
        pending = list(messages)
        while True:
            records, rejected = self._decode(pending)
            try:
                applied = apply_labels(self.store, records, self.remember_s)
                break
            except redis.RedisError as exc:
                pending = self._wait_for_redis(pending, exc)
                if self._stopping or not pending:
                    self.hold.release()
                    return None
        self.hold.release()
        letters = dead_letter_outputs(
            rejected, self.settings.topics.dead_letter, self.dead_letter_encoder, self.limits
        )
        self.policy.send([letters], pending)
        self.policy.settle()
        self._count(applied, rejected)
        return LabelsReport(len(pending), applied.counted, len(rejected))

    def _decode(self, messages: list[Message]) -> tuple[list[dict[str, Any]], list[Rejected]]:
        records, indices, failures = self.decoder.decode_many([m.value() for m in messages])
        rejected = [Rejected(messages[i], error.code, str(error)) for i, error in failures]
        valid = []
        for record, index in zip(records, indices, strict=True):
            problem = invalid_label(record)
            if problem is None:
                valid.append(record)
            else:
                rejected.append(Rejected(messages[index], "invalid_label", problem))
        return valid, rejected

    def _wait_for_redis(self, pending: list[Message], error: redis.RedisError) -> list[Message]:
        if self.hold.waiting is None:
            log.warning(
                "Redis failed (%s); the labels wait, tried again every %g s",
                error,
                self.settings.labels.retry_wait_s,
            )
        self.metrics.retries.inc()
        return self.hold.wait(
            pending,
            REDIS_DOWN,
            self.settings.labels.retry_wait_s,
            lambda: self._stopping,
            self._report_lag,
        )

    def _waiting(self, reason: str | None) -> None:
        self.metrics.waiting.set(0 if reason is None else 1)
        self.health.set_waiting(reason)

    def _count(self, applied: Applied, rejected: list[Rejected]) -> None:
        for (source, outcome), n in applied.by_source.items():
            self.metrics.labels.labels(source, outcome).inc(n)
        self.metrics.counted.inc(applied.counted)
        self.metrics.repeated.inc(applied.repeated)
        for item in rejected:
            self.metrics.dead_letters.labels(item.code).inc()
        if rejected:
            log.warning("%d labels sent to the dead-letter topic", len(rejected))

    def _shutdown(self, failed: bool) -> None:
        """Settle and commit what is safe, then close everything (``close_in_order``)."""
        self.health.stop()
        close_in_order((self.policy.close, self.source.close), failed)
