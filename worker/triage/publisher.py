"""Decisions → ``transactions.labels``: each fraud or legitimate decision published once.

Exactly once, across crashes too, with the store's outbox states. A round takes the PENDING
labels, notes each partition's end offset (high watermark) of the labels topic, marks them
SENDING with that snapshot (committed) *before* producing, produces them (idempotent
producer, key = card id, header ``fraud-triage-label-uid``), waits for every ack and marks
them PUBLISHED with their positions. A crash (or a failed produce) leaves labels SENDING;
recovery reads the labels topic from the snapshot to its end looking for their uids: a uid
found is PUBLISHED at its position, a uid not there is PENDING again and sent once more.

A SENDING label may be another publisher's (a second app replica), in flight right now, so
recovery waits until it has been SENDING longer than a producer may take to give up
(``recover_after_s``): by then its record is in the topic, or never will be. The feature
store counts a transaction's label once anyway, so a label sent twice by a bug is harmless
downstream; still, none is sent twice here.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from sqlalchemy.exc import SQLAlchemyError

from worker.codec import RecordEncoder, SchemaRegistry
from worker.codec.configured import schema_registry
from worker.kafka.config import client_config, reader_config
from worker.kafka.producer import producer_config
from worker.kafka.topics import TopicError
from worker.settings import Settings
from worker.triage.consumer import database_outage, first_line
from worker.triage.metrics import TriageMetrics
from worker.triage.store import QueueStore
from worker.triage.types import LabelState, LabelToSend

log = logging.getLogger(__name__)

UID_HEADER = "fraud-triage-label-uid"
BATCH_MAX = 500
# Past the producer's own delivery timeout, how long a label may stay SENDING before
# recovery counts its publisher as gone.
RECOVERY_MARGIN_S = 5.0
# How long recovery may take to read the labels topic to its end (open transactions of
# other producers can hold a read_committed reader back); past it, it tries again later.
RECOVERY_READ_S = 30.0
METADATA_TIMEOUT_S = 10.0

Position = tuple[int, int]  # (partition, offset)


class LabelLog(Protocol):
    """The labels topic as the publisher sees it."""

    def end_offsets(self) -> dict[int, int]:
        """Each partition's end offset (high watermark) now."""
        ...

    def find(self, uids: set[str], since: dict[int, int]) -> dict[str, Position] | None:
        """Where the records carrying these uids are, reading each partition from ``since``
        (from its start when absent) to its end now; None when the end was not reached in
        time (nothing can be concluded about the uids not found)."""
        ...

    def close(self) -> None: ...


class KafkaLabelLog:
    """``LabelLog`` over the real topic: one consumer, no group, partitions assigned by hand,
    read_committed."""

    def __init__(self, settings: Settings, read_timeout_s: float = RECOVERY_READ_S) -> None:
        self.topic = settings.topics.labels
        self.read_timeout_s = read_timeout_s
        self.consumer = Consumer(reader_config(settings, "triage-labels-recovery"))

    def end_offsets(self) -> dict[int, int]:
        return {p: high for p, (_low, high) in self._watermarks().items()}

    def find(self, uids: set[str], since: dict[int, int]) -> dict[str, Position] | None:
        ranges = {
            p: (max(since.get(p, low), low), high) for p, (low, high) in self._watermarks().items()
        }
        todo = {p: end for p, (start, end) in ranges.items() if start < end}
        if not todo:
            return {}
        self.consumer.assign([TopicPartition(self.topic, p, ranges[p][0]) for p in todo])
        try:
            return self._read(uids, todo)
        finally:
            self.consumer.unassign()

    def _read(self, uids: set[str], ends: dict[int, int]) -> dict[str, Position] | None:
        found: dict[str, Position] = {}
        deadline = time.monotonic() + self.read_timeout_s
        while ends and time.monotonic() < deadline:
            for message in self.consumer.consume(500, 0.2):
                if message.error() is None:
                    uid = label_uid(message)
                    if uid in uids:
                        found[uid] = (int(message.partition() or 0), int(message.offset() or 0))
            assigned = [TopicPartition(self.topic, p) for p in ends]
            for position in self.consumer.position(assigned):
                if position.offset >= ends[position.partition]:
                    del ends[position.partition]
        return None if ends else found

    def _watermarks(self) -> dict[int, tuple[int, int]]:
        metadata = self.consumer.list_topics(self.topic, timeout=METADATA_TIMEOUT_S)
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise TopicError(
                f"the labels topic {self.topic!r} does not exist; "
                "create it with: fraud-worker topics create"
            )
        marks = {}
        for p in sorted(topic.partitions):
            answer = self.consumer.get_watermark_offsets(
                TopicPartition(self.topic, p), timeout=METADATA_TIMEOUT_S
            )
            if answer is None:
                raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "no watermarks"))
            marks[p] = (int(answer[0]), int(answer[1]))
        return marks

    def close(self) -> None:
        self.consumer.close()


