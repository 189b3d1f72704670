"""The label publisher on a fake producer, labels topic and store: each decision is
published once, and its crash windows — after marking SENDING, before producing; after the
ack, before marking PUBLISHED — are settled by recovery without a label lost or sent twice."""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError
from sqlalchemy.exc import OperationalError, ProgrammingError

from tests.kafka.stubs import StubMessage
from worker.codec import EventDecoder, LocalSchemaRegistry, default_schemas_dir, load_schema
from worker.settings import Settings
from worker.triage.metrics import TriageMetrics
from worker.triage.publisher import UID_HEADER, LabelPublisher, earliest, label_uid
from worker.triage.types import LabelState, LabelToSend

REGISTRY = LocalSchemaRegistry(default_schemas_dir())
LABELS = EventDecoder(REGISTRY, load_schema(default_schemas_dir() / "label.v1.avsc"))
PARTITIONS = 3


class Crash(Exception):
    """The process dies here (nothing after it runs)."""


def label(n: int, outcome: str = "fraud") -> dict[str, Any]:
    return {
        "transaction_id": f"tx{n}",
        "card_id": f"card-{n}",
        "terminal_id": f"term-{n}",
        "event_time_ms": 1_780_000_000_000,
        "outcome": outcome,
        "label_source": "analyst",
        "known_at_ms": 1_780_000_100_000,
        "decided_by": "ana",
        "note": "customer confirmed it was not them",
    }


@dataclass
class Record:
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def uid(self) -> str:
        return dict(self.headers)[UID_HEADER].decode()


