"""The Redis feature store gives exactly the offline features (no train/serve skew)."""

from __future__ import annotations

import uuid

import numpy as np
import redis

from worker.events import EventBatch
from worker.features.stateful import offline_aggregates, stateful_features
from worker.features.store import RedisFeatureStore
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


def test_a_batch_is_one_mget_to_read_and_one_script_call_to_update(
    redis_client: redis.Redis,
) -> None:
    transactions = simulate(SimulationConfig(n_customers=50, n_terminals=100, n_days=3, seed=1))
    batch = EventBatch.from_columns(transactions.columns())
    store = RedisFeatureStore(redis_client, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    store.update(batch)
    before = (_calls(redis_client, "mget"), _calls(redis_client, "eval"))
    store.aggregates(batch)
    store.update(batch)
    after = (_calls(redis_client, "mget"), _calls(redis_client, "eval"))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
