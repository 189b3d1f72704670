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
from worker.ladder.writes import WriteBehind, Writes

# ARGV[2] holds every score as 8 bytes (big-endian float64), one argument for the batch: the
# exact bits come back on a hit, so a redelivered event gets exactly the same score.
_SET_WITH_TTL = """
local ttl, scores = ARGV[1], ARGV[2]
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.sub(scores, 8 * i - 7, 8 * i), 'EX', ttl)
end
return #KEYS
"""
SCORE_BYTES = 8


def cache_keys(batch: EventBatch, rows: NDArray[np.intp], prefix: str) -> list[bytes]:
    """One key per row: prefix (with model version) + blake2b of the event's fields — its
    text fields joined, then its numbers as one fixed-width record of their bytes."""
    if len(rows) == 0:
        return []
    columns = [getattr(batch, name)[rows] for name in EVENT_FIELDS]
    texts = [column.tolist() for column in columns if column.dtype == object]
    numbers = np.rec.fromarrays([column for column in columns if column.dtype != object])
    packed, width = numbers.tobytes(), numbers.itemsize
    head, digest = prefix.encode(), hashlib.blake2b
    return [
        head
        + digest(
            "\x1f".join(text).encode() + packed[i * width : (i + 1) * width], digest_size=16
        ).digest()
        for i, text in enumerate(zip(*texts, strict=True))
    ]


class CacheLevel:
    source = Source.CACHE

    def __init__(
        self,
        client: redis.Redis,
        breaker: CircuitBreaker,
        model_version: str,
        ttl_s: int,
        prefix: str = "score:",
        writes: Writes | None = None,
    ) -> None:
        self.client = client
        self.writes = writes or WriteBehind(client)
        self.breaker = breaker
        self.prefix = f"{prefix}{model_version}:"
        self.ttl_s = ttl_s

    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        self.writes.wait()  # earlier batches' answers must be readable first
        keys = cache_keys(ctx.batch, rows, self.prefix)
        ctx.cache_keys = (rows, keys)
        values, failure = guarded(self.breaker, lambda: self.client.mget(keys), (redis.RedisError,))
        if values is None:
            return LevelResult.failed(failure or "cache:unavailable")
        # A value of another length is not ours (an older format): a miss, not an error.
        hit_list = [isinstance(v, bytes) and len(v) == SCORE_BYTES for v in values]
        found = [v for v, h in zip(values, hit_list, strict=True) if h and isinstance(v, bytes)]
        hit = np.array(hit_list, dtype=np.bool_)
        scores = np.frombuffer(b"".join(found), dtype=">f8").astype(np.float64)
        return LevelResult(rows[hit], scores)

    def finish(self, ctx: BatchContext, outcome: ScoredBatch) -> None:
        """Cache the primary's answers (only the best answers are worth repeating)."""
        rows = np.flatnonzero(outcome.source == SOURCES.index(Source.PRIMARY))
        if len(rows) == 0:
            return
        keys = self._keys_of(ctx, rows)
        scores = outcome.score[rows].astype(">f8").tobytes()
        self.writes.send(
            self.breaker, ["EVAL", _SET_WITH_TTL, len(keys), *keys, self.ttl_s, scores]
        )

    def _keys_of(self, ctx: BatchContext, rows: NDArray[np.intp]) -> list[bytes]:
        """The keys computed while reading, for these rows (all of them were offered then)."""
        if ctx.cache_keys is None:
            return cache_keys(ctx.batch, rows, self.prefix)
        offered, keys = ctx.cache_keys
        position = np.searchsorted(offered, rows)
        return [keys[i] for i in position.tolist()]
