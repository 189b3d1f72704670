"""The offset policy: when an input counts as done, in one place.

- **At-least-once** (default): an input's offset is *stored* only once every output of its
  batch — and of every earlier batch — was acknowledged; auto-commit carries stored offsets.
  A partition given up is settled and committed first; a partition *lost* (another member
  may own it already) is never committed. A failed output stops the member, and nothing past
  the oldest unacknowledged output of any partition is ever stored or committed.
- **Exactly-once**: a batch's outputs and its input offsets go in one Kafka transaction
  (KIP-447: one transactional producer per member, the group's metadata with the offsets).
  An aborted transaction rewinds the consumer to the batch's first offsets, so the batch is
  read again; a fenced producer (a zombie after a rebalance, or a restarted twin) stops.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from worker.kafka.consumer import BatchSource, Key, Partitions, first_offsets, next_offsets
from worker.kafka.errors import DeliveryError, FatalKafkaError
from worker.kafka.producer import Outbox, produce_all
from worker.settings import Settings
from worker.sinks.outputs import TopicOutputs

log = logging.getLogger(__name__)

# How often a transaction's commit is retried when the broker says "try again".
COMMIT_RETRIES = 5
# How long past its own timeout a transactional call may take before the producer counts as
# wedged.
WATCHDOG_MARGIN_S = 5.0


class Watchdog:
    """Runs blocking transactional calls on a thread of its own, and gives up on one that
    outlives its own timeout.

    librdkafka can ignore that timeout: ``send_offsets_to_transaction`` waits forever when
    the group coordinator went away (a broker restarted) — librdkafka issues #5456 and
    #5511, open in 2.16. Seen here in the chaos suite: both members stuck for minutes, deaf
    to SIGTERM. A call that outlives its bound leaves the producer wedged, so the member
    stops (exit 1, one line): the orchestrator restarts it, and the restarted member, with
    the same ``instance_id``, fences the stuck transaction at once. A daemon thread, so a
    stuck call never keeps the process from exiting.
    """

    def __init__(self, bound_s: float) -> None:
        self.bound_s = bound_s
        self.wedged = False
        self._calls: queue.SimpleQueue[tuple[Callable[[], object], Future[object]]] = (
            queue.SimpleQueue()
        )
        threading.Thread(target=self._serve, name="txn-watchdog", daemon=True).start()

    def _serve(self) -> None:
        while True:
            call, future = self._calls.get()
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to the waiting caller, never lost here
                future.set_exception(exc)

    def run(self, what: str, call: Callable[[], object]) -> None:
        if self.wedged:
            raise FatalKafkaError("the transactional producer is wedged; the member stops")
        future: Future[object] = Future()
        self._calls.put((call, future))
        try:
            future.result(timeout=self.bound_s)
        except FutureTimeout:
            self.wedged = True
            raise FatalKafkaError(
                f"{what} did not return within {self.bound_s:g} s (librdkafka ignores its "
                "timeout while the group coordinator is away): the member stops so that a "
                "restart, with the same FRAUD_WORKER__INSTANCE_ID, fences the transaction"
            ) from None


class OffsetPolicy(Protocol):
    aborted: int  # batches whose transaction was aborted and read again (exactly-once)

    def send(self, outputs: Sequence[TopicOutputs], consumed: list[Message]) -> None:
        """Hand a batch's outputs over; the batch's inputs count as done per the policy."""
        ...

    def settle(self) -> None:
        """Make done what is done (called every loop turn, busy or idle)."""
        ...

    def on_assign(self, partitions: Partitions) -> None: ...

    def on_revoke(self, partitions: Partitions) -> None: ...

    def on_lost(self, partitions: Partitions) -> None: ...

    def close(self) -> None:
        """Before leaving the group: settle and commit all that is safe to commit."""
        ...


def _keys(partitions: Partitions) -> set[Key]:
    return {(p.topic, p.partition) for p in partitions}


class AtLeastOnce:
    def __init__(
        self, consumer: Consumer, outbox: Outbox, owned: Callable[[], frozenset[Key]]
    ) -> None:
        self.consumer = consumer
        self.outbox = outbox
        self.owned = owned
        self.aborted = 0  # no transactions: never

    def send(self, outputs: Sequence[TopicOutputs], consumed: list[Message]) -> None:
        self.outbox.send(outputs, next_offsets(consumed))

    def settle(self) -> None:
        self._store(self.outbox.settled())

    def on_assign(self, partitions: Partitions) -> None:
        return None

    def on_revoke(self, partitions: Partitions) -> None:
        """Inside consume(): wait for outputs in flight, store and commit, then forget the
        partitions. A failure is kept (sticky) and raised by the loop's next settle()."""
        try:
            self._store(self.outbox.drain())
        except DeliveryError as exc:
            log.error("outputs failed while giving partitions up: %s", exc)
        self._commit()
        self.outbox.forget(_keys(partitions))

    def on_lost(self, partitions: Partitions) -> None:
        """No commit: the partitions may already be another member's."""
        self.outbox.forget(_keys(partitions))

    def close(self) -> None:
        try:
            self._store(self.outbox.drain())
        finally:
            self._commit()
        self.outbox.raise_if_failed()

    def _store(self, offsets: list[TopicPartition]) -> None:
        owned = self.owned()
        mine = [tp for tp in offsets if (tp.topic, tp.partition) in owned]
        if not mine:
            return
        try:
            self.consumer.store_offsets(offsets=mine)
        except KafkaException as exc:
            log.warning("offsets not stored (partition no longer assigned?): %s", exc)

    def _commit(self) -> None:
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("commit failed: %s", exc)


