"""The review (and degraded) topics → the queue's database.

A member of its own consumer group (``triage.group_id``). At-least-once, whatever the worker's
guarantee: a batch is decoded, stored in one database transaction, its dead letters produced
and acknowledged, and only then are its offsets stored (auto-commit carries them). A
redelivered item is one item: the store knows it by its transaction id.

While the database does not answer (or the schema registry, for an item's writer schema) the
batch is neither skipped nor committed: the member pauses its partitions, keeps polling (it
stays in its group), stores the same batch again every ``triage.retry_wait_s`` and resumes
once it went through; ``/readyz`` names the wait. A database that *refuses* an item (a
constraint, a value it cannot hold) is no outage: waiting would not help, and one such item
must not stop the queue, so the batch is stored item by item and the refused ones are
dead-lettered.

Runs in a background thread of the web process: ``run()`` until ``stop()``; the service
installs the signal handlers.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from confluent_kafka import Consumer, Message, Producer
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from worker.codec import RecordEncoder, SchemaRegistry, SchemaRegistryError
from worker.codec.configured import schema_registry
from worker.health import Health
from worker.kafka.config import client_config
from worker.kafka.consumer import BatchSource
from worker.kafka.hold import Hold, LagExport
from worker.kafka.offsets import at_least_once, at_least_once_policy
from worker.kafka.producer import producer_config
from worker.member import BatchMember, close_in_order
from worker.settings import Settings
from worker.sinks.outputs import Limits, Rejected, dead_letter_outputs
from worker.triage.items import DecodedItems, ItemDecoder, item_kinds
from worker.triage.metrics import TriageMetrics
from worker.triage.store import QueueStore
from worker.triage.types import IncomingItem, StoreReport

log = logging.getLogger(__name__)

DATABASE_DOWN = "the queue's database does not answer; the items are stored once it does"
REGISTRY_DOWN = "the schema registry does not answer; the items are stored once it does"
UNSTORABLE = "unstorable"
# Refusals of the data, not of the connection: the item, not the database, is the problem.
REFUSALS = (IntegrityError, DataError)


def database_outage(error: SQLAlchemyError) -> bool:
    """Whether a failure is the database being away or busy (wait, store again), rather than
    a refusal of the data or a bug (waiting would not help). OperationalError covers a lost
    or refused connection, SQLite's "database is locked" and PostgreSQL's serialization
    failures and deadlocks — all gone on a later try."""
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def first_line(error: BaseException) -> str:
    """The driver's own first line (SQLAlchemy's text adds the statement and its parameters,
    which can hold card data; PostgreSQL's DETAIL line, on the next line, quotes values)."""
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return text[0][:200] if text else type(cause).__name__


@dataclass(frozen=True)
class Stored:
    """What a batch came to: what the store did, and the items that go to the DLQ instead."""

    report: StoreReport
    items: list[IncomingItem]  # those the store took
    rejected: list[Rejected]


@dataclass(frozen=True)
class BatchReport:
    consumed: int
    report: StoreReport
    dead_letters: int


