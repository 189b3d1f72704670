"""A stub Kafka client pair, like dramatiq's StubBroker: the loop's failure paths run with no
server. They keep the real clients' contracts that the edge relies on — callbacks fire
inside consume()/poll(), deliveries only when polled or flushed, store_offsets refuses a
partition not assigned, commit carries stored offsets — and let a test inject the faults
(delivery errors, refusals, rebalances, fatal errors). The real broker's tests live in
tests/integration/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

Key = tuple[str, int]


@dataclass
class StubMessage:
    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None = None
    _error: KafkaError | None = None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def error(self) -> KafkaError | None:
        return self._error


def client_event(code: int, fatal: bool = False) -> StubMessage:
    """A message that carries an error instead of a record (what consume() returns)."""
    return StubMessage("in", 0, -1, None, None, KafkaError(code, "stub", fatal=fatal))


@dataclass
class StubConsumer:
    """Serves queued records; ``actions`` run at the start of the next consume()/poll()
    (that is where librdkafka runs rebalance callbacks)."""

    topic: str = "in"
    records: list[StubMessage] = field(default_factory=list)
    assigned: set[Key] = field(default_factory=set)
    stored: dict[Key, int] = field(default_factory=dict)
    committed: dict[Key, int] = field(default_factory=dict)
    positions: dict[Key, int] = field(default_factory=dict)
    seeks: list[TopicPartition] = field(default_factory=list)
    actions: list[Callable[[StubConsumer], None]] = field(default_factory=list)
    on_empty: Callable[[], None] | None = None
    commit_error: KafkaException | None = None
    closed: bool = False
    callbacks: dict[str, Callable[..., None]] = field(default_factory=dict)
    initial: tuple[int, ...] = (0,)  # partitions assigned at the first consume()

    # -- what a test does ------------------------------------------------------------------
    def add(self, partition: int, *values: bytes | None) -> list[StubMessage]:
        """Append records to a partition, at the next offsets."""
        added = []
        for value in values:
            message = StubMessage(self.topic, partition, self._end(partition), value, b"k")
            self.records.append(message)
            added.append(message)
        return added

    def assign(self, *partitions: int) -> None:
        tps = [TopicPartition(self.topic, p) for p in partitions]
        self.assigned |= {(self.topic, p) for p in partitions}
        self.callbacks["on_assign"](self, tps)

    def revoke(self, *partitions: int) -> None:
        tps = [TopicPartition(self.topic, p) for p in partitions]
        self.callbacks["on_revoke"](self, tps)
        self._drop(partitions)

    def lose(self, *partitions: int) -> None:
        tps = [TopicPartition(self.topic, p) for p in partitions]
        self._drop(partitions)
        self.callbacks["on_lost"](self, tps)

    # -- the client's interface ----------------------------------------------------------
    def subscribe(self, topics: list[str], **callbacks: Callable[..., None]) -> None:
        self.callbacks = dict(callbacks)
        self.actions.insert(0, lambda consumer: consumer.assign(*self.initial))

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[StubMessage]:
        self._run_actions()
        served = [m for m in self.records if self._fetchable(m)][:num_messages]
        for message in served:
            self.positions[(message.topic(), message.partition())] = message.offset() + 1
        if not served and self.on_empty is not None and not self.actions:
            self.on_empty()
        return served

    def poll(self, timeout: float = -1) -> StubMessage | None:
        served = self.consume(1, timeout)
        return served[0] if served else None

    def store_offsets(self, offsets: list[TopicPartition]) -> None:
        for tp in offsets:
            if (tp.topic, tp.partition) not in self.assigned:
                raise KafkaException(KafkaError(KafkaError._STATE, "partition not assigned"))
        for tp in offsets:
            self.stored[(tp.topic, tp.partition)] = tp.offset

    def commit(self, asynchronous: bool = True) -> None:
        if self.commit_error is not None:
            raise self.commit_error
        if not self.stored:
            raise KafkaException(KafkaError(KafkaError._NO_OFFSET, "nothing stored"))
        self.committed.update(self.stored)

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append(tp)
        self.positions[(tp.topic, tp.partition)] = tp.offset

    def consumer_group_metadata(self) -> str:
        return "stub-group-metadata"

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in sorted(self.assigned)]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.positions.get((tp.topic, tp.partition), 0))
            for tp in partitions
        ]

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool = False) -> tuple[int, int]:
        return 0, self._end(tp.partition)

    def close(self) -> None:
        self.closed = True

    # -- internals -------------------------------------------------------------------------
    def _end(self, partition: int) -> int:
        offsets = [m.offset() for m in self.records if m.partition() == partition]
        return max(offsets) + 1 if offsets else 0

    def _fetchable(self, message: StubMessage) -> bool:
        if message.error() is not None:
            return True
        key = (message.topic(), message.partition())
        return key in self.assigned and message.offset() >= self.positions.get(key, 0)

    def _run_actions(self) -> None:
        if self.actions:  # one per call: a test can place each between two batches
            self.actions.pop(0)(self)
        errors = [m for m in self.records if m.error() is not None]
        for message in errors:  # client events are served once, first
            self.records.remove(message)
            self.records.insert(0, message)

    def _drop(self, partitions: tuple[int, ...]) -> None:
        self.assigned -= {(self.topic, p) for p in partitions}


@dataclass
class PausableConsumer(StubConsumer):
    """The stub consumer plus pause/resume: a paused partition serves nothing."""

    paused: set[Key] = field(default_factory=set)
    pauses: int = 0

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.pauses += 1
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}

    def _fetchable(self, message: StubMessage) -> bool:
        key = (message.topic(), message.partition())
        return key not in self.paused and super()._fetchable(message)


@dataclass
class Produced:
    topic: str
    value: bytes
    key: bytes | None
    headers: Any
    on_delivery: Callable[[KafkaError | None, Any], None] | None


@dataclass
class StubProducer:
    """Queues what is produced; deliveries happen in poll()/flush(), ``per_poll`` at a
    time. ``fail`` decides a delivery's error; ``refuse`` makes produce() raise."""

    per_poll: int = 1_000_000
    max_message_bytes: int = 1_065_536
    fail: Callable[[Produced], KafkaError | None] = lambda record: None
    refuse: Callable[[Produced], KafkaException | None] = lambda record: None
    stuck: bool = False
    queue: list[Produced] = field(default_factory=list)
    delivered: list[Produced] = field(default_factory=list)
    # transactions
    transaction_error: Callable[[str], KafkaException | None] = lambda step: None
    in_transaction: list[Produced] | None = None
    committed: list[list[Produced]] = field(default_factory=list)
    aborted: list[list[Produced]] = field(default_factory=list)
    offsets_sent: list[list[TopicPartition]] = field(default_factory=list)

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Any = None,
        on_delivery: Callable[[KafkaError | None, Any], None] | None = None,
    ) -> None:
        record = Produced(topic, value, key, headers, on_delivery)
        if len(value) + len(key or b"") > self.max_message_bytes:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too large"))
        refusal = self.refuse(record)
        if refusal is not None:
            raise refusal
        if self.in_transaction is not None:
            self.in_transaction.append(record)
        self.queue.append(record)

    def poll(self, timeout: float = 0) -> int:
        if self.stuck:
            return 0
        done, self.queue = self.queue[: self.per_poll], self.queue[self.per_poll :]
        for record in done:
            error = self.fail(record)
            if error is None:
                self.delivered.append(record)
            if record.on_delivery is not None:
                record.on_delivery(error, record)
        return len(done)

    def flush(self, timeout: float = 0) -> int:
        if self.stuck:
            return len(self.queue)
        per_poll, self.per_poll = self.per_poll, len(self.queue)
        self.poll()
        self.per_poll = per_poll
        return 0

    def __len__(self) -> int:
        return len(self.queue)

    def init_transactions(self, timeout: float = -1) -> None:
        self._step("init")

    def begin_transaction(self) -> None:
        self._step("begin")
        self.in_transaction = []

    def send_offsets_to_transaction(
        self, offsets: list[TopicPartition], metadata: Any, timeout: float = -1
    ) -> None:
        self._step("send_offsets")
        self.offsets_sent.append(offsets)

    def commit_transaction(self, timeout: float = -1) -> None:
        self._step("commit")
        self.flush()
        self.committed.append(self.in_transaction or [])
        self.in_transaction = None

    def abort_transaction(self, timeout: float = -1) -> None:
        self.aborted.append(self.in_transaction or [])
        self.queue.clear()
        self.in_transaction = None

    def _step(self, step: str) -> None:
        error = self.transaction_error(step)
        if error is not None:
            raise error
