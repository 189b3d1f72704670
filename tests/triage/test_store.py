"""The queue store on SQLite and on the real PostgreSQL: idempotent storing, superseding,
claims that two analysts never share, decisions that queue labels, bulk close, stats."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import inspect

from tests.triage.factories import BASE_MS, Clock, degraded, incoming, migrated_store, rescore_of
from worker.triage.db import migrate, pending_revision
from worker.triage.db.tables import Base
from worker.triage.store import QueueStore
from worker.triage.types import (
    AlreadyClosed,
    ClaimedByOther,
    Kind,
    LabelState,
    NotClaimed,
    NotFound,
    Outcome,
    QueueFilter,
    Role,
    Status,
    UserExists,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database_url: str, clock: Clock) -> Iterator[QueueStore]:
    with migrated_store(database_url, clock) as store:
        yield store


def test_migrations_create_what_the_tables_declare(store: QueueStore) -> None:
    inspector = inspect(store.engine)
    for table in Base.metadata.sorted_tables:
        declared = {column.name for column in table.columns}
        assert {c["name"] for c in inspector.get_columns(table.name)} == declared
    assert pending_revision(store.engine) is None
    migrate(store.engine)  # a second run changes nothing


def test_a_redelivered_item_is_one_item(store: QueueStore) -> None:
    first = store.store_items([incoming("t1"), incoming("t2"), incoming("t1")])
    again = store.store_items([incoming("t2"), incoming("t1")])
    assert (first.inserted, first.repeated) == (2, 0)
    assert (again.inserted, again.repeated) == (0, 2)
    assert store.queue(QueueFilter()).total == 2


def test_the_queue_is_sorted_by_priority_and_filtered(store: QueueStore, clock: Clock) -> None:
    store.store_items([
        incoming("low", score=0.6, amount=10.0, country="DE"),
        incoming("high", score=0.95, amount=900.0, decision="block"),
        incoming("mid", score=0.7, amount=200.0, reasons=["rule:high_amount", "decision:review"],
                 scored_at_ms=BASE_MS - 7_200_000),
    ])  # fmt: skip
    assert [r.transaction_id for r in store.queue(QueueFilter()).rows] == ["high", "mid", "low"]
    oldest = store.queue(QueueFilter(sort="oldest")).rows
    assert oldest[0].transaction_id == "mid"
    assert [r.transaction_id for r in store.queue(QueueFilter(decision="block")).rows] == ["high"]
    assert [r.transaction_id for r in store.queue(QueueFilter(country="DE")).rows] == ["low"]
    assert [r.transaction_id for r in store.queue(QueueFilter(reason="rule:")).rows] == ["mid"]
    amounts = QueueFilter(min_amount=100.0, max_amount=500.0)
    assert [r.transaction_id for r in store.queue(amounts).rows] == ["mid"]
    recent = QueueFilter(max_age_s=2 * 3600)
    assert {r.transaction_id for r in store.queue(recent).rows} == {"high", "low"}
    page = store.queue(QueueFilter(), limit=1, offset=1)
    assert (page.total, [r.transaction_id for r in page.rows]) == (3, ["mid"])
    assert page.counts["decision"] == {"review": 2, "block": 1}
    with pytest.raises(ValueError, match="sort must be one of"):
        store.queue(QueueFilter(sort="random"))


def test_a_reason_filter_matches_literally(store: QueueStore) -> None:
    store.store_items([incoming("a", reasons=["rule:high_amount"]), incoming("b")])
    assert store.queue(QueueFilter(reason="rule:high%")).total == 0
    assert store.queue(QueueFilter(reason="rule:high_")).total == 1


def test_a_rescore_supersedes_its_degraded_item(store: QueueStore) -> None:
    kept_apart = degraded("t1")
    store.store_items([kept_apart])
    assert store.queue(QueueFilter(kind=Kind.DEGRADED)).total == 1
    report = store.store_items([rescore_of(kept_apart)])
    assert report.superseded == 1
    assert store.queue(QueueFilter(kind=Kind.DEGRADED)).total == 0
    (row,) = store.queue(QueueFilter()).rows
    assert (row.source, row.decision, row.superseded) == ("primary", "block", True)
    detail = store.item(row.id)
    assert detail.supersedes is not None and detail.supersedes["source"] == "fallback"


def test_a_degraded_item_after_its_rescore_changes_nothing(store: QueueStore) -> None:
    kept_apart = degraded("t1")
    store.store_items([rescore_of(kept_apart)])
    assert store.store_items([kept_apart]).repeated == 1
    (row,) = store.queue(QueueFilter()).rows
    assert row.decision == "block"
    assert store.queue(QueueFilter(kind=Kind.DEGRADED)).total == 0


def test_a_rescore_reopens_a_degraded_item_a_lead_closed(store: QueueStore) -> None:
    kept_apart = degraded("t1")
    store.store_items([kept_apart])
    assert store.close_degraded("lead") == 1
    store.store_items([rescore_of(kept_apart)])
    (row,) = store.queue(QueueFilter()).rows
    assert row.status is Status.OPEN and row.kind is Kind.REVIEW


def test_two_analysts_never_hold_one_item(store: QueueStore, clock: Clock) -> None:
    store.store_items([incoming("t1")])
    (row,) = store.queue(QueueFilter()).rows
    until = store.claim(row.id, "ana")
    assert until == clock.now_ms + 600_000
    with pytest.raises(ClaimedByOther) as refused:
        store.claim(row.id, "bob")
    assert refused.value.username == "ana"
    assert store.claim(row.id, "ana") == until  # renewing one's own claim
    assert store.queue(QueueFilter()).rows[0].claimed_by == "ana"
    assert store.next_open(QueueFilter(), "bob") is None
    clock.now_ms = until + 1  # the claim expired: free again
    assert store.queue(QueueFilter()).rows[0].claimed_by is None
    store.claim(row.id, "bob")
    with pytest.raises(ClaimedByOther):
        store.decide(row.id, "ana", Outcome.FRAUD, "stolen_card", "")


def test_a_decision_needs_the_deciders_claim(store: QueueStore) -> None:
    store.store_items([incoming("t1")])
    item_id = store.queue(QueueFilter()).rows[0].id
    with pytest.raises(NotClaimed):
        store.decide(item_id, "ana", Outcome.FRAUD, "stolen_card", "")
    store.claim(item_id, "bob")
    with pytest.raises(ClaimedByOther):
        store.decide(item_id, "ana", Outcome.FRAUD, "stolen_card", "")
    with pytest.raises(NotFound):
        store.claim(item_id + 100, "ana")


def test_a_decision_closes_the_item_and_queues_one_label(store: QueueStore, clock: Clock) -> None:
    store.store_items([incoming("t1", card_id="c9", terminal_id="T9"), incoming("t2")])
    item_id = store.queue(QueueFilter()).rows[0].id
    store.claim(item_id, "ana")
    decision = store.decide(item_id, "ana", Outcome.FRAUD, "stolen_card", "customer called")
    assert decision.label_state is LabelState.PENDING
    assert store.queue(QueueFilter()).total == 1
    with pytest.raises(AlreadyClosed):
        store.claim(item_id, "ana")
    (label,) = store.labels_to_send()
    assert label.record == {
        "transaction_id": "t1", "card_id": "c9", "terminal_id": "T9",
        "event_time_ms": BASE_MS - 50, "outcome": "fraud", "label_source": "analyst",
        "known_at_ms": clock.now_ms, "decided_by": "ana", "note": "stolen_card: customer called",
    }  # fmt: skip
    detail = store.item(item_id)
    assert detail.decision is not None and detail.decision.outcome is Outcome.FRAUD
    assert [entry.action for entry in detail.audit] == ["claim", "decide"]


def test_cant_tell_is_no_label(store: QueueStore) -> None:
    store.store_items([incoming("t1")])
    item_id = store.queue(QueueFilter()).rows[0].id
    store.claim(item_id, "ana")
    with pytest.raises(ValueError, match="reason code for unsure"):
        store.decide(item_id, "ana", Outcome.UNSURE, "stolen_card", "")
    decision = store.decide(item_id, "ana", Outcome.UNSURE, "not_enough_information", "")
    assert decision.label_state is LabelState.NONE
    assert store.labels_to_send() == []


def test_label_states_move_once(store: QueueStore) -> None:
    store.store_items([incoming("t1")])
    item_id = store.queue(QueueFilter()).rows[0].id
    store.claim(item_id, "ana")
    decision = store.decide(item_id, "ana", Outcome.LEGITIMATE, "customer_confirmed", "")
    assert store.mark_sending([decision.id], {0: 5, 1: 7}) == [decision.id]
    assert store.mark_sending([decision.id], {0: 6}) == []  # taken already
    (sending,) = store.labels_to_send()
    assert (sending.state, sending.sent_after) == (LabelState.SENDING, {0: 5, 1: 7})
    store.mark_pending([decision.id])
    assert store.labels_to_send()[0].state is LabelState.PENDING
    store.mark_sending([decision.id], {0: 6})
    store.mark_published({decision.id: (0, 6)})
    assert store.labels_to_send() == []
    assert store.item(item_id).decision.label_state is LabelState.PUBLISHED  # type: ignore[union-attr]


def test_a_lead_closes_degraded_items_nobody_holds(store: QueueStore) -> None:
    store.store_items([degraded("d1"), degraded("d2"), degraded("d3"), incoming("r1")])
    rows = store.queue(QueueFilter(kind=Kind.DEGRADED)).rows
    store.claim(rows[0].id, "ana")
    assert store.close_degraded("lead", [rows[1].id]) == 1
    assert store.close_degraded("lead") == 1  # d1 is held by ana, r1 is no degraded item
    assert store.queue(QueueFilter(kind=Kind.DEGRADED)).total == 1
    assert store.queue(QueueFilter()).total == 1


def test_stats_count_what_analysts_found(store: QueueStore, clock: Clock) -> None:
    store.store_items([
        incoming("r1", decision="review"), incoming("r2", decision="review"),
        incoming("b1", decision="block", score=0.95), incoming("open", amount=5000.0),
        degraded("d1"),
    ])  # fmt: skip
    ids = {r.transaction_id: r.id for r in store.queue(QueueFilter()).rows}
    for tx, outcome, code in [
        ("r1", Outcome.FRAUD, "stolen_card"),
        ("r2", Outcome.LEGITIMATE, "false_positive"),
        ("b1", Outcome.FRAUD, "card_testing"),
    ]:
        store.claim(ids[tx], "ana")
        store.decide(ids[tx], "ana", outcome, code, "")
    stats = store.stats()
    assert (stats.open_review, stats.open_degraded) == (1, 1)
    assert stats.review_precision == 0.5 and stats.block_precision == 1.0
    assert sum(n for _hour, n in stats.decisions_per_hour) == 3
    assert stats.decisions_per_hour[-1] == (clock.now_ms // 3_600_000 * 3_600_000, 3)
    assert stats.oldest_open_age_s == pytest.approx(3600.0)
    assert store.depth_by_band() == {"lt10": 0, "10to100": 0, "100to1000": 0, "ge1000": 1}


def test_the_item_page_shows_the_cards_and_terminals_other_items(store: QueueStore) -> None:
    store.store_items([
        incoming("t1", card_id="c1", terminal_id="T1"),
        incoming("t2", card_id="c1", terminal_id="T2"),
        incoming("t3", card_id="c3", terminal_id="T1"),
    ])  # fmt: skip
    ids = {r.transaction_id: r.id for r in store.queue(QueueFilter()).rows}
    detail = store.item(ids["t1"])
    assert [h.transaction_id for h in detail.card_history] == ["t2"]
    assert [h.transaction_id for h in detail.terminal_history] == ["t3"]
    assert detail.event["merchant_category"] == "electronics"


def test_users(store: QueueStore) -> None:
    store.add_user("ana", "hash-1", Role.ANALYST)
    with pytest.raises(UserExists, match="triage user passwd ana"):
        store.add_user("ana", "hash-2", Role.LEAD)
    store.set_password("ana", "hash-3")
    user = store.user("ana")
    assert user is not None and (user.password_hash, user.role) == ("hash-3", Role.ANALYST)
    assert store.user("nobody") is None
    with pytest.raises(NotFound):
        store.set_password("nobody", "x")
    store.ping()


def test_an_items_own_bad_amount_is_stored_as_unknown(store: QueueStore) -> None:
    bad = incoming("nan", amount=float("nan"), reasons=["input:invalid_amount"])
    assert store.store_items([bad, incoming("ok")]).inserted == 2
    rows = {r.transaction_id: r for r in store.queue(QueueFilter()).rows}
    assert rows["nan"].amount is None and rows["nan"].priority == 0.0
    assert rows["ok"].amount == 120.0
    assert store.item(rows["nan"].id).event["amount"] is None
