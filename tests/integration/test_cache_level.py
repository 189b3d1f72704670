"""The cache level against the real Redis: hash buckets per model version and time."""

from __future__ import annotations

import uuid

import numpy as np
import redis

from tests.factories import make_batch
from worker.breaker import BreakerConfig, CircuitBreaker
from worker.ladder import Ladder, score_batch
from worker.ladder.cache import CacheLevel
from worker.ladder.decision import DecisionPolicy
from worker.ladder.default import SafeDefaultLevel
from worker.ladder.level import BatchContext, Level, LevelResult
from worker.ladder.types import Source, Tags

TTL_S = 60


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Primary:
    """Answers every row it is offered with a fixed score, counting its calls."""

    source = Source.PRIMARY

    def __init__(self) -> None:
        self.calls = 0

    def score(self, ctx: BatchContext, rows: np.ndarray) -> LevelResult:
        self.calls += 1
        return LevelResult(rows, np.full(len(rows), 0.123456789))

    def finish(self, ctx: BatchContext, outcome: object) -> None:
        return None


def ladder(client: redis.Redis, prefix: str, version: str, clock: Clock) -> tuple[Ladder, Primary]:
    breaker = CircuitBreaker("cache", BreakerConfig())
    cache = CacheLevel(client, breaker, version, TTL_S, prefix, clock=clock)
    primary = Primary()
    levels: list[Level] = [cache, primary, SafeDefaultLevel()]
    return Ladder(levels, None, DecisionPolicy(), version, tags=Tags()), primary


BATCH = make_batch(*({"transaction_id": f"t{i}"} for i in range(20)))


def test_a_replay_is_a_hit_with_the_same_bits_until_two_buckets_later(
    redis_client: redis.Redis,
) -> None:
    prefix, clock = f"test:{uuid.uuid4().hex[:8]}:", Clock()
    first, _ = ladder(redis_client, prefix, "v1", clock)
    scored = score_batch(BATCH, first)
    first.levels[0].writes.wait()  # type: ignore[attr-defined]
    assert set(scored.source.tolist()) == {1}  # primary

    for advance, expected in ((0, {0}), (TTL_S, {0}), (2 * TTL_S, {1})):
        clock.now += advance
        again, primary = ladder(redis_client, prefix, "v1", clock)
        replay = score_batch(BATCH, again)
        assert set(replay.source.tolist()) == expected, advance
        if expected == {0}:
            assert replay.score.tobytes() == scored.score.tobytes()
            assert primary.calls == 0


def test_another_model_version_never_reads_these_scores(redis_client: redis.Redis) -> None:
    prefix, clock = f"test:{uuid.uuid4().hex[:8]}:", Clock()
    lad, _ = ladder(redis_client, prefix, "v1", clock)
    score_batch(BATCH, lad)
    lad.levels[0].writes.wait()  # type: ignore[attr-defined]
    other, _ = ladder(redis_client, prefix, "v2", clock)
    assert set(score_batch(BATCH, other).source.tolist()) == {1}


def test_a_value_of_another_format_is_a_miss(redis_client: redis.Redis) -> None:
    prefix, clock = f"test:{uuid.uuid4().hex[:8]}:", Clock()
    lad, _ = ladder(redis_client, prefix, "v1", clock)
    score_batch(BATCH, lad)
    cache: CacheLevel = lad.levels[0]  # type: ignore[assignment]
    cache.writes.wait()
    fields = redis_client.hkeys(cache.bucket_key())
    redis_client.hset(cache.bucket_key(), fields[0], b"short")
    again, _ = ladder(redis_client, prefix, "v1", clock)
    assert sorted(score_batch(BATCH, again).source.tolist()) == [0] * 19 + [1]
    assert 0 < redis_client.ttl(cache.bucket_key()) <= 2 * TTL_S