class ExactlyOnce:
    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        owned: Callable[[], frozenset[Key]],
        timeout_s: float,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.owned = owned
        self.timeout_s = timeout_s
        self.aborted = 0
        self.watchdog = Watchdog(timeout_s + WATCHDOG_MARGIN_S)
        try:
            producer.init_transactions(timeout_s)
        except KafkaException as exc:
            raise FatalKafkaError(f"could not start the transactional producer: {exc}") from exc

    def send(self, outputs: Sequence[TopicOutputs], consumed: list[Message]) -> None:
        owned = self.owned()
        offsets = [tp for tp in next_offsets(consumed) if (tp.topic, tp.partition) in owned]
        try:
            self.producer.begin_transaction()
            produce_all(self.producer, outputs, None)
            metadata = self.consumer.consumer_group_metadata()
            self.watchdog.run(
                "send_offsets_to_transaction",
                lambda: self.producer.send_offsets_to_transaction(
                    offsets, metadata, self.timeout_s
                ),
            )
            self._commit_transaction()
        except KafkaException as exc:
            self._abort(exc.args[0], consumed)
        except DeliveryError as exc:
            self._abort_quietly()
            raise FatalKafkaError(str(exc)) from exc

    def _commit_transaction(self) -> None:
        for attempt in range(COMMIT_RETRIES):
            try:
                self.watchdog.run(
                    "commit_transaction", lambda: self.producer.commit_transaction(self.timeout_s)
                )
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if not error.retriable() or attempt == COMMIT_RETRIES - 1:
                    raise
                log.warning("transaction commit will be retried: %s", error)

    def _abort(self, error: KafkaError, consumed: list[Message]) -> None:
        """An abortable error: abort, and read the batch again. Anything else stops."""
        if not error.txn_requires_abort():
            raise FatalKafkaError(f"transaction failed, the member stops: {error}")
        self._abort_quietly()
        self.aborted += 1
        self._rewind(consumed)
        log.warning("transaction aborted (%s): the batch will be read again", error)

    def _abort_quietly(self) -> None:
        try:
            self.producer.abort_transaction(self.timeout_s)
        except KafkaException as exc:
            raise FatalKafkaError(f"could not abort the transaction: {exc}") from exc

    def _rewind(self, consumed: list[Message]) -> None:
        owned = self.owned()
        for tp in first_offsets(consumed):
            if (tp.topic, tp.partition) in owned:
                self.consumer.seek(tp)

    def settle(self) -> None:
        self.producer.poll(0)

    def on_assign(self, partitions: Partitions) -> None:
        return None

    def on_revoke(self, partitions: Partitions) -> None:
        return None  # every batch's transaction ended before the next consume()

    def on_lost(self, partitions: Partitions) -> None:
        return None

    def close(self) -> None:
        if not self.watchdog.wedged:  # a wedged producer answers nothing: leave it
            self.producer.flush(self.timeout_s)


def offset_policy(settings: Settings, source: BatchSource, producer: Producer) -> OffsetPolicy:
    """The policy the settings ask for, over the member's consumer and producer."""
    if settings.worker.processing_guarantee == "exactly_once":
        timeout_s = settings.worker.flush_timeout_ms / 1000
        return ExactlyOnce(source.consumer, producer, lambda: source.owned, timeout_s)
    return at_least_once_policy(settings, source, producer)


def at_least_once_policy(
    settings: Settings, source: BatchSource, producer: Producer
) -> AtLeastOnce:
    """At-least-once over the member's consumer and producer, whatever the settings' guarantee
    (the members beside the worker: labels, re-scorer, triage queue)."""
    timeout_s = settings.worker.flush_timeout_ms / 1000
    # ``source.owned`` is read at each call: ownership changes with every rebalance.
    return AtLeastOnce(source.consumer, Outbox(producer, timeout_s), lambda: source.owned)


def at_least_once(settings: Settings) -> Settings:
    """The settings with at-least-once processing, whatever the worker itself runs with: a
    member built from them auto-commits what ``AtLeastOnce`` stores (in exactly-once settings
    its consumer would not auto-commit, and stored offsets would wait for a revoke)."""
    worker = settings.worker.model_copy(update={"processing_guarantee": "at_least_once"})
    return settings.model_copy(update={"worker": worker})