@dataclass
class FakeLog:
    """The labels topic: records by partition; ``unreadable`` makes recovery time out."""

    records: list[Record] = field(default_factory=list)
    unreadable: bool = False
    searches: list[dict[int, int]] = field(default_factory=list)

    def append(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> Record:
        partition = zlib.crc32(key) % PARTITIONS
        offset = sum(1 for r in self.records if r.partition == partition)
        record = Record(partition, offset, key, value, headers)
        self.records.append(record)
        return record

    def end_offsets(self) -> dict[int, int]:
        return {p: sum(1 for r in self.records if r.partition == p) for p in range(PARTITIONS)}

    def find(self, uids: set[str], since: dict[int, int]) -> dict[str, tuple[int, int]] | None:
        self.searches.append(dict(since))
        if self.unreadable:
            return None
        return {
            r.uid: (r.partition, r.offset)
            for r in self.records
            if r.offset >= since.get(r.partition, 0) and r.uid in uids
        }

    def close(self) -> None:
        return None


@dataclass
class FakeProducer:
    """Writes to the fake log on flush and acknowledges; ``crash`` dies in produce(),
    ``fail`` reports an error without writing, ``lose_ack`` writes but reports an error."""

    log: FakeLog
    store: FakeStore | None = None
    crash: bool = False
    fail: bool = False
    lose_ack: bool = False
    queue: list[tuple[bytes, bytes, list[tuple[str, bytes]], Any]] = field(default_factory=list)
    produced: int = 0
    states_at_produce: list[LabelState] = field(default_factory=list)

    def produce(
        self, topic: str, value: bytes, key: bytes, headers: Any = None, on_delivery: Any = None
    ) -> None:
        if self.crash:
            raise Crash("after mark_sending, before produce")
        if self.store is not None:
            uid = dict(headers)[UID_HEADER].decode()
            self.states_at_produce.append(self.store.by_uid(uid)["state"])
        self.produced += 1
        self.queue.append((key, value, headers, on_delivery))

    def flush(self, timeout: float = 0) -> int:
        queue, self.queue = self.queue, []
        for key, value, headers, on_delivery in queue:
            if self.fail:
                on_delivery(KafkaError(KafkaError._MSG_TIMED_OUT, "stub"), None)
                continue
            record = self.log.append(key, value, headers)
            error = KafkaError(KafkaError._MSG_TIMED_OUT, "stub") if self.lose_ack else None
            on_delivery(error, StubMessage("labels", record.partition, record.offset, value, key))
        return 0

    def poll(self, timeout: float = 0) -> int:
        return 0


@dataclass
class FakeStore:
    """Decisions' labels and their outbox states; ``crash_in`` names a method that dies
    (once) instead of committing; ``taken`` ids are moved by "another publisher"."""

    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    crash_in: str | None = None
    down: bool = False
    taken: set[int] = field(default_factory=set)

    def decide(self, decision_id: int, record: dict[str, Any]) -> None:
        self.rows[decision_id] = {
            "uid": f"uid-{decision_id}",
            "record": record,
            "state": LabelState.PENDING,
            "sent_after": None,
            "position": None,
        }

    def by_uid(self, uid: str) -> dict[str, Any]:
        return next(row for row in self.rows.values() if row["uid"] == uid)

    def state(self, decision_id: int) -> LabelState:
        state: LabelState = self.rows[decision_id]["state"]
        return state

    def _enter(self, method: str) -> None:
        if self.down:
            raise OperationalError("SELECT", {}, Exception("connection refused"))
        if self.crash_in == method:
            self.crash_in = None
            raise Crash(f"in {method}")

    def labels_to_send(self, limit: int = 500) -> list[LabelToSend]:
        self._enter("labels_to_send")
        wanted = (LabelState.PENDING, LabelState.SENDING)
        return [
            LabelToSend(i, row["uid"], row["record"], row["state"], row["sent_after"])
            for i, row in sorted(self.rows.items())
            if row["state"] in wanted
        ][:limit]

    def mark_sending(self, decision_ids: list[int], sent_after: dict[int, int]) -> list[int]:
        self._enter("mark_sending")
        moved = []
        for i in decision_ids:
            row = self.rows[i]
            if row["state"] is LabelState.PENDING:
                row["state"], row["sent_after"] = LabelState.SENDING, dict(sent_after)
                if i not in self.taken:
                    moved.append(i)
        return moved

    def mark_published(self, positions: dict[int, tuple[int, int]]) -> None:
        self._enter("mark_published")
        for i, position in positions.items():
            row = self.rows[i]
            assert row["state"] is LabelState.SENDING, "only SENDING becomes PUBLISHED"
            row["state"], row["position"] = LabelState.PUBLISHED, position

    def mark_pending(self, decision_ids: list[int]) -> None:
        self._enter("mark_pending")
        for i in decision_ids:
            row = self.rows[i]
            if row["state"] is LabelState.SENDING:
                row["state"], row["sent_after"] = LabelState.PENDING, None


def stub_settings() -> Settings:
    return Settings.model_validate(
        {
            "topics": {"labels": "labels"},
            "worker": {"metrics_port": 0, "flush_timeout_ms": 1000},
            "triage": {"publish_interval_ms": 10},
        }
    )


@dataclass
class Setup:
    log: FakeLog = field(default_factory=FakeLog)
    store: FakeStore = field(default_factory=FakeStore)
    metrics: TriageMetrics = field(default_factory=TriageMetrics)
    now: float = 0.0

    def publisher(self, recover_after_s: float = 0.0, crash: bool = False) -> LabelPublisher:
        """A publisher (a fresh process, after a crash) with its own producer."""
        self.producer = FakeProducer(self.log, self.store, crash=crash)
        return LabelPublisher(
            stub_settings(),
            self.store,  # type: ignore[arg-type]
            self.metrics,
            self.producer,  # type: ignore[arg-type]
            self.log,
            REGISTRY,
            recover_after_s=recover_after_s,
            clock=lambda: self.now,
        )

    def uids_in_topic(self) -> list[str]:
        return [record.uid for record in self.log.records]

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def setup() -> Setup:
    return Setup()


def test_each_decision_is_published_once_keyed_by_card_with_its_uid(setup: Setup) -> None:
    setup.store.decide(1, label(1))
    setup.store.decide(2, label(2, "legitimate"))
    publisher = setup.publisher()
    assert publisher.publish_once() == 2
    assert publisher.publish_once() == 0, "nothing left to send"
    assert sorted(setup.uids_in_topic()) == ["uid-1", "uid-2"]
    for record in setup.log.records:
        decoded = LABELS.decode(record.value)
        assert record.key == decoded["card_id"].encode()
        assert decoded == label(int(decoded["transaction_id"][2:]), decoded["outcome"])
    for i in (1, 2):
        row = setup.store.rows[i]
        record = next(r for r in setup.log.records if r.uid == row["uid"])
        assert row["state"] is LabelState.PUBLISHED
        assert row["position"] == (record.partition, record.offset)
    assert setup.sample("fraud_triage_labels_published_total") == 2


def test_labels_are_marked_sending_with_the_end_offsets_before_they_are_produced(
    setup: Setup,
) -> None:
    setup.log.append(b"card-x", b"earlier", [(UID_HEADER, b"other")])
    before = setup.log.end_offsets()
    setup.store.decide(1, label(1))
    publisher = setup.publisher()
    publisher.publish_once()
    assert setup.producer.states_at_produce == [LabelState.SENDING]
    assert setup.store.rows[1]["sent_after"] == before


def test_a_crash_after_mark_sending_before_produce_is_sent_once_after_recovery(
    setup: Setup,
) -> None:
    setup.store.decide(1, label(1))
    with pytest.raises(Crash):
        setup.publisher(crash=True).publish_once()
    assert setup.store.state(1) is LabelState.SENDING and setup.log.records == []
    snapshot = setup.store.rows[1]["sent_after"]
    assert setup.publisher().publish_once() == 1
    assert setup.log.searches == [snapshot], "read from the recorded snapshot"
    assert setup.uids_in_topic() == ["uid-1"]
    assert setup.store.state(1) is LabelState.PUBLISHED
    assert setup.sample("fraud_triage_labels_recovered_total", result="resend") == 1


def test_a_crash_after_the_ack_before_mark_published_is_found_and_not_sent_again(
    setup: Setup,
) -> None:
    setup.store.decide(1, label(1))
    setup.store.crash_in = "mark_published"
    with pytest.raises(Crash):
        setup.publisher().publish_once()
    assert setup.uids_in_topic() == ["uid-1"] and setup.store.state(1) is LabelState.SENDING
    restarted = setup.publisher()
    assert restarted.publish_once() == 0, "nothing produced"
    assert setup.producer.produced == 0
    assert setup.uids_in_topic() == ["uid-1"]
    [record] = setup.log.records
    assert setup.store.rows[1]["position"] == (record.partition, record.offset)
    assert setup.store.state(1) is LabelState.PUBLISHED
    assert setup.sample("fraud_triage_labels_recovered_total", result="found") == 1


def test_a_failed_delivery_stays_sending_and_the_next_round_sends_it_once(setup: Setup) -> None:
    setup.store.decide(1, label(1))
    publisher = setup.publisher()
    setup.producer.fail = True
    assert publisher.publish_once() == 0
    assert setup.store.state(1) is LabelState.SENDING
    setup.producer.fail = False
    assert publisher.publish_once() == 1
    assert setup.uids_in_topic() == ["uid-1"]


def test_a_lost_ack_is_found_by_recovery_and_not_sent_twice(setup: Setup) -> None:
    setup.store.decide(1, label(1))
    publisher = setup.publisher()
    setup.producer.lose_ack = True
    assert publisher.publish_once() == 0
    setup.producer.lose_ack = False
    publisher.publish_once()
    assert setup.uids_in_topic() == ["uid-1"]
    assert setup.store.state(1) is LabelState.PUBLISHED


def test_a_label_another_publisher_is_sending_is_left_alone_until_it_is_overdue(
    setup: Setup,
) -> None:
    setup.store.decide(1, label(1))
    setup.store.mark_sending([1], setup.log.end_offsets())  # another replica, in flight
    publisher = setup.publisher(recover_after_s=35.0)
    publisher.publish_once()
    setup.now = 30.0
    publisher.publish_once()
    assert setup.log.searches == [] and setup.store.state(1) is LabelState.SENDING
    setup.now = 36.0
    assert publisher.publish_once() == 1
    assert setup.uids_in_topic() == ["uid-1"]


def test_recovery_that_cannot_read_the_topic_to_its_end_concludes_nothing(setup: Setup) -> None:
    setup.store.decide(1, label(1))
    setup.store.mark_sending([1], setup.log.end_offsets())
    setup.log.unreadable = True
    assert setup.publisher().publish_once() == 0
    assert setup.store.state(1) is LabelState.SENDING and setup.log.records == []


def test_labels_another_publisher_took_are_not_produced_here(setup: Setup) -> None:
    setup.store.decide(1, label(1))
    setup.store.decide(2, label(2))
    setup.store.taken = {2}
    assert setup.publisher().publish_once() == 1
    assert setup.uids_in_topic() == ["uid-1"]


def test_a_database_that_is_away_is_waited_out_and_a_bug_stops_the_publisher(
    setup: Setup,
) -> None:
    publisher = setup.publisher()
    setup.store.down = True
    publisher._round()
    assert "database does not answer" in str(publisher.problem)
    setup.store.down = False
    publisher._round()
    assert publisher.problem is None
    setup.store.crash_in = "labels_to_send"
    with pytest.raises(Crash):
        publisher._round()

    def bug(limit: int = 500) -> list[LabelToSend]:
        raise ProgrammingError("SELECT", {}, Exception("no such table: decisions"))

    setup.store.labels_to_send = bug  # type: ignore[method-assign]
    with pytest.raises(ProgrammingError):
        publisher._round()


def test_run_publishes_until_stopped(setup: Setup) -> None:
    publisher = setup.publisher()
    setup.store.decide(1, label(1))
    thread = threading.Thread(target=publisher.run)
    thread.start()
    try:
        for _ in range(500):
            if setup.store.state(1) is LabelState.PUBLISHED:
                break
            threading.Event().wait(0.01)
    finally:
        publisher.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert setup.uids_in_topic() == ["uid-1"]


def test_recovery_reads_each_partition_from_the_lowest_snapshot() -> None:
    def row(i: int, sent_after: dict[int, int] | None) -> LabelToSend:
        return LabelToSend(i, f"u{i}", {}, LabelState.SENDING, sent_after)

    rows = [row(1, {0: 5, 1: 9}), row(2, {0: 3, 1: 12, 2: 4})]
    assert earliest(rows) == {0: 3, 1: 9}, "partition 2 came later for row 1: from its start"
    assert earliest([row(1, None)]) == {}


def test_the_uid_is_read_from_the_records_headers() -> None:
    @dataclass
    class WithHeaders:
        value: Any

        def headers(self) -> Any:
            return self.value

    assert label_uid(WithHeaders([("x", b"1"), (UID_HEADER, b"uid-7")])) == "uid-7"  # type: ignore[arg-type]
    assert label_uid(WithHeaders(None)) is None  # type: ignore[arg-type]
    assert label_uid(WithHeaders([(UID_HEADER, None)])) is None  # type: ignore[arg-type]
