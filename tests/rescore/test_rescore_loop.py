"""The re-scorer on stub clients: what it publishes, stores and commits for each kind of
degraded item, and how it waits — paused, uncommitted — while the primary is not back."""

from __future__ import annotations

import time

from tests.rescore.conftest import (
    ALLOW_AMOUNT,
    BLOCK_AMOUNT,
    DEAD_LETTERS,
    REVIEW_AMOUNT,
    Setup,
    WorkerFactory,
    degraded_item,
)

HOUR_MS = 3_600_000


def test_a_rescore_that_crosses_the_threshold_supersedes_the_degraded_answer(
    make_worker: WorkerFactory, setup: Setup
) -> None:
    scored_at = int(time.time() * 1000) - HOUR_MS
    setup.consumer.add(0, degraded_item(1, BLOCK_AMOUNT, scored_at))
    setup.consumer.add(0, degraded_item(2, REVIEW_AMOUNT))
    make_worker().run()
    items = {item["result"]["transaction_id"]: item for item in setup.reviews()}
    assert set(items) == {"tx1", "tx2"}
    block = items["tx1"]
    result = block["result"]
    assert (result["source"], result["degraded"], result["decision"]) == ("primary", False, "block")
    assert result["card_id"] == "c_1" and result["model_version"] == "fw-test"
    assert result["scored_at_ms"] > scored_at, "the re-score's own time"
    assert block["supersedes"] == {
        "source": "fallback",
        "score": 0.2,
        "decision": "allow",
        "scored_at_ms": scored_at,
    }
    assert block["review_reasons"] == ["rescored:fallback", "decision:block"]
    assert block["priority"] == result["score"] * BLOCK_AMOUNT
    assert items["tx2"]["result"]["decision"] == "review"
    assert [r.key for r in setup.on("review")] == [b"c_1", b"c_2"], "keyed by card"
    assert setup.consumer.committed == {("degraded", 0): 2}
    assert setup.outcomes()["escalated"] == 2


def test_a_confirmed_allow_publishes_nothing_and_is_committed(
    make_worker: WorkerFactory, setup: Setup
) -> None:
    setup.consumer.add(0, degraded_item(1, ALLOW_AMOUNT), degraded_item(2, ALLOW_AMOUNT))
    make_worker().run()
    assert setup.producer.delivered == []
    assert setup.consumer.committed == {("degraded", 0): 2}
    assert setup.outcomes()["confirmed"] == 2


def test_answers_older_than_max_age_are_not_rescored(
    make_worker: WorkerFactory, setup: Setup
) -> None:
    now_ms = int(time.time() * 1000)
    old, recent = now_ms - 7 * HOUR_MS, now_ms - 5 * HOUR_MS
    setup.consumer.add(0, degraded_item(1, BLOCK_AMOUNT, old))
    setup.consumer.add(0, degraded_item(2, BLOCK_AMOUNT, recent))
    make_worker().run()
    assert [item["result"]["transaction_id"] for item in setup.reviews()] == ["tx2"]
    outcomes = setup.outcomes()
    assert (outcomes["expired"], outcomes["escalated"]) == (1, 1)
    assert setup.consumer.committed == {("degraded", 0): 2}


def test_an_expired_batch_needs_no_primary(make_worker: WorkerFactory, setup: Setup) -> None:
    setup.store.fail = True
    setup.consumer.add(0, degraded_item(1, BLOCK_AMOUNT, int(time.time() * 1000) - 7 * HOUR_MS))
    make_worker().run()
    assert setup.store.reads == 0
    assert setup.consumer.committed == {("degraded", 0): 1}


def test_an_item_already_decided_review_is_not_sent_twice(
    make_worker: WorkerFactory, setup: Setup
) -> None:
    setup.consumer.add(0, degraded_item(1, BLOCK_AMOUNT, decision="review", source="rules"))
    make_worker().run()
    assert setup.producer.delivered == []
    assert setup.outcomes()["already_reviewed"] == 1
    assert setup.store.reads == 0, "not even scored"


