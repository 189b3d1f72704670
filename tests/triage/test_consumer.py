"""The queue consumer on stub Kafka clients and a fake store: a batch's offsets are stored
only after its items are, a database that is away holds the batch (paused, uncommitted) until
it answers, one the database refuses goes to the dead-letter topic, and a bug stops it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition
from fastavro.types import Schema
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from tests.kafka.stubs import Key, PausableConsumer, StubConsumer, StubMessage, StubProducer
from tests.triage.factories import review_record
from worker.codec import (
    EventDecoder,
    LocalSchemaRegistry,
    RecordEncoder,
    SchemaRegistryError,
    default_schemas_dir,
    load_schema,
)
from worker.kafka.errors import DeliveryError
from worker.settings import Settings
from worker.triage.consumer import DATABASE_DOWN, QueueConsumer, database_outage, first_line
from worker.triage.metrics import TriageMetrics
from worker.triage.types import IncomingItem, Kind, StoreReport

REGISTRY = LocalSchemaRegistry(default_schemas_dir())
V2 = RecordEncoder.for_schema_id(REGISTRY, 201)
DEAD_LETTERS = EventDecoder(REGISTRY, load_schema(default_schemas_dir() / "dead_letter.v1.avsc"))
SECRET_CARD = "card-4111-secret"


def review_item(n: int, supersedes: dict[str, Any] | None = None) -> bytes:
    """A framed ReviewItem v2 for transaction ``tx<n>``."""
    return V2.encode(review_record(f"tx{n}", card_id=SECRET_CARD, supersedes=supersedes))


def db_error(kind: type[DBAPIError], text: str = "connection refused") -> DBAPIError:
    """What SQLAlchemy raises, statement and parameters (card data) included."""
    return kind("INSERT INTO items VALUES (?)", {"card_id": SECRET_CARD}, Exception(text))


@dataclass
class FakeStore:
    """Items by transaction id; ``fail`` raises on every call while set, ``refuse`` raises
    IntegrityError for a batch holding one of its transaction ids. ``calls`` notes, per call,
    the transaction ids and what the consumer had stored as offsets at that moment."""

    consumer: StubConsumer
    items: dict[str, IncomingItem] = field(default_factory=dict)
    fail: Exception | None = None
    refuse: set[str] = field(default_factory=set)
    calls: list[tuple[list[str], dict[Key, int]]] = field(default_factory=list)

    def store_items(self, items: list[IncomingItem]) -> StoreReport:
        self.calls.append(([i.transaction_id for i in items], dict(self.consumer.stored)))
        if self.fail is not None:
            raise self.fail
        if self.refuse & {i.transaction_id for i in items}:
            raise db_error(IntegrityError, "UNIQUE constraint failed: items.transaction_id")
        inserted = repeated = superseded = 0
        for item in items:
            known = self.items.get(item.transaction_id)
            if known is None:
                self.items[item.transaction_id] = item
                inserted += 1
            elif item.supersedes is not None and known.supersedes is None:
                self.items[item.transaction_id] = item
                superseded += 1
            else:
                repeated += 1
        return StoreReport(inserted, superseded, repeated)


@dataclass
class QueueStub(PausableConsumer):
    """The pausable stub consumer over several topics (partition 0 of each)."""

    subscribed: list[str] = field(default_factory=list)

    def subscribe(self, topics: list[str], **callbacks: Callable[..., None]) -> None:
        self.subscribed = list(topics)
        self.callbacks = dict(callbacks)
        self.actions.insert(0, lambda consumer: self.assign_topics(*topics))

    def assign_topics(self, *topics: str) -> None:
        self.assigned |= {(t, 0) for t in topics}
        self.callbacks["on_assign"](self, [TopicPartition(t, 0) for t in topics])

    def put(self, topic: str, *values: bytes | None) -> None:
        for value in values:
            offset = sum(1 for m in self.records if m.topic() == topic)
            self.records.append(StubMessage(topic, 0, offset, value, b"key"))


def stub_settings(**triage: Any) -> Settings:
    data: dict[str, Any] = {
        "topics": {"review": "review", "degraded": "degraded", "dead_letter": "dlq"},
        "worker": {"metrics_port": 0, "flush_timeout_ms": 1000},
        "triage": {"batch_wait_ms": 0, "retry_wait_s": 0.05, **triage},
    }
    return Settings.model_validate(data)


@dataclass
class Setup:
    consumer: QueueStub = field(default_factory=QueueStub)
    producer: StubProducer = field(default_factory=StubProducer)
    metrics: TriageMetrics = field(default_factory=TriageMetrics)
    store: FakeStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = FakeStore(self.consumer)

    def build(self, registry: Any = None, **triage: Any) -> QueueConsumer:
        member = QueueConsumer(
            stub_settings(**triage),
            self.store,  # type: ignore[arg-type]
            self.metrics,
            self.consumer,  # type: ignore[arg-type]
            self.producer,  # type: ignore[arg-type]
            registry,
        )
        # run() returns once the records are served and no batch waits.
        self.consumer.on_empty = lambda: None if member.waiting else member.stop()
        return member

    def sample(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)

    def letters(self) -> list[dict[str, Any]]:
        return [DEAD_LETTERS.decode(r.value) for r in self.producer.delivered if r.topic == "dlq"]


@pytest.fixture
def setup() -> Setup:
    return Setup()


def test_items_are_stored_before_their_offsets_and_a_redelivery_is_one_item(
    setup: Setup,
) -> None:
    setup.consumer.put("review", review_item(1), review_item(2), review_item(1))
    setup.build().run()
    assert sorted(setup.store.items) == ["tx1", "tx2"]
    assert setup.store.calls == [(["tx1", "tx2", "tx1"], {})], "one call, nothing stored yet"
    assert setup.consumer.committed == {("review", 0): 3}
    assert setup.sample("fraud_triage_items_stored_total", kind="review") == 3
    assert setup.sample("fraud_triage_items_repeated_total") == 1
    assert setup.producer.delivered == [], "no dead letters"


def test_the_review_and_degraded_topics_are_read_and_a_rescore_supersedes(
    setup: Setup,
) -> None:
    superseded = {"source": "fallback", "score": 0.1, "decision": "allow", "scored_at_ms": 0}
    setup.consumer.put("degraded", review_item(1), review_item(2))
    setup.consumer.put("review", review_item(1, supersedes=superseded))
    member = setup.build()
    member.run()
    assert setup.consumer.subscribed == ["review", "degraded"]
    assert member.source.topics == ["review", "degraded"]
    assert setup.store.items["tx1"].kind is Kind.REVIEW
    assert setup.store.items["tx2"].kind is Kind.DEGRADED
    assert setup.consumer.committed == {("review", 0): 1, ("degraded", 0): 2}
    assert setup.sample("fraud_triage_items_superseded_total") == 1
    assert setup.sample("fraud_triage_items_stored_total", kind="degraded") == 2


def test_without_degraded_items_only_the_review_topic_is_subscribed(setup: Setup) -> None:
    setup.build(include_degraded=False).run()
    assert setup.consumer.subscribed == ["review"]


def test_while_the_database_is_down_the_batch_waits_uncommitted_then_is_stored_once(
    setup: Setup,
) -> None:
    setup.store.fail = db_error(OperationalError)
    setup.consumer.put("review", review_item(1), review_item(2))
    member = setup.build()
    seen: dict[str, object] = {}

    def empty() -> None:
        if not member.waiting:
            member.stop()
        elif len(setup.store.calls) >= 3 and not seen:
            seen.update(
                stored=dict(setup.consumer.stored),
                committed=dict(setup.consumer.committed),
                paused=set(setup.consumer.paused),
                ready=member.health.not_ready_because(),
                gauge=setup.sample("fraud_triage_waiting_for_database"),
            )
            setup.store.fail = None

    setup.consumer.on_empty = empty
    member.run()
    assert seen["stored"] == {} and seen["committed"] == {}
    assert seen["paused"] == {("review", 0), ("degraded", 0)}
    assert seen["ready"] == f"waiting: {DATABASE_DOWN}"
    assert seen["gauge"] == 1
    assert sorted(setup.store.items) == ["tx1", "tx2"]
    assert all(offsets == {} for _ids, offsets in setup.store.calls)
    assert setup.consumer.committed == {("review", 0): 2}
    assert setup.consumer.paused == set(), "resumed"
    assert setup.sample("fraud_triage_waiting_for_database") == 0
    assert (setup.sample("fraud_triage_store_retries_total") or 0) >= 3
    assert setup.sample("fraud_triage_items_repeated_total") == 0, "stored once"


def test_a_stop_while_waiting_for_the_database_commits_nothing(setup: Setup) -> None:
    setup.store.fail = db_error(OperationalError)
    setup.consumer.put("review", review_item(1))
    member = setup.build()
    setup.consumer.on_empty = lambda: member.stop() if len(setup.store.calls) >= 2 else None
    assert member.run() == 0
    assert setup.store.items == {}
    assert setup.consumer.committed == {} and setup.consumer.closed


def test_a_registry_that_does_not_answer_holds_the_batch_too(setup: Setup) -> None:
    class FlakyRegistry:
        down = True

        def schema(self, schema_id: int) -> Schema:
            if self.down and schema_id == 201:  # the items' writer; dead letters encode
                raise SchemaRegistryError("registry unreachable")
            return REGISTRY.schema(schema_id)

        def latest_id(self, subject: str) -> int:
            return REGISTRY.latest_id(subject)

    registry = FlakyRegistry()
    setup.consumer.put("review", review_item(1))
    member = setup.build(registry)
    waits: list[str | None] = []

    def empty() -> None:
        if not member.waiting:
            member.stop()
        else:
            waits.append(member.health.not_ready_because())
            registry.down = False

    setup.consumer.on_empty = empty
    member.run()
    assert waits and "schema registry" in str(waits[0])
    assert list(setup.store.items) == ["tx1"]
    assert setup.consumer.committed == {("review", 0): 1}


def test_items_the_database_refuses_are_dead_lettered_and_the_rest_stored(
    setup: Setup,
) -> None:
    setup.store.refuse = {"tx2"}
    setup.consumer.put("review", review_item(1), review_item(2), review_item(3))
    setup.build().run()
    assert sorted(setup.store.items) == ["tx1", "tx3"]
    [letter] = setup.letters()
    assert letter["error_code"] == "unstorable" and letter["source_offset"] == 1
    assert SECRET_CARD not in letter["error"] and "INSERT" not in letter["error"]
    assert setup.consumer.committed == {("review", 0): 3}
    assert setup.sample("fraud_triage_dead_letters_total", error_code="unstorable") == 1


def test_undecodable_records_are_dead_lettered_and_the_consumer_goes_on(setup: Setup) -> None:
    setup.consumer.put("review", b"garbage", review_item(1))
    setup.consumer.put("degraded", None)
    setup.build().run()
    assert list(setup.store.items) == ["tx1"]
    letters = setup.letters()
    assert sorted(letter["error_code"] for letter in letters) == ["empty", "wrong_magic_byte"]
    assert setup.consumer.committed == {("review", 0): 2, ("degraded", 0): 1}
    assert setup.sample("fraud_triage_dead_letters_total", error_code="wrong_magic_byte") == 1


def test_a_dead_letter_that_is_not_acknowledged_commits_nothing(setup: Setup) -> None:
    setup.producer.fail = lambda record: KafkaError(KafkaError._MSG_TIMED_OUT, "stub")
    setup.consumer.put("review", b"garbage", review_item(1))
    with pytest.raises(DeliveryError):
        setup.build().run()
    assert setup.consumer.committed == {}


def test_a_database_bug_stops_the_consumer_with_nothing_committed(setup: Setup) -> None:
    setup.store.fail = db_error(ProgrammingError, "no such column: items.priority")
    setup.consumer.put("review", review_item(1))
    with pytest.raises(ProgrammingError):
        setup.build().run()
    assert setup.consumer.committed == {} and setup.consumer.closed
    assert len(setup.store.calls) == 1, "not retried: waiting would not help"


def test_what_counts_as_the_database_being_away() -> None:
    assert database_outage(db_error(OperationalError))
    invalidated = DBAPIError(
        "SELECT 1", {}, Exception("server closed"), connection_invalidated=True
    )
    assert database_outage(invalidated)
    assert not database_outage(db_error(IntegrityError))
    assert not database_outage(db_error(ProgrammingError))


def test_the_logged_line_of_a_database_error_holds_no_parameters() -> None:
    error = db_error(IntegrityError, "duplicate key value\nDETAIL: Key (card_id)=(c) exists")
    assert first_line(error) == "duplicate key value"
    assert SECRET_CARD not in first_line(db_error(OperationalError))
