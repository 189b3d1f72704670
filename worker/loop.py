"""The consume → decode → score → produce → settle loop of one group member.

The loop only orders the stages; the Kafka edge (``worker/kafka/``) owns what the clients
do and when an input counts as done (the offset policy: at-least-once or exactly-once).
Clients can be injected, so the loop's failure paths are tested with stubs as well as with
the real broker. On SIGTERM/SIGINT the batch in flight finishes, then the member settles,
commits, leaves and exits 0; a failure stops it without committing past lost work.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from worker.codec import RecordEncoder, default_schemas_dir, load_schema
from worker.codec.avro import TRANSACTION_READER_SCHEMA
from worker.codec.columnar import ColumnarDecoder, ColumnarEncoder
from worker.codec.configured import schema_registry
from worker.health import Health
from worker.kafka.config import client_config
from worker.kafka.consumer import BatchSource
from worker.kafka.hold import LAG_EVERY_S, LagExport
from worker.kafka.offsets import offset_policy
from worker.kafka.producer import worker_producer_config
from worker.kafka.topics import smallest_record_limit
from worker.ladder import score_batch
from worker.member import GroupMember, close_in_order
from worker.metrics import WorkerMetrics
from worker.runtime import ARTIFACTS, Runtime
from worker.settings import Settings
from worker.sinks.outputs import BatchOutputs, Encoders, Limits, batch_outputs
from worker.source.decode import decode_messages

log = logging.getLogger(__name__)


def topic_limits(settings: Settings, limits: Limits) -> Limits:
    """The size limits, lowered to what the output topics accept (the broker refuses a
    larger record, and a refused output stops the member)."""
    topics = settings.topics
    outputs = [topics.scored, topics.review, topics.dead_letter, topics.degraded]
    if settings.worker.shadow_sample_rate > 0:  # no shadow record is produced otherwise
        outputs.append(topics.shadow)
    try:
        topic_limit = smallest_record_limit(AdminClient(client_config(settings)), outputs)
    except (KafkaException, TimeoutError) as exc:
        log.warning("could not read the output topics' max.message.bytes: %s", exc)
        return limits
    fitted = limits.within(topic_limit)
    if fitted != limits:
        log.warning(
            "records kept under %d bytes: an output topic's max.message.bytes is %d",
            fitted.max_message_bytes,
            topic_limit,
        )
    return fitted


def build_codecs(settings: Settings) -> tuple[ColumnarDecoder, Encoders]:
    registry = schema_registry(settings)
    reader = load_schema(default_schemas_dir() / TRANSACTION_READER_SCHEMA)
    schemas = settings.schemas
    encoders = Encoders(
        scored=ColumnarEncoder(registry, schemas.scored_subject),
        review=RecordEncoder(registry, schemas.review_subject),
        dead_letter=RecordEncoder(registry, schemas.dead_letter_subject),
        degraded=RecordEncoder(registry, schemas.degraded_subject),
        shadow=ColumnarEncoder(registry, schemas.shadow_subject),
    )
    return ColumnarDecoder(registry, reader), encoders


@dataclass
class BatchReport:
    consumed: int
    scored: int
    review: int
    dead_letters: int


class Worker(GroupMember):
    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        metrics: WorkerMetrics,
        consumer: Consumer | None = None,
        producer: Producer | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.metrics = metrics
        worker = settings.worker
        self.ladder = runtime.ladder
        self.health = Health(
            stall_after_s=worker.max_poll_interval_ms / 1000,
            assignment_timeout_s=worker.assignment_timeout_s,
            allow_degraded_start=worker.allow_degraded_start,
        )
        self.health.set_load_problems(runtime.problems)
        self.decoder, self.encoders = build_codecs(settings)
        self.limits = Limits(worker.max_message_bytes, worker.dead_letter_raw_max_bytes)
        on_broker = self.health.set_broker_up
        if consumer is None:
            self.source = BatchSource.connect(settings, on_broker)
        else:
            self.source = BatchSource(consumer, settings.topics.input, on_broker)
        self.source.on_owned = self.health.set_partitions
        self.source.before_give_up = runtime.settle
        if producer is None:  # not ``or``: a producer with nothing queued is falsy
            producer = Producer(worker_producer_config(settings))
        self._real_clients = consumer is None
        self.policy = offset_policy(settings, self.source, producer)
        self._stopping = False
        self._last_lag = 0.0
        self._export_lag = LagExport(self.source, metrics.lag)
        # (wall, CPU) clocks at the first batch: benchmarks measure from there.
        self.first_batch_at: tuple[float, float] | None = None
        metrics.observe_load(ARTIFACTS, runtime.load_failures)
        for name, breaker in runtime.breakers.items():
            breaker.add_listener(metrics.breaker_changed)
            metrics.breaker_state.labels(name).set(0)
        metrics.model.info(
            {"model_version": runtime.ladder.model_version, "provider": runtime.provider}
        )

    @property
    def assigned(self) -> set[int]:
        """Partition numbers owned now (readable from other threads)."""
        return {partition for _topic, partition in self.source.owned}

    def run(self, max_batches: int | None = None, max_events: int | None = None) -> int:
        """Consume until stopped (or ``max_batches`` / ``max_events``, for benchmarks)."""
        self.source.subscribe(self.policy)
        self.health.start()
        if self._real_clients:  # after start: a broker that does not answer only delays it
            self.limits = topic_limits(self.settings, self.limits)
        log.info(
            "consuming %s as group %s (%s)",
            self.settings.topics.input,
            self.settings.worker.group_id,
            self.settings.worker.processing_guarantee,
        )
        try:
            self._loop(max_batches, max_events)
        except BaseException:
            self._shutdown(failed=True)
            raise
        self._shutdown(failed=False)
        return 0

    def _loop(self, max_batches: int | None, max_events: int | None) -> None:
        batches = events = 0
        worker = self.settings.worker
        while not self._stopping and (max_batches is None or batches < max_batches):
            messages = self.source.next_batch(worker.batch_max, worker.batch_wait_ms / 1000)
            self.health.beat()
            if messages:
                if self.first_batch_at is None:
                    self.first_batch_at = (time.monotonic(), time.process_time())
                events += self.process(messages).consumed
                batches += 1
                if max_events is not None and events >= max_events:
                    break
            else:
                self.policy.settle()  # idle: what was acknowledged since counts as done now
                self.runtime.idle()
            self._report()

    def process(self, messages: list[Message]) -> BatchReport:
        """One batch: decode, score, hand every output to the offset policy."""
        began = time.monotonic()
        decoded = decode_messages(messages, self.decoder)
        scored = None
        if len(decoded.events):
            scored = score_batch(decoded.events, self.ladder)
            self.metrics.observe_batch(scored)
        out = batch_outputs(decoded, scored, self.settings.topics, self.encoders, self.limits)
        produced = time.monotonic()
        self.policy.send(out.outputs, decoded.consumed)
        self.policy.settle()
        self.metrics.stage_seconds.labels("produce").observe(time.monotonic() - produced)
        self._count(out, len(decoded.consumed))
        self.metrics.stage_seconds.labels("batch").observe(time.monotonic() - began)
        scored_rows = len(decoded.events) - (len(out.dead_letters) - len(decoded.undecodable))
        return BatchReport(len(messages), scored_rows, out.review, len(out.dead_letters))

    def _count(self, out: BatchOutputs, consumed: int) -> None:
        self.metrics.batch_size.observe(consumed)
        self.metrics.observe_outputs(out.review, out.degraded, out.shadow, out.shadow_failures)
        for rejected in out.dead_letters:
            self.metrics.dead_letters.labels(rejected.code).inc()
        if out.dead_letters:
            log.warning("%d events sent to the dead-letter topic", len(out.dead_letters))

    def _report(self) -> None:
        """Partitions owned (readiness) and consumer lag (metrics), at most once a second."""
        now = time.monotonic()
        if now - self._last_lag < LAG_EVERY_S:
            return
        self._last_lag = now
        self._export_edge()
        self._export_lag()

    def _export_edge(self) -> None:
        primary = self.runtime.primary_level
        skipped = primary.skipped if primary is not None else {}
        self.metrics.observe_edge(skipped, self.policy.aborted)

    def _shutdown(self, failed: bool) -> None:
        """Settle and commit what is safe, then close everything (``close_in_order``)."""
        self.health.stop()
        steps = (self.runtime.settle, self.policy.close, self.source.close, self.runtime.close)
        close_in_order(steps, failed)