def test_undecodable_records_are_dead_lettered_and_the_rest_rescored(
    make_worker: WorkerFactory, setup: Setup
) -> None:
    setup.consumer.add(0, b"garbage", degraded_item(1, BLOCK_AMOUNT), None)
    make_worker().run()
    letters = [DEAD_LETTERS.decode(record.value) for record in setup.on("dlq")]
    assert [letter["source_offset"] for letter in letters] == [0, 2]
    assert all(letter["source_topic"] == "degraded" for letter in letters)
    assert [item["result"]["transaction_id"] for item in setup.reviews()] == ["tx1"]
    assert setup.outcomes()["undecodable"] == 2
    assert setup.consumer.committed == {("degraded", 0): 3}


def test_rescoring_never_writes_the_feature_store(make_worker: WorkerFactory, setup: Setup) -> None:
    setup.consumer.add(0, degraded_item(1, BLOCK_AMOUNT), degraded_item(2, ALLOW_AMOUNT))
    make_worker().run()
    assert setup.store.reads == 1, "one read for the batch"
    assert setup.store.updates == 0
    assert setup.writes.sent == []


def test_while_the_primary_is_not_back_nothing_is_stored_and_the_batch_is_tried_again(
    make_worker: WorkerFactory, setup: Setup
) -> None:
    """The feature store fails: the batch waits, paused — no output, no offset stored — and
    is tried again every retry_wait_s (the breaker opens on the way, which is one more way
    of not being back). Once the store answers, the same batch is re-scored and committed."""
    setup.store.fail = True
    setup.consumer.add(0, degraded_item(1, BLOCK_AMOUNT), degraded_item(2, ALLOW_AMOUNT))
    worker = make_worker()
    seen: dict[str, object] = {}

    def empty() -> None:
        if not worker.waiting:
            worker.stop()
            return
        if setup.store.reads >= 4 and "stored" not in seen:
            seen.update(
                stored=dict(setup.consumer.stored),
                delivered=list(setup.producer.delivered),
                paused=set(setup.consumer.paused),
                ready=worker.health.not_ready_because(),
                gauge=setup.sample("fraud_rescore_waiting_for_primary"),
            )
            setup.store.fail = False

    setup.consumer.on_empty = empty
    worker.run()
    assert seen["stored"] == {} and seen["delivered"] == []
    assert seen["paused"] == {("degraded", 0)}
    assert seen["ready"] == "waiting: the primary (feature_store:unavailable)"
    assert seen["gauge"] == 1
    assert [item["result"]["transaction_id"] for item in setup.reviews()] == ["tx1"]
    assert setup.consumer.committed == {("degraded", 0): 2}
    assert setup.consumer.paused == set(), "resumed"
    assert setup.sample("fraud_rescore_waiting_for_primary") == 0
    assert setup.sample("fraud_rescore_retries_total", failure="feature_store:unavailable")


def test_a_stop_while_waiting_leaves_the_batch_uncommitted(
    make_worker: WorkerFactory, setup: Setup
) -> None:
    setup.store.fail = True
    setup.consumer.add(0, degraded_item(1, BLOCK_AMOUNT))
    worker = make_worker()
    setup.consumer.on_empty = lambda: worker.stop() if setup.store.reads >= 2 else None
    assert worker.run() == 0
    assert setup.producer.delivered == []
    assert setup.consumer.committed == {}
    assert setup.consumer.closed


def test_records_of_a_partition_assigned_while_waiting_join_the_batch(
    make_worker: WorkerFactory, setup: Setup
) -> None:
    setup.store.fail = True
    setup.consumer.add(0, degraded_item(1, BLOCK_AMOUNT))
    setup.consumer.add(1, degraded_item(2, BLOCK_AMOUNT))
    worker = make_worker()

    def empty() -> None:
        if not worker.waiting:
            worker.stop()
        elif setup.store.reads == 2 and not setup.consumer.actions:
            setup.consumer.actions.append(lambda c: c.assign(1))
        elif setup.store.reads >= 3:
            setup.store.fail = False

    setup.consumer.on_empty = empty
    worker.run()
    assert sorted(item["result"]["transaction_id"] for item in setup.reviews()) == ["tx1", "tx2"]
    assert setup.consumer.committed == {("degraded", 0): 1, ("degraded", 1): 1}
