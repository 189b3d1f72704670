"""The re-scorer's consume → re-score → produce → settle loop, and its wait for the primary.

At-least-once, whatever the worker's guarantee: a batch's offsets are stored only once its
review items and dead letters were acknowledged (after a crash a batch is re-scored again,
and a superseding item may come twice: same transaction id, same ``supersedes``).

While the primary does not answer (feature store or model failing, breaker open) the batch
in hand is neither skipped nor committed: every owned partition is paused, and the member
keeps polling — so it stays in its group within ``max.poll.interval.ms`` and serves
rebalances — while the same batch is tried again every ``retry_wait_s``. Records of a
partition assigned meanwhile join the batch (their partition is paused at once); records of
a partition given up leave it (their new owner reads them from the committed offset). When
the primary answers, the partitions resume. On SIGTERM/SIGINT the batch in flight finishes;
a batch still waiting for the primary is left uncommitted, to be read again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Message, Producer

from worker.codec import EventDecoder, RecordEncoder, default_schemas_dir, load_schema
from worker.codec.configured import schema_registry
from worker.errors import ConfigError
from worker.health import Health
from worker.kafka.config import client_config
from worker.kafka.consumer import BatchSource
from worker.kafka.hold import Hold, LagExport
from worker.kafka.offsets import at_least_once, at_least_once_policy
from worker.kafka.producer import producer_config
from worker.member import BatchMember, close_in_order
from worker.rescore.items import REVIEW_ITEM_READER_SCHEMA, Outcome, decode_items
from worker.rescore.metrics import RescoreMetrics
from worker.rescore.plan import Codecs, Plan, plan_batch
from worker.rescore.scoring import Rescorer
from worker.runtime import Runtime
from worker.settings import Settings
from worker.sinks.outputs import Limits

log = logging.getLogger(__name__)

# between two, and so is the next retry.
# What the re-scorer cannot do without: the other artifacts' failures do not concern it.
NEEDED_ARTIFACTS = ("manifest", "primary")


def build_codecs(settings: Settings) -> Codecs:
    """ReviewItem v2 in; review items and dead letters out. The review subject's schema
    must carry ``supersedes``: with an older one the re-score would not name the original."""
    registry = schema_registry(settings)
    reader = load_schema(default_schemas_dir() / REVIEW_ITEM_READER_SCHEMA)
    schemas = settings.schemas
    review = RecordEncoder(registry, schemas.review_subject)
    fields = review.schema.get("fields", []) if isinstance(review.schema, dict) else []
    if not any(field.get("name") == "supersedes" for field in fields):
        raise ConfigError(
            f"the review subject {schemas.review_subject!r} (schema id {review.schema_id}) has "
            "no 'supersedes' field: register schemas/review_item.v2.avsc under it"
        )
    dead_letter = RecordEncoder(registry, schemas.dead_letter_subject)
    return Codecs(EventDecoder(registry, reader), review, dead_letter)


def rescore_producer(settings: Settings) -> Producer:
    """Idempotent, acks from every in-sync replica; never transactional."""
    worker = settings.worker
    config = producer_config(worker.flush_timeout_ms, worker.max_message_bytes)
    return Producer(client_config(settings, **config))


class RescoreWorker(BatchMember):
    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        metrics: RescoreMetrics,
        consumer: Consumer | None = None,
        producer: Producer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings = at_least_once(settings)
        self.runtime = runtime
        self.rescorer = Rescorer.of_runtime(runtime, settings)
        self.metrics = metrics
        self.clock = clock
        worker = settings.worker
        self.health = Health(
            stall_after_s=worker.max_poll_interval_ms / 1000,
            assignment_timeout_s=worker.assignment_timeout_s,
            allow_degraded_start=worker.allow_degraded_start,
        )
        failures = runtime.load_failures
        self.health.set_load_problems(
            [f"{what}: {failures[what]}" for what in NEEDED_ARTIFACTS if what in failures]
        )
        self.codecs = build_codecs(settings)
        self.limits = Limits(worker.max_message_bytes, worker.dead_letter_raw_max_bytes)
        self.source = self._source(consumer)
        self.source.on_owned = self.health.set_partitions
        if producer is None:  # not ``or``: a producer with nothing queued is falsy
            producer = rescore_producer(settings)
        self._real_clients = consumer is None
        self.policy = at_least_once_policy(settings, self.source, producer)
        self._stopping = False
        self.hold = Hold(
            self.source, self.policy, settings.rescore.batch_max, self._waiting, self.health.beat
        )
        self._report_lag = LagExport(self.source, metrics.lag)

    def _source(self, consumer: Consumer | None) -> BatchSource:
        settings, on_broker = self.settings, self.health.set_broker_up
        topic, group_id = settings.topics.degraded, settings.rescore.group_id
        if consumer is None:
            return BatchSource.connect(settings, on_broker, topic=topic, group_id=group_id)
        return BatchSource(consumer, topic, on_broker)

    @property
    def waiting(self) -> bool:
        """A batch is waiting for the primary (partitions paused)."""
        return self.hold.waiting is not None

    def _waiting(self, reason: str | None) -> None:
        self.metrics.waiting.set(0 if reason is None else 1)
        self.health.set_waiting(reason)

    def run(self, max_batches: int | None = None) -> int:
        """Consume until stopped (or ``max_batches`` batches were re-scored)."""
        self.source.subscribe(self.policy)
        self.health.start()
        if self._real_clients:
            from worker.loop import topic_limits  # the worker's own fit to the output topics

            self.limits = topic_limits(self.settings, self.limits)
        rescore = self.settings.rescore
        log.info(
            "re-scoring %s as group %s (answers up to %g h old)",
            self.settings.topics.degraded,
            rescore.group_id,
            rescore.max_age_s / 3600,
        )
        try:
            self._consume(max_batches, rescore.batch_max, rescore.batch_wait_ms / 1000)
        except BaseException:
            self._shutdown(failed=True)
            raise
        self._shutdown(failed=False)
        return 0

    def process(self, messages: list[Message]) -> Plan | None:
        """One batch, tried until the primary answers it. None when the member stopped, or
        gave the batch's partitions up, first (nothing sent, nothing stored)."""
        pending = messages
        while True:
            decoded = decode_items(pending, self.codecs.items)
            now_ms = int(self.clock() * 1000)
            plan = plan_batch(
                decoded, self.rescorer, self.settings, self.codecs, self.limits, now_ms
            )
            if isinstance(plan, Plan):
                break
            pending = self._wait_for_primary(pending, plan.failure)
            if self._stopping or not pending:
                self.hold.release()
                return None
        self.hold.release()
        self.policy.send(plan.outputs, pending)
        self.policy.settle()
        self._count(plan)
        return plan

    def _wait_for_primary(self, pending: list[Message], failure: str) -> list[Message]:
        """Paused, polling, for ``retry_wait_s``; the batch as it stands after the wait."""
        if not self.waiting:
            log.warning(
                "the primary is not back (%s): %d degraded items wait, partitions paused; "
                "trying again every %g s",
                failure,
                len(pending),
                self.settings.rescore.retry_wait_s,
            )
        self.metrics.retries.labels(failure).inc()
        return self.hold.wait(
            pending,
            f"the primary ({failure})",
            self.settings.rescore.retry_wait_s,
            lambda: self._stopping,
            self._report_lag,
        )

    def _count(self, plan: Plan) -> None:
        self.metrics.observe(plan.counts, plan.ages_s)
        if plan.dead_letters:
            log.warning("%d degraded items sent to the dead-letter topic", len(plan.dead_letters))
        escalated = plan.counts[Outcome.ESCALATED]
        if escalated:
            log.info("%d degraded answers superseded in review by the primary", escalated)

    def _shutdown(self, failed: bool) -> None:
        """Settle and commit what is safe, then close everything (``close_in_order``)."""
        self.health.stop()
        close_in_order((self.policy.close, self.source.close, self.runtime.close), failed)
