"""The loop's failure paths on stub clients (no broker): what is stored and committed when
outputs fail, partitions go, records are too large, or the client fails for good."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from tests.kafka.conftest import WorkerFactory, event
from tests.kafka.stubs import Produced, StubConsumer, StubProducer, client_event
from worker.codec import (
    DECODE_ERROR_CODES,
    EventDecoder,
    LocalSchemaRegistry,
    default_schemas_dir,
    load_schema,
)
from worker.kafka.errors import DeliveryError, FatalKafkaError
from worker.runtime import Runtime


def _decoder(schema: str) -> EventDecoder:
    schemas = default_schemas_dir()
    return EventDecoder(LocalSchemaRegistry(schemas), load_schema(schemas / schema))


DEAD_LETTERS = _decoder("dead_letter.v1.avsc")
SCORED = _decoder("scored_result.v1.avsc")
ITEMS = _decoder("review_item.v2.avsc")


def on(topic: str, producer: StubProducer) -> list[Produced]:
    return [record for record in producer.delivered if record.topic == topic]


def test_every_input_is_answered_and_committed_to_the_end(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer
) -> None:
    consumer.add(0, *[event(i) for i in range(5)], b"garbage")
    make_worker().run()
    assert len(on("scored", producer)) == 5
    assert len(on("dlq", producer)) == 1
    assert consumer.committed == {("in", 0): 6}


@pytest.mark.parametrize("acks_per_poll", [0, 1_000_000], ids=["acks-at-flush", "acks-at-once"])
def test_a_failed_delivery_commits_nothing_past_the_oldest_lost_output(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer, acks_per_poll: int
) -> None:
    """Batch 2's dead letter fails; batch 3 is acknowledged after it: neither is committed,
    not even by the commit on the way out (the old sink dropped the failed batch, then
    drain() stored and committed the later ones)."""
    producer.per_poll = acks_per_poll
    producer.fail = lambda r: KafkaError(KafkaError._MSG_TIMED_OUT) if r.topic == "dlq" else None
    consumer.add(0, event(0), event(1), b"garbage", event(3), event(4))
    with pytest.raises(DeliveryError, match="not acknowledged"):
        make_worker(batch_max=2).run()
    assert consumer.committed == {("in", 0): 2}
    assert consumer.closed, "the consumer is closed even after a failure"


def test_a_record_the_producer_refuses_stops_the_member_naming_the_reason(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer
) -> None:
    producer.refuse = lambda r: KafkaException(KafkaError(KafkaError._INVALID_ARG, "bad header"))
    consumer.add(0, event(0))
    with pytest.raises(DeliveryError, match=r"refused a record for scored.*bad header"):
        make_worker().run()
    assert consumer.committed == {}


def test_outputs_that_never_get_acknowledged_are_not_committed(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer
) -> None:
    producer.stuck = True
    consumer.add(0, event(0), event(1))
    with pytest.raises(DeliveryError, match="still unacknowledged"):
        make_worker().run()
    assert consumer.committed == {}


def test_oversized_input_and_results_are_dead_lettered_within_the_limit(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer
) -> None:
    """A 1 MB random value and a valid event with a 1 MB id (its result cannot fit): each
    gets one dead letter that fits. Valid events with a 1 MB country are scored; their items
    — a degraded one kept apart, and one for review (a high amount) — go with the event's
    text cut, and say so. The worker goes on."""
    huge = "x" * 1_000_000
    consumer.add(0, event(0), bytes(1_000_000), event(1, transaction_id=huge))
    consumer.add(0, event(2, country=huge), event(3), event(4, country=huge, amount=500.0))
    make_worker().run()
    scored = [SCORED.decode(r.value)["transaction_id"] for r in on("scored", producer)]
    assert scored == ["tx0", "tx2", "tx3", "tx4"]
    for topic, tid in (("degraded", "tx2"), ("review", "tx4")):
        items = [ITEMS.decode(r.value) for r in on(topic, producer)]
        trimmed = [item for item in items if item["result"]["transaction_id"] == tid]
        assert len(trimmed) == 1 and "input:trimmed_for_review" in trimmed[0]["review_reasons"]
        assert trimmed[0]["event"]["country"] == "x" * 1_024
    letters = [DEAD_LETTERS.decode(r.value) for r in on("dlq", producer)]
    assert [letter["source_offset"] for letter in letters] == [1, 2]
    assert letters[0]["error_code"] in DECODE_ERROR_CODES
    assert letters[1]["error_code"] == "oversized_result"
    assert all(len(letter["raw_value"]) == 65_536 for letter in letters)
    assert all("fetch it whole" in letter["error"] for letter in letters)
    assert all(len(r.value) < 200_000 for r in producer.delivered)
    assert consumer.committed == {("in", 0): 6}


def test_a_revoke_with_outputs_in_flight_commits_them_first(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer
) -> None:
    producer.per_poll = 0
    consumer.initial = (0, 1)
    consumer.add(0, event(0), event(1))
    consumer.add(1, event(2))
    worker = make_worker()
    committed_at_revoke: dict[tuple[str, int], int] = {}

    def revoke(c: StubConsumer) -> None:
        c.revoke(0)
        committed_at_revoke.update(c.committed)

    consumer.actions.extend([lambda c: None, revoke])
    worker.run()
    assert committed_at_revoke[("in", 0)] == 2, "flushed, stored and committed before it went"


def test_the_ladders_writes_land_before_partitions_are_given_up(
    make_worker: WorkerFactory,
    consumer: StubConsumer,
    producer: StubProducer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The next owner of a partition reads the card rings this member wrote (owner card
    writes): the runtime settles its writes at a revoke, before the commit, and on the
    way out before the consumer leaves the group."""
    settled_at: list[dict[tuple[str, int], int]] = []
    monkeypatch.setattr(Runtime, "settle", lambda self: settled_at.append(dict(consumer.committed)))
    consumer.initial = (0, 1)
    consumer.add(0, event(0), event(1))
    worker = make_worker()
    consumer.actions.extend([lambda c: None, lambda c: c.revoke(0)])
    worker.run()
    assert settled_at[0] == {}, "settled before the revoke's commit"
    assert len(settled_at) == 2, "and again on the way out"
    assert consumer.committed[("in", 0)] == 2


