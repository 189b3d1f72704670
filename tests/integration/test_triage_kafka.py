"""The triage app's Kafka side on the real broker and the real queue store (SQLite and the
stack's PostgreSQL): review items stored once however often they are read, offsets committed
only after storing, a re-score superseding its degraded item, bad records dead-lettered; and
each decision on the labels topic exactly once, across the publisher's crash windows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from confluent_kafka import Producer

from tests.integration.harness import REGISTRY, read_topic, running, wait_for, worker_settings
from tests.triage.factories import incoming, migrated_store, review_record
from worker.codec import RecordEncoder
from worker.kafka.config import client_config
from worker.kafka.topics import committed_total, topic_size
from worker.settings import Settings
from worker.triage.consumer import QueueConsumer
from worker.triage.metrics import TriageMetrics
from worker.triage.publisher import LabelPublisher, label_uid
from worker.triage.store import QueueStore
from worker.triage.types import IncomingItem, Kind, LabelState, Outcome, QueueFilter, StoreReport

V1 = RecordEncoder.for_schema_id(REGISTRY, 200)
V2 = RecordEncoder.for_schema_id(REGISTRY, 201)


class Crash(Exception):
    """The process dies here: nothing after it runs."""


@pytest.fixture
def store(database_url: str) -> Iterator[QueueStore]:
    """The real store on each backend (SQLite, then PostgreSQL)."""
    with migrated_store(database_url) as store:
        yield store


def triage_settings(live_stack: Settings, make_topic: Callable[[int], str]) -> Settings:
    data = worker_settings(live_stack, make_topic).model_dump()
    data["triage"] = {
        **data["triage"],
        "group_id": f"triage-{uuid.uuid4().hex[:8]}",
        "batch_wait_ms": 100,
        "retry_wait_s": 0.2,
        "include_degraded": True,
    }
    return Settings.model_validate(data)


def review_item(n: int, **fields: Any) -> dict[str, Any]:
    """The record of transaction ``tx<n>``, scored now (``review_record``'s keywords)."""
    values: dict[str, Any] = {"score": 0.8, "amount": 100.0, "card_id": f"card-{n}"}
    return review_record(f"tx{n}", scored_at_ms=int(time.time() * 1000), **{**values, **fields})


def produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = Producer(client_config(settings))
    for value in values:
        producer.produce(topic, value, b"key")
    assert producer.flush(30) == 0


class CrashAfterStoring:
    """The real store, and a crash right after the first batch is stored: its offsets are
    never stored nor committed (the consumer dies between the two)."""

    def __init__(self, store: QueueStore) -> None:
        self.store = store
        self.stored: list[str] = []

    def store_items(self, items: list[IncomingItem]) -> StoreReport:
        self.store.store_items(items)
        self.stored += [item.transaction_id for item in items]
        raise Crash("after storing, before committing")


def queue_consumer(settings: Settings, store: Any, metrics: TriageMetrics) -> QueueConsumer:
    return QueueConsumer(settings, store, metrics)


def running_consumer(
    settings: Settings, store: QueueStore
) -> AbstractContextManager[QueueConsumer]:
    return running(queue_consumer(settings, store, TriageMetrics(store)), "queue consumer")


def counter(member: QueueConsumer, name: str, **labels: str) -> float:
    return member.metrics.registry.get_sample_value(name, labels) or 0.0


def queued(store: QueueStore, kind: Kind = Kind.REVIEW) -> dict[str, Any]:
    """Open items of a kind, by transaction id."""
    page = store.queue(QueueFilter(kind=kind), limit=1000)
    return {row.transaction_id: row for row in page.rows}


def committed(settings: Settings, topic: str) -> int:
    return committed_total(settings, settings.triage.group_id, topic)


def test_items_are_stored_once_however_often_read_and_committed_only_after_storing(
    live_stack: Settings, make_topic: Callable[[int], str], store: QueueStore
) -> None:
    settings = triage_settings(live_stack, make_topic)
    review, degraded = settings.topics.review, settings.topics.degraded
    values = [V2.encode(review_item(n)) for n in range(6)] + [V1.encode(review_item(6))]
    produce(settings, review, [*values[:3], b"not avro", *values[3:]])
    produce(settings, degraded, [V2.encode(review_item(n)) for n in range(10, 13)])
    # A member that dies after storing its first batch, before committing it.
    crashing = CrashAfterStoring(store)
    with pytest.raises(Crash):
        queue_consumer(settings, crashing, TriageMetrics()).run()
    assert crashing.stored, "it stored a batch"
    assert committed(settings, review) == 0 and committed(settings, degraded) == 0
    # Its successor reads everything again: what was stored is stored once.
    with running_consumer(settings, store) as member:
        wait_for(lambda: len(queued(store)) == 7 and len(queued(store, Kind.DEGRADED)) == 3)
        wait_for(
            lambda: (
                counter(member, "fraud_triage_dead_letters_total", error_code="wrong_magic_byte")
                == 1
            )
        )
        wait_for(lambda: committed(settings, review) == topic_size(settings, review))
    assert committed(settings, degraded) == topic_size(settings, degraded)
    assert counter(member, "fraud_triage_items_repeated_total") == len(crashing.stored)
    stored = counter(member, "fraud_triage_items_stored_total", kind="review")
    stored += counter(member, "fraud_triage_items_stored_total", kind="degraded")
    assert stored == 10
    rows = queued(store)
    assert set(rows) == {f"tx{n}" for n in range(7)}
    assert rows["tx6"].priority == pytest.approx(0.8 * 100.0), "a v1 item: score x amount"
    [(letter, _message)] = read_topic(settings, settings.topics.dead_letter, "dead_letter", 1)
    assert (letter["source_topic"], letter["source_offset"]) == (review, 3)


def test_a_rescore_supersedes_its_degraded_item(
    live_stack: Settings, make_topic: Callable[[int], str], store: QueueStore
) -> None:
    settings = triage_settings(live_stack, make_topic)
    degraded = review_item(1, decision="allow", source="fallback", score=0.1)
    superseded = {"source": "fallback", "score": 0.1, "decision": "allow", "scored_at_ms": 5}
    rescore = review_item(1, supersedes=superseded, decision="block", score=0.97)
    with running_consumer(settings, store) as member:
        produce(settings, settings.topics.degraded, [V2.encode(degraded)])
        wait_for(lambda: "tx1" in queued(store, Kind.DEGRADED))
        produce(settings, settings.topics.review, [V2.encode(rescore)])
        wait_for(lambda: "tx1" in queued(store))
        assert counter(member, "fraud_triage_items_superseded_total") == 1
    row = queued(store)["tx1"]
    assert row.superseded and row.decision == "block" and row.kind is Kind.REVIEW
    assert queued(store, Kind.DEGRADED) == {}, "one item: the degraded answer became review"
    assert store.item(row.id).supersedes == superseded


class CrashBeforeMarkingPublished:
    """The real store, whose ``mark_published`` never comes: the process dies after the ack."""

    def __init__(self, store: QueueStore) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def mark_published(self, positions: dict[int, tuple[int, int]]) -> None:
        raise Crash("after the ack, before mark_published")


def decide(store: QueueStore, transaction_id: str, outcome: Outcome, reason: str) -> int:
    """Queue an item, claim it and decide it; the decision's id."""
    store.store_items([incoming(transaction_id, card_id=f"card-{transaction_id}")])
    item_id = queued(store)[transaction_id].id
    store.claim(item_id, "ana")
    return store.decide(item_id, "ana", outcome, reason, "seen on the call").id


def test_each_decision_reaches_the_labels_topic_exactly_once_across_crashes(
    live_stack: Settings, make_topic: Callable[[int], str], store: QueueStore
) -> None:
    settings = triage_settings(live_stack, make_topic)
    acked = decide(store, "tx-acked", Outcome.FRAUD, "stolen_card")
    # Crash 1: produced and acknowledged, never marked PUBLISHED.
    first = LabelPublisher(settings, CrashBeforeMarkingPublished(store), TriageMetrics())  # type: ignore[arg-type]
    with pytest.raises(Crash):
        first.publish_once()
    first.close()
    assert [r.state for r in store.labels_to_send()] == [LabelState.SENDING]
    # Crash 2: marked SENDING with its snapshot, never produced.
    unsent = decide(store, "tx-unsent", Outcome.LEGITIMATE, "customer_confirmed")
    steps = LabelPublisher(settings, store, TriageMetrics())
    assert store.mark_sending([unsent], steps.labels_log.end_offsets()) == [unsent]
    steps.close()
    # A third decision that no crash touched, and a new publisher's recovery.
    plain = decide(store, "tx-plain", Outcome.FRAUD, "card_testing")
    metrics = TriageMetrics()
    publisher = LabelPublisher(settings, store, metrics, recover_after_s=0)
    assert publisher.publish_once() == 2, "the unsent one and the plain one"
    assert publisher.publish_once() == 0
    publisher.close()
    labels = read_topic(settings, settings.topics.labels, "label", 3, quiet_s=2.0)
    by_transaction = {record["transaction_id"]: (record, m) for record, m in labels}
    assert len(labels) == 3 and set(by_transaction) == {"tx-acked", "tx-unsent", "tx-plain"}
    record, message = by_transaction["tx-unsent"]
    assert (record["outcome"], record["label_source"], record["decided_by"]) == (
        "legitimate",
        "analyst",
        "ana",
    )
    assert "seen on the call" in str(record["note"])
    assert message.key() == b"card-tx-unsent"
    assert store.labels_to_send() == [], "all PUBLISHED"
    assert len({acked, unsent, plain}) == 3
    uids = {label_uid(m) for _r, m in labels}
    assert len(uids) == 3 and None not in uids
    sample = metrics.registry.get_sample_value
    assert sample("fraud_triage_labels_recovered_total", {"result": "found"}) == 1
    assert sample("fraud_triage_labels_recovered_total", {"result": "resend"}) == 1
    assert sample("fraud_triage_labels_published_total") == 2
