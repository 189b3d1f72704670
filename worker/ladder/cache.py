"""Level 1: a cached primary score in Redis. The key holds the model version and a hash of the
canonical scoring input, so a redelivered event gets the same answer and a new model never
reads an old model's scores. One round-trip per batch to read, one to write."""

from __future__ import annotations

import hashlib

import numpy as np
import redis
from numpy.typing import NDArray

from worker.breaker import CircuitBreaker
from worker.events import EVENT_FIELDS, EventBatch
from worker.ladder.level import BatchContext, LevelResult, guarded
from worker.ladder.types import SOURCES, ScoredBatch, Source

_SET_WITH_TTL = """
local ttl = ARGV[1]
for i, key in ipairs(KEYS) do redis.call('SET', key, ARGV[i + 1], 'EX', ttl) end
return #KEYS
"""


def cache_keys(batch: EventBatch, rows: NDArray[np.intp], prefix: str) -> list[str]:
    """One key per row: prefix (with model version) + blake2b of the event's fields."""
    columns = [getattr(batch, name)[rows].tolist() for name in EVENT_FIELDS]
    canonical = ("\x1f".join(map(repr, values)).encode() for values in zip(*columns, strict=True))
    return [prefix + hashlib.blake2b(text, digest_size=16).hexdigest() for text in canonical]


class CacheLevel:
    source = Source.CACHE

    def __init__(
        self,
        client: redis.Redis,
        breaker: CircuitBreaker,
        model_version: str,
        ttl_s: int,
        prefix: str = "score:",
    ) -> None:
        self.client = client
        self.breaker = breaker
        self.prefix = f"{prefix}{model_version}:"
        self.ttl_s = ttl_s
        self._set = client.register_script(_SET_WITH_TTL)

    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        keys = cache_keys(ctx.batch, rows, self.prefix)
        values, failure = guarded(self.breaker, lambda: self.client.mget(keys), (redis.RedisError,))
        if values is None:
            return LevelResult.failed(failure or "cache:unavailable")
        hit = np.array([v is not None for v in values], dtype=np.bool_)
        scores = np.array([float(v) for v in values if v is not None], dtype=np.float64)
        return LevelResult(rows[hit], scores)

    def finish(self, ctx: BatchContext, outcome: ScoredBatch) -> None:
        """Cache the primary's answers (only the best answers are worth repeating)."""
        rows = np.flatnonzero(outcome.source == SOURCES.index(Source.PRIMARY))
        if len(rows) == 0:
            return
        keys = cache_keys(ctx.batch, rows, self.prefix)
        args: list[str | int] = [self.ttl_s, *map(repr, outcome.score[rows].tolist())]
        guarded(self.breaker, lambda: self._set(keys=keys, args=args), (redis.RedisError,))