def test_a_message_of_a_partition_revoked_between_poll_and_consume_is_dropped(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer
) -> None:
    """poll() returns partition 1's record, then the rebalance inside consume() takes
    partition 1 away: the record is not scored and its offset is never stored (the old loop
    crashed in store_offsets)."""
    consumer.initial = (0, 1)
    worker = make_worker()
    consumer.actions.append(lambda c: None)  # the first consume(n, 0) finds nothing
    first = consumer.consume
    calls = {"n": 0}

    def consume(num_messages: int = 1, timeout: float = -1) -> list:  # type: ignore[type-arg]
        calls["n"] += 1
        if calls["n"] == 2:  # poll(): the record of partition 1
            consumer.add(1, event(9))
        if calls["n"] == 3:  # the consume(n - 1, 0) after it: partition 1 is revoked
            consumer.revoke(1)
        return first(num_messages, timeout)

    consumer.consume = consume  # type: ignore[method-assign]
    worker.run()
    assert on("scored", producer) == []
    assert ("in", 1) not in consumer.stored


def test_lost_partitions_are_never_committed(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer
) -> None:
    producer.per_poll = 0
    consumer.initial = (0, 1)
    consumer.add(0, event(0))
    consumer.add(1, event(1))
    consumer.actions.extend([lambda c: None, lambda c: c.lose(1)])
    make_worker().run()
    assert ("in", 1) not in consumer.committed
    assert consumer.committed[("in", 0)] == 1


def test_an_idle_member_stores_what_was_acknowledged_since_its_last_batch(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer
) -> None:
    """The old loop stored a batch's offsets only when the next batch came: an idle group
    kept showing lag. Now an idle turn stores them."""
    producer.per_poll = 0
    consumer.add(0, event(0), event(1))
    worker = make_worker()
    stored_when_idle: list[dict[tuple[str, int], int]] = []
    empty_calls = iter(range(1, 100))

    def empty() -> None:
        call = next(empty_calls)
        if call == 1:  # idle: the acknowledgements arrive now, after the batch's own settle
            producer.per_poll = 100
        if call == 3:  # one whole idle turn later
            stored_when_idle.append(dict(consumer.stored))
            worker.stop()

    consumer.on_empty = empty
    worker.run()
    assert stored_when_idle == [{("in", 0): 2}]


def test_a_fatal_consumer_error_stops_the_member(
    make_worker: WorkerFactory, consumer: StubConsumer
) -> None:
    consumer.add(0, event(0))
    consumer.records.append(client_event(KafkaError._FATAL, fatal=True))
    with pytest.raises(FatalKafkaError, match="fatal"):
        make_worker().run()
    assert consumer.closed


def test_a_failing_commit_on_the_way_out_still_closes_everything(
    make_worker: WorkerFactory, consumer: StubConsumer
) -> None:
    consumer.add(0, event(0))
    consumer.commit_error = KafkaException(KafkaError(KafkaError._TRANSPORT, "broker gone"))
    worker = make_worker()
    closed: list[bool] = []
    worker.runtime.close = lambda: closed.append(True)  # type: ignore[method-assign]
    worker.run()
    assert consumer.closed and closed == [True]


def test_an_exception_while_closing_still_closes_the_rest(
    make_worker: WorkerFactory, consumer: StubConsumer
) -> None:
    consumer.add(0, event(0))
    worker = make_worker()
    closed: list[bool] = []
    worker.runtime.close = lambda: closed.append(True)  # type: ignore[method-assign]

    def broken_close() -> None:
        raise RuntimeError("close failed")

    worker.policy.close = broken_close  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="close failed"):
        worker.run()
    assert consumer.closed and closed == [True]