def label_uid(message: Message) -> str | None:
    """The uid header of a labels-topic record, if it has one (a decision's label)."""
    headers = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    for key, value in pairs:
        if key == UID_HEADER and value is not None:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def earliest(rows: list[LabelToSend]) -> dict[int, int]:
    """Per partition, where recovery starts reading: the lowest snapshot offset of the rows.
    A partition one row's snapshot lacks is read from its start (it came later)."""
    snapshots = [row.sent_after or {} for row in rows]
    partitions = set().union(*snapshots)
    return {p: min(s[p] for s in snapshots) for p in partitions if all(p in s for s in snapshots)}


class LabelPublisher:
    def __init__(
        self,
        settings: Settings,
        store: QueueStore,
        metrics: TriageMetrics,
        producer: Producer | None = None,
        labels_log: LabelLog | None = None,
        registry: SchemaRegistry | None = None,
        recover_after_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.topic = settings.topics.labels
        worker = settings.worker
        self.timeout_s = worker.flush_timeout_ms / 1000
        registry = registry or schema_registry(settings)
        self.encoder = RecordEncoder(registry, settings.schemas.labels_subject)
        if producer is None:  # not ``or``: a producer with nothing queued is falsy
            config = producer_config(worker.flush_timeout_ms, worker.max_message_bytes)
            producer = Producer(client_config(settings, **config))
        self.producer = producer
        self.labels_log = labels_log or KafkaLabelLog(settings)
        self.recover_after_s = (
            self.timeout_s + RECOVERY_MARGIN_S if recover_after_s is None else recover_after_s
        )
        self.clock = clock
        # Why the last round did not go through (None: it did), for readiness and logs.
        self.problem: str | None = None
        self._sending_since: dict[int, float] = {}
        self._stop = threading.Event()
        self._closed = False

    # --- the loop -----------------------------------------------------------------------
    def run(self) -> int:
        """A round every ``triage.publish_interval_ms`` until ``stop()``."""
        interval_s = self.settings.triage.publish_interval_ms / 1000
        log.info("publishing decisions to %s", self.topic)
        try:
            while not self._stop.is_set():
                self._round()
                self._stop.wait(interval_s)
        finally:
            self.close()
        return 0

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Wait for what is in flight (its labels are settled by the next start's recovery
        otherwise), then close the clients; once."""
        if self._closed:
            return
        self._closed = True
        try:
            self.producer.flush(self.timeout_s)
        finally:
            self.labels_log.close()

    def _round(self) -> None:
        """One round; a dependency that is away is waited out (the labels stay where they
        are), anything else is a bug and stops the publisher."""
        try:
            self.publish_once()
        except SQLAlchemyError as exc:
            if not database_outage(exc):
                raise
            self._failed(f"the queue's database does not answer ({first_line(exc)})")
        except KafkaException as exc:
            if exc.args[0].fatal():
                raise
            self._failed(f"the Kafka broker does not answer ({exc.args[0]})")
        except TopicError as exc:
            self._failed(str(exc))
        else:
            if self.problem is not None:
                log.info("labels are published again")
            self.problem = None

    def _failed(self, problem: str) -> None:
        if problem != self.problem:
            log.warning("%s: the labels wait, tried again every round", problem)
        self.problem = problem

    # --- one round ----------------------------------------------------------------------
    def publish_once(self) -> int:
        """Recover the SENDING labels that are due, then publish the PENDING ones (and those
        recovery found unsent); how many were published."""
        rows = self.store.labels_to_send(BATCH_MAX)
        again = self.recover(self._due([r for r in rows if r.state is LabelState.SENDING]))
        pending = [r for r in rows if r.state is LabelState.PENDING] + again
        return self.publish(pending) if pending else 0

    def publish(self, rows: list[LabelToSend]) -> int:
        """Snapshot, mark SENDING (committed), produce, wait for the acks, mark PUBLISHED."""
        snapshot = self.labels_log.end_offsets()
        moved = set(self.store.mark_sending([row.decision_id for row in rows], snapshot))
        positions = self.produce([row for row in rows if row.decision_id in moved])
        if positions:
            self.store.mark_published(positions)
            self.metrics.labels_published.inc(len(positions))
        return len(positions)

    def produce(self, rows: list[LabelToSend]) -> dict[int, Position]:
        """Each row's record, acknowledged: its position by decision id. A record refused or
        not acknowledged in time is left out (its row stays SENDING, for recovery)."""
        acked: dict[int, Position] = {}
        errors: list[str] = []
        for row in rows:
            callback = functools.partial(_delivered, row.decision_id, acked, errors)
            try:
                self.producer.produce(
                    self.topic,
                    self.encoder.encode(row.record),
                    str(row.record["card_id"]).encode(),
                    headers=[(UID_HEADER, row.label_uid.encode())],
                    on_delivery=callback,
                )
            except (KafkaException, BufferError) as exc:
                errors.append(f"refused: {exc}")
        left = self.producer.flush(self.timeout_s)
        if errors or left:
            log.warning(
                "%d of %d labels not acknowledged (%s); recovered later",
                len(rows) - len(acked),
                len(rows),
                errors[0] if errors else f"{left} still in flight",
            )
        return dict(acked)

    # --- recovery -----------------------------------------------------------------------
    def _due(self, sending: list[LabelToSend]) -> list[LabelToSend]:
        """The SENDING labels seen SENDING for ``recover_after_s`` (their publisher gone)."""
        now = self.clock()
        ids = {row.decision_id for row in sending}
        self._sending_since = {i: t for i, t in self._sending_since.items() if i in ids}
        for i in ids:
            self._sending_since.setdefault(i, now)
        return [
            r for r in sending if now - self._sending_since[r.decision_id] >= self.recover_after_s
        ]

    def recover(self, rows: list[LabelToSend]) -> list[LabelToSend]:
        """Settle interrupted publishes by reading the labels topic: found → PUBLISHED at its
        position; not there → PENDING. The labels to send again (as PENDING rows); none
        when the topic could not be read to its end (they stay SENDING, tried later)."""
        if not rows:
            return []
        found = self.labels_log.find({row.label_uid for row in rows}, earliest(rows))
        if found is None:
            log.warning("recovery could not read the labels topic to its end; tried later")
            return []
        published = {r.decision_id: found[r.label_uid] for r in rows if r.label_uid in found}
        missing = [row for row in rows if row.label_uid not in found]
        if published:
            self.store.mark_published(published)
            self.metrics.labels_recovered.labels("found").inc(len(published))
        if missing:
            self.store.mark_pending([row.decision_id for row in missing])
            self.metrics.labels_recovered.labels("resend").inc(len(missing))
        log.info(
            "recovered %d interrupted labels: %d were published, %d are sent again",
            len(rows),
            len(published),
            len(missing),
        )
        return [dataclasses.replace(r, state=LabelState.PENDING, sent_after=None) for r in missing]


def _delivered(
    decision_id: int,
    acked: dict[int, Position],
    errors: list[str],
    error: KafkaError | None,
    message: Message,
) -> None:
    if error is None:
        acked[decision_id] = (int(message.partition() or 0), int(message.offset() or 0))
    else:
        errors.append(str(error))
