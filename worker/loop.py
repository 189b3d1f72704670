"""The consume → decode → score → produce → store-offsets loop of one group member.

At-least-once: an input's offset is stored only after all its outputs were acknowledged, and
auto-commit carries stored offsets. Partitions are committed before they are given up. On
SIGTERM/SIGINT the batch in flight finishes, then the member commits, leaves and exits 0.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from types import FrameType

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from worker.codec import (
    RecordEncoder,
    default_schemas_dir,
    load_schema,
)
from worker.codec.avro import TRANSACTION_READER_SCHEMA
from worker.codec.columnar import ColumnarDecoder, ColumnarEncoder
from worker.codec.configured import schema_registry
from worker.health import Health
from worker.kafka.config import client_config
from worker.kafka.consumer import consumer_config, next_offsets
from worker.ladder import score_batch
from worker.metrics import WorkerMetrics
from worker.runtime import Runtime
from worker.settings import Settings
from worker.sinks.outputs import Encoders, dead_letter_outputs, result_outputs
from worker.sinks.producer import OutputSink, producer_config
from worker.source.decode import DecodedBatch, decode_messages

log = logging.getLogger(__name__)
LAG_EVERY_S = 1.0


def build_codecs(settings: Settings) -> tuple[ColumnarDecoder, Encoders]:
    registry = schema_registry(settings)
    reader = load_schema(default_schemas_dir() / TRANSACTION_READER_SCHEMA)
    schemas = settings.schemas
    encoders = Encoders(
        scored=ColumnarEncoder(registry, schemas.scored_subject),
        review=RecordEncoder(registry, schemas.review_subject),
        dead_letter=RecordEncoder(registry, schemas.dead_letter_subject),
    )
    return ColumnarDecoder(registry, reader), encoders


@dataclass
class BatchReport:
    consumed: int
    scored: int
    review: int
    dead_letters: int


class Worker:
    def __init__(self, settings: Settings, runtime: Runtime, metrics: WorkerMetrics) -> None:
        self.settings = settings
        self.runtime = runtime
        self.metrics = metrics
        self.health = Health(stall_after_s=settings.worker.max_poll_interval_ms / 1000)
        self.decoder, self.encoders = build_codecs(settings)
        self.consumer = Consumer(consumer_config(settings))
        flush_ms = settings.worker.flush_timeout_ms
        producer = Producer(client_config(settings, **producer_config(flush_ms)))
        self.sink = OutputSink(producer, flush_ms / 1000)
        self._stopping = False
        self._last_lag = 0.0
        self._lag_labels: set[tuple[str, str]] = set()
        # Partitions owned, kept by the rebalance callbacks: readable from other threads,
        # unlike the consumer, which belongs to the loop's thread.
        self.assigned: set[int] = set()
        # (wall, CPU) clocks at the first batch: benchmarks measure from there.
        self.first_batch_at: tuple[float, float] | None = None
        for name, breaker in runtime.breakers.items():
            breaker.add_listener(metrics.breaker_changed)
            metrics.breaker_state.labels(name).set(0)
        metrics.model.info(
            {"model_version": runtime.ladder.model_version, "provider": runtime.provider}
        )

    def stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """Ask the loop to finish the batch in flight and leave."""
        if not self._stopping:
            log.info("stopping (signal %s): finishing the batch in flight", signum)
        self._stopping = True
        self.health.stop()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self, max_batches: int | None = None, max_events: int | None = None) -> int:
        """Consume until stopped (or ``max_batches`` / ``max_events``, for benchmarks)."""
        topic = self.settings.topics.input
        self.consumer.subscribe(
            [topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )
        self.health.start()
        self.health.set_broker_up(True)
        log.info("consuming %s as group %s", topic, self.settings.worker.group_id)
        batches = events = 0
        worker = self.settings.worker
        try:
            while not self._stopping and (max_batches is None or batches < max_batches):
                messages = self.next_batch(worker.batch_max, worker.batch_wait_ms / 1000)
                self.health.beat()
                if messages:
                    if self.first_batch_at is None:
                        self.first_batch_at = (time.monotonic(), time.process_time())
                    events += self.process(messages).consumed
                    batches += 1
                    if max_events is not None and events >= max_events:
                        break
                self._update_lag()
        finally:
            self._shutdown()
        return 0

    def next_batch(self, batch_max: int, wait_s: float) -> list[Message]:
        """Whatever has arrived, up to ``batch_max``, without waiting; if nothing has, the
        first message within ``wait_s`` and whatever came with it.

        Natural batching: under load the backlog that builds up while a batch is scored
        makes the next batch large (throughput), and at moderate rates no event waits for a
        batch to fill (latency). ``consume(n, timeout)`` alone would wait out the timeout
        whenever fewer than ``n`` messages are there.
        """
        messages = self.consumer.consume(batch_max, 0)
        if messages:
            return messages
        first = self.consumer.poll(wait_s)
        if first is None:
            return []
        return [first, *self.consumer.consume(batch_max - 1, 0)]

    def process(self, messages: list[Message]) -> BatchReport:
        """One batch: decode, score, produce every output, then store the offsets."""
        began = time.monotonic()
        decoded = decode_messages(messages, self.decoder)
        outputs = [dead_letter_outputs(decoded, self.settings.topics, self.encoders.dead_letter)]
        review = 0
        if len(decoded.events):
            scored = score_batch(decoded.events, self.runtime.ladder)
            results, review = result_outputs(scored, self.settings.topics, self.encoders)
            outputs += results
            self.metrics.observe_batch(scored)
        produced = time.monotonic()
        self.sink.send(outputs, next_offsets(decoded.consumed))
        self._store(self.sink.acknowledged())
        self.metrics.stage_seconds.labels("produce").observe(time.monotonic() - produced)
        self._count(decoded, review)
        self.metrics.stage_seconds.labels("batch").observe(time.monotonic() - began)
        return BatchReport(len(messages), len(decoded.events), review, len(decoded.undecodable))

    def _count(self, decoded: DecodedBatch, review: int) -> None:
        self.metrics.batch_size.observe(len(decoded.consumed))
        self.metrics.review.inc(review)
        for _message, error in decoded.undecodable:
            self.metrics.dead_letters.labels(error.code).inc()
        if decoded.undecodable:
            log.warning(
                "%d undecodable events sent to the dead-letter topic", len(decoded.undecodable)
            )

    def _store(self, offsets: list[TopicPartition]) -> None:
        if offsets:
            self.consumer.store_offsets(offsets=offsets)

    def _commit(self) -> None:
        """Wait for outputs in flight, store their offsets, commit synchronously."""
        self._store(self.sink.drain())
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("commit failed: %s", exc)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned |= {p.partition for p in partitions}
        log.info(
            "assigned %s, now own %s", [p.partition for p in partitions], sorted(self.assigned)
        )

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Called inside consume(): no batch is in flight, so stored offsets are complete."""
        log.info("revoked %s: committing before giving them up", [p.partition for p in partitions])
        self._commit()
        self.assigned -= {p.partition for p in partitions}
        for p in partitions:
            labels = (p.topic, str(p.partition))
            if labels in self._lag_labels:
                self.metrics.lag.remove(*labels)
                self._lag_labels.discard(labels)

    def _update_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag < LAG_EVERY_S:
            return
        self._last_lag = now
        assignment = self.consumer.assignment()
        if not assignment:
            return
        for position in self.consumer.position(assignment):
            _low, high = self.consumer.get_watermark_offsets(position, cached=True)
            if high >= 0 and position.offset >= 0:
                lag = max(0, high - position.offset)
                labels = (position.topic, str(position.partition))
                self.metrics.lag.labels(*labels).set(lag)
                self._lag_labels.add(labels)

    def _shutdown(self) -> None:
        self.health.stop()
        self._commit()
        self.consumer.close()
        self.runtime.close()
        log.info("left the group")
