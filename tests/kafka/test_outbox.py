"""The outbox's bookkeeping with a producer that acknowledges only when polled (a fake: the
real producer is covered by the integration tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import TopicPartition

import worker.kafka.producer as sink_module
from worker.kafka.errors import DeliveryError
from worker.kafka.producer import Outbox
from worker.sinks.outputs import TopicOutputs


class PolledProducer:
    """Queues what is produced; each poll acknowledges up to ``per_poll`` of it."""

    def __init__(self, per_poll: int = 1_000_000, fail: bool = False) -> None:
        self.queue: list[Callable[[Any, Any], None]] = []
        self.per_poll = per_poll
        self.fail = fail
        self.polls = 0

    def produce(self, topic: str, value: bytes, key: bytes | None, **kw: Any) -> None:
        self.queue.append(kw["on_delivery"])

    def poll(self, timeout: float = 0) -> int:
        self.polls += 1
        done, self.queue = self.queue[: self.per_poll], self.queue[self.per_poll :]
        for callback in done:
            callback("broker down" if self.fail else None, None)
        return len(done)

    def flush(self, timeout: float = 0) -> int:
        while self.queue:
            self.poll()
        return 0

    def __len__(self) -> int:
        return len(self.queue)


def outputs(n: int) -> list[TopicOutputs]:
    return [TopicOutputs("scored", [b"k"] * n, [b"v"] * n)]


def offsets(offset: int) -> list[TopicPartition]:
    return [TopicPartition("in", 0, offset)]


def test_offsets_become_ready_in_batch_order_once_acknowledged() -> None:
    producer = PolledProducer(per_poll=0)
    sink = Outbox(producer, 1.0)  # type: ignore[arg-type]
    sink.send(outputs(3), offsets(3))
    sink.send(outputs(2), offsets(5))
    assert sink.settled() == []
    producer.per_poll = 4  # the first batch and half the second
    assert [tp.offset for tp in sink.settled()] == [3]
    producer.per_poll = 10
    assert [tp.offset for tp in sink.settled()] == [5]


def test_a_failed_delivery_stops_the_worker_before_its_offsets_are_stored() -> None:
    sink = Outbox(PolledProducer(fail=True), 1.0)  # type: ignore[arg-type]
    sink.send(outputs(2), offsets(2))
    with pytest.raises(DeliveryError, match="broker down"):
        sink.settled()


def test_unacknowledged_outputs_are_bounded_in_records_not_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sink_module, "MAX_UNACKNOWLEDGED", 10)
    producer = PolledProducer(per_poll=0)
    sink = Outbox(producer, 1.0)  # type: ignore[arg-type]
    for i in range(10):  # many small batches: no wait while few records are unacknowledged
        sink.send(outputs(1), offsets(i + 1))
    assert len(producer) == 10 and producer.polls == 10, "one poll(0) per send, no waiting"
    producer.per_poll = 4
    sink.send(outputs(8), offsets(100))  # 18 unacknowledged: polls until 10 or fewer
    assert len(producer) <= 10


def test_a_failure_is_sticky_and_nothing_after_it_settles() -> None:
    producer = PolledProducer(per_poll=0)
    sink = Outbox(producer, 1.0)  # type: ignore[arg-type]
    sink.send(outputs(1), offsets(1))
    producer.fail = True
    producer.per_poll = 1
    sink.send(outputs(1), offsets(2))  # its send polls: batch 1 is delivered with an error
    producer.fail = False
    sink.send(outputs(1), offsets(3))  # a later batch, acknowledged: it must not settle
    with pytest.raises(DeliveryError):
        sink.settled()
    with pytest.raises(DeliveryError):
        sink.drain()
