"""The Redis feature store gives exactly the offline features (no train/serve skew)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import redis

from worker.events import EventBatch
from worker.features.stateful import offline_aggregates, stateful_features
from worker.features.store import KEYS_PER_CALL, LAYOUT, RedisFeatureStore
from worker.features.windows import TERMINAL_DELAY_DAYS
from worker.simulator import SimulationConfig, simulate


def _calls(client: redis.Redis, command: str) -> int:
    stats = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_online_features_equal_offline_features(redis_client: redis.Redis) -> None:
    transactions = simulate(SimulationConfig(n_customers=200, n_terminals=400, n_days=50, seed=7))
    batch = EventBatch.from_columns(transactions.columns())
    is_fraud = transactions.labels.is_fraud
    offline_cards, offline_terms = offline_aggregates(batch, is_fraud)
    expected = stateful_features(batch, offline_cards, offline_terms)

    store = RedisFeatureStore(redis_client, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    day = batch.epoch_day
    labelled = np.zeros(len(batch), dtype=np.bool_)
    online = []
    for start in range(0, len(batch), 333):
        rows = np.arange(start, min(start + 333, len(batch)))
        part = batch.take(rows)
        # Labels arrive late; a terminal's windows end TERMINAL_DELAY_DAYS + 1 days back, so
        # frauds up to that day for the batch's last event are the ones known by now.
        known = is_fraud & ~labelled & (day <= day[rows].max() - TERMINAL_DELAY_DAYS - 1)
        store.record_frauds(batch.terminal_id[known], day[known])
        labelled |= known
        cards, terms = store.aggregates(part)
        store.update(part)
        online.append(stateful_features(part, cards, terms))

    assert np.array_equal(np.vstack(online), expected)
    assert expected[:, :3].max() > 1, "cards accumulate history"


@pytest.mark.parametrize("customers", [50, 400])
def test_a_batch_is_one_mget_to_read_and_a_script_call_per_256_keys_to_update(
    redis_client: redis.Redis, customers: int
) -> None:
    config = SimulationConfig(n_customers=customers, n_terminals=2 * customers, n_days=3, seed=1)
    batch = EventBatch.from_columns(simulate(config).columns())
    day = batch.epoch_day
    keys = sum(
        len({(entity, d) for entity, d in zip(ids.tolist(), day.tolist(), strict=True)})
        for ids in (batch.card_id, batch.terminal_id)
    )
    store = RedisFeatureStore(redis_client, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    store.update(batch)
    before = (_calls(redis_client, "mget"), _calls(redis_client, "eval"))
    store.aggregates(batch)
    store.update(batch)
    after = (_calls(redis_client, "mget"), _calls(redis_client, "eval"))
    script_calls = -(-keys // KEYS_PER_CALL)
    assert (after[0] - before[0], after[1] - before[1]) == (1, script_calls)
    assert (customers == 50) == (script_calls == 1)


DAY_MS = 86_400_000


def _day_batch(day: int, card: str = "c_1", terminal: str = "t_1") -> EventBatch:
    from tests.factories import make_batch

    return make_batch(
        {"event_time_ms": day * DAY_MS + 3_600_000, "card_id": card, "terminal_id": terminal}
    )


def _card_count(store: RedisFeatureStore, day: int) -> int:
    """Transactions of card c_1 on ``day`` in its 1-day window, as the store reads them."""
    cards, _ = store.aggregates(_day_batch(day, card="c_1"))
    return int(cards[0, 0, 0]) - 1  # minus the reading event itself


def test_hints_gone_stale_between_read_and_write_never_change_a_count(
    redis_client: redis.Redis,
) -> None:
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    first, second = RedisFeatureStore(redis_client, prefix), RedisFeatureStore(redis_client, prefix)
    day = 20_000
    batch = _day_batch(day)
    first.aggregates(batch)
    second.aggregates(batch)  # both read an empty slot: both will start the day
    first.update(batch)
    second.update(batch)  # started a day that was already there: keeps the first count
    assert _card_count(first, day) == 2

    reader = RedisFeatureStore(redis_client, prefix)
    reader.aggregates(batch)  # this day is in its slot: the hint says add
    later = day + 32  # the same slot of a card's 32-slot ring
    writer = RedisFeatureStore(redis_client, prefix)
    writer.aggregates(_day_batch(later))
    writer.update(_day_batch(later))  # the slot moves on to a later day
    reader.update(batch)  # too old for the ring now: the later day's count stays
    assert _card_count(reader, later) == 1


def test_a_late_day_never_overwrites_a_later_one(redis_client: redis.Redis) -> None:
    store = RedisFeatureStore(redis_client, f"test:{uuid.uuid4().hex[:8]}:")
    day = 20_000
    store.aggregates(_day_batch(day + 32))
    store.update(_day_batch(day + 32))
    fresh = RedisFeatureStore(redis_client, store.prefix)  # no hints: starts the old day
    fresh.update(_day_batch(day))
    assert _card_count(store, day + 32) == 1


def test_the_expiry_is_pushed_out_once_every_few_days(redis_client: redis.Redis) -> None:
    store = RedisFeatureStore(redis_client, f"test:{uuid.uuid4().hex[:8]}:", ttl_days=45)
    assert store.renew_every_days == 7
    key = f"{store.prefix}c{LAYOUT}:c_1"
    day = 20_000
    store.update(_day_batch(day))
    assert redis_client.ttl(key) > 44 * 86_400
    redis_client.expire(key, 1000)
    store.update(_day_batch(day + 6))
    assert redis_client.ttl(key) <= 1000, "renewed too soon"
    store.update(_day_batch(day + 7))
    assert redis_client.ttl(key) > 44 * 86_400
