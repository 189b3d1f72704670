"""Exactly-once on stub clients: one transaction per batch holding its outputs and input
offsets; an abortable error aborts and reads the batch again; a fenced producer stops."""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import KafkaError, KafkaException

import worker.kafka.offsets as offsets_module
from tests.kafka.conftest import WorkerFactory, event
from tests.kafka.stubs import Produced, StubConsumer, StubProducer
from worker.kafka.errors import FatalKafkaError

EOS = {"processing_guarantee": "exactly_once"}


def topics(records: list[Produced]) -> list[str]:
    return sorted(record.topic for record in records)


def abortable(reason: str) -> KafkaException:
    return KafkaException(KafkaError(KafkaError._STATE, reason, txn_requires_abort=True))


def test_each_batch_is_one_transaction_with_its_offsets(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer
) -> None:
    consumer.add(0, event(0), event(1), b"garbage", event(3))
    make_worker(batch_max=2, **EOS).run()
    assert [topics(records) for records in producer.committed] == [
        ["degraded", "degraded", "scored", "scored"],
        ["degraded", "dlq", "scored"],
    ]
    assert [[tp.offset for tp in sent] for sent in producer.offsets_sent] == [[2], [4]]
    assert consumer.stored == {} and consumer.committed == {}, "offsets go in the transaction"


def test_an_aborted_transaction_rewinds_and_the_batch_is_read_again(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer
) -> None:
    """A zombie's offsets are refused (an abortable error): its outputs are aborted, never
    committed, and the consumer goes back to the batch's first offset."""
    failures = iter([abortable("generation is stale"), None])
    producer.transaction_error = lambda step: next(failures) if step == "send_offsets" else None
    consumer.add(0, event(0), event(1))
    make_worker(**EOS).run()
    assert [topics(records).count("scored") for records in producer.aborted] == [2]
    assert [topics(records).count("scored") for records in producer.committed] == [2]
    assert [(tp.partition, tp.offset) for tp in consumer.seeks] == [(0, 0)]


def test_a_fenced_producer_stops_the_member(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer
) -> None:
    fenced = KafkaException(
        KafkaError(KafkaError._FENCED, "fenced by a newer instance", fatal=True)
    )
    producer.transaction_error = lambda step: fenced if step == "commit" else None
    consumer.add(0, event(0))
    with pytest.raises(FatalKafkaError, match="fenced"):
        make_worker(**EOS).run()
    assert producer.committed == [] and consumer.closed


def test_a_retriable_commit_is_retried(
    make_worker: WorkerFactory, consumer: StubConsumer, producer: StubProducer
) -> None:
    busy = KafkaException(KafkaError(KafkaError._TIMED_OUT, "coordinator busy", retriable=True))
    failures = iter([busy, busy, None])
    producer.transaction_error = lambda step: next(failures) if step == "commit" else None
    consumer.add(0, event(0))
    make_worker(**EOS).run()
    assert len(producer.committed) == 1 and producer.aborted == []


def test_a_transactional_call_that_ignores_its_timeout_stops_the_member(
    make_worker: WorkerFactory,
    consumer: StubConsumer,
    producer: StubProducer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """librdkafka's send_offsets_to_transaction can wait forever while the group coordinator
    is away (seen in the chaos suite after a broker restart): the member gives up after its
    bound and stops, instead of hanging deaf to SIGTERM."""
    monkeypatch.setattr(offsets_module, "WATCHDOG_MARGIN_S", 0.2)
    never = threading.Event()

    def hang(step: str) -> None:
        if step == "send_offsets":
            never.wait(30)

    producer.transaction_error = hang  # type: ignore[assignment]
    consumer.add(0, event(0))
    try:
        with pytest.raises(FatalKafkaError, match="did not return within"):
            make_worker(flush_timeout_ms=200, **EOS).run()
        assert consumer.closed and producer.committed == []
    finally:
        never.set()