class QueueConsumer(BatchMember):
    def __init__(
        self,
        settings: Settings,
        store: QueueStore,
        metrics: TriageMetrics,
        consumer: Consumer | None = None,
        producer: Producer | None = None,
        registry: SchemaRegistry | None = None,
    ) -> None:
        self.settings = settings = at_least_once(settings)
        self.store = store
        self.metrics = metrics
        worker, options = settings.worker, settings.triage
        self.health = Health(
            stall_after_s=worker.max_poll_interval_ms / 1000,
            assignment_timeout_s=worker.assignment_timeout_s,
        )
        registry = registry or schema_registry(settings)
        kinds = item_kinds(settings.topics, options.include_degraded)
        self.decoder = ItemDecoder(registry, kinds)
        self.dead_letter_encoder = RecordEncoder(registry, settings.schemas.dead_letter_subject)
        self.limits = Limits(worker.max_message_bytes, worker.dead_letter_raw_max_bytes)
        self.source = self._source(consumer, list(kinds))
        self.source.on_owned = self.health.set_partitions
        if producer is None:  # not ``or``: a producer with nothing queued is falsy
            config = producer_config(worker.flush_timeout_ms, worker.max_message_bytes)
            producer = Producer(client_config(settings, **config))
        self.policy = at_least_once_policy(settings, self.source, producer)
        self._stopping = False
        self.hold = Hold(
            self.source, self.policy, options.batch_max, self._waiting, self.health.beat
        )
        self._report_lag = LagExport(self.source, metrics.lag)

    def _source(self, consumer: Consumer | None, topics: list[str]) -> BatchSource:
        on_broker, group_id = self.health.set_broker_up, self.settings.triage.group_id
        if consumer is None:
            return BatchSource.connect(self.settings, on_broker, topics, group_id)
        return BatchSource(consumer, topics, on_broker)

    @property
    def waiting(self) -> bool:
        """A batch waits for the database (partitions paused)."""
        return self.hold.waiting is not None

    def run(self, max_batches: int | None = None) -> int:
        """Consume until ``stop()`` (or ``max_batches`` batches were stored)."""
        self.source.subscribe(self.policy)
        self.health.start()
        log.info(
            "queueing %s as group %s",
            ", ".join(self.source.topics),
            self.settings.triage.group_id,
        )
        failed, options = True, self.settings.triage
        try:
            self._consume(max_batches, options.batch_max, options.batch_wait_ms / 1000)
            failed = False
        finally:
            self._shutdown(failed)
        return 0

    def process(self, messages: list[Message]) -> BatchReport | None:
        """Decode, store, hand the dead letters over; the batch is done once they are acked.
        While the database (or the registry) fails the batch is held (see ``Hold``) and
        stored again. None when the member stopped, or gave the batch's partitions up, first
        (nothing stored then, nothing committed)."""
        pending = list(messages)
        while True:
            try:
                stored = self._store(self.decoder.decode(pending), pending)
                break
            except (SQLAlchemyError, SchemaRegistryError) as exc:
                pending = self._wait(pending, exc)
                if self._stopping or not pending:
                    self.hold.release()
                    return None
        self.hold.release()
        letters = dead_letter_outputs(
            stored.rejected, self.settings.topics.dead_letter, self.dead_letter_encoder, self.limits
        )
        self.policy.send([letters], pending)
        self.policy.settle()
        self._count(stored)
        return BatchReport(len(pending), stored.report, len(stored.rejected))

    def _store(self, decoded: DecodedItems, messages: list[Message]) -> Stored:
        """The batch in one transaction; item by item if the database refuses some."""
        try:
            report = self.store.store_items(decoded.items)
        except REFUSALS as exc:
            log.error(
                "the queue's database refused a batch of %d items (%s: %s); storing them one "
                "by one, the refused ones go to the dead-letter topic",
                len(decoded.items),
                type(exc).__name__,
                first_line(exc),
            )
            return self._store_each(decoded, messages)
        return Stored(report, decoded.items, decoded.rejected)

    def _store_each(self, decoded: DecodedItems, messages: list[Message]) -> Stored:
        by_position = {(m.topic(), m.partition(), m.offset()): m for m in messages}
        total, taken, rejected = StoreReport(), [], list(decoded.rejected)
        for item in decoded.items:
            try:
                report = self.store.store_items([item])
            except REFUSALS as exc:
                message = by_position[(item.topic, item.partition, item.offset)]
                error = f"the queue's database refused the item ({type(exc.orig).__name__})"
                rejected.append(Rejected(message, UNSTORABLE, error))
                continue
            taken.append(item)
            total = _added(total, report)
        return Stored(total, taken, rejected)

    def _wait(
        self, pending: list[Message], error: SQLAlchemyError | SchemaRegistryError
    ) -> list[Message]:
        """Paused, polling, for ``retry_wait_s``; the batch as it stands after the wait.
        Raises ``error`` again when it is not an outage (a bug: waiting would not help)."""
        if isinstance(error, SQLAlchemyError) and not database_outage(error):
            raise error
        reason = REGISTRY_DOWN if isinstance(error, SchemaRegistryError) else DATABASE_DOWN
        if self.hold.waiting is None:
            log.warning(
                "%s (%s): %d items wait, partitions paused; trying again every %g s",
                reason,
                first_line(error),
                len(pending),
                self.settings.triage.retry_wait_s,
            )
        self.metrics.store_retries.inc()
        return self.hold.wait(
            pending,
            reason,
            self.settings.triage.retry_wait_s,
            lambda: self._stopping,
            self._report_lag,
        )

    def _waiting(self, reason: str | None) -> None:
        self.metrics.waiting.set(0 if reason is None else 1)
        self.health.set_waiting(reason)

    def _count(self, stored: Stored) -> None:
        metrics = self.metrics
        for kind, n in Counter(item.kind for item in stored.items).items():
            metrics.items_stored.labels(kind.value).inc(n)
        metrics.items_repeated.inc(stored.report.repeated)
        metrics.items_superseded.inc(stored.report.superseded)
        for item in stored.rejected:
            metrics.dead_letters.labels(item.code).inc()
        if stored.rejected:
            log.warning("%d items sent to the dead-letter topic", len(stored.rejected))

    def _shutdown(self, failed: bool) -> None:
        """Settle and commit what is safe, then close the clients (``close_in_order``)."""
        self.health.stop()
        close_in_order((self.policy.close, self.source.close), failed)


def _added(a: StoreReport, b: StoreReport) -> StoreReport:
    return StoreReport(
        a.inserted + b.inserted, a.superseded + b.superseded, a.repeated + b.repeated
    )
