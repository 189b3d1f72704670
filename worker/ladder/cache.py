"""Level 1: a cached primary score in Redis, so a redelivered event gets the same answer.

Entries are fields of one Redis hash per model version and time bucket of ``ttl_s``
(``<prefix><version>:<bucket>``); a field is a hash of the event's canonical scoring input,
its value the score's 8 bytes. A new model never reads an old model's scores. Reading a batch
is one round-trip (HMGET on the current and the previous bucket); writing is one HSET and one
EXPIRE — no key and no TTL per event, no per-key Lua. An entry is readable for between
``ttl_s`` and ``2 * ttl_s`` after it was written.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import numpy as np
import redis
from numpy.typing import NDArray
from redis.typing import EncodableT

from worker.breaker import BreakerState, CircuitBreaker
from worker.events import EVENT_FIELDS, EventBatch
from worker.ladder.level import BatchContext, LevelResult, guarded
from worker.ladder.types import SOURCES, ScoredBatch, Source
from worker.ladder.writes import WriteBehind, Writes
from worker.redis_io import InFlight, round_trip

# The exact bits of the score come back on a hit: a redelivered event gets exactly the same.
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


def _score_bytes(value: object) -> bytes | None:
    """A cached score, or None for a miss; a value of another length is not ours (an older
    format): a miss, not an error."""
    return value if isinstance(value, bytes) and len(value) == SCORE_BYTES else None


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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.writes = writes or WriteBehind(client)
        self.breaker = breaker
        self.prefix = f"{prefix}{model_version}:"
        self.ttl_s = ttl_s
        self.clock = clock

    def bucket_key(self, back: int = 0) -> str:
        """The hash of the current time bucket, or of the one ``back`` buckets before it."""
        return f"{self.prefix}{int(self.clock() // self.ttl_s) - back}"

    def read_ahead(self, ctx: BatchContext, rows: NDArray[np.intp]) -> None:
        if self.breaker.state is not BreakerState.CLOSED:
            return  # the read goes through the breaker when the level's turn comes
        self.writes.wait()  # earlier batches' answers must be readable first
        fields = cache_keys(ctx.batch, rows, "")
        ctx.cache_keys = (rows, fields)
        ctx.ahead[self.source] = (rows, InFlight(self.client, self._read_commands(fields)))

    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        sent = ctx.ahead.get(self.source)
        if sent is not None and np.array_equal(sent[0], rows):
            read: Callable[[], list[list[bytes | None]]] = sent[1].replies
        else:
            self.writes.wait()  # earlier batches' answers must be readable first
            fields = cache_keys(ctx.batch, rows, "")
            ctx.cache_keys = (rows, fields)

            def read() -> list[list[bytes | None]]:
                return self.read(fields)

        replies, failure = guarded(self.breaker, read, (redis.RedisError,))
        if replies is None:
            return LevelResult.failed(failure or "cache:unavailable")
        current, previous = replies
        pairs = zip(current, previous, strict=True)
        found = [_score_bytes(new) or _score_bytes(old) for new, old in pairs]
        hit = np.fromiter((v is not None for v in found), dtype=np.bool_, count=len(found))
        scores = np.frombuffer(b"".join(v for v in found if v is not None), dtype=">f8")
        return LevelResult(rows[hit], scores.astype(np.float64))

    def read(self, fields: list[bytes]) -> list[list[bytes | None]]:
        """The fields' values in the current and in the previous bucket (one round-trip)."""
        return round_trip(self.client, self._read_commands(fields))

    def _read_commands(self, fields: list[bytes]) -> list[list[EncodableT]]:
        current, previous = self.bucket_key(), self.bucket_key(back=1)
        return [["HMGET", current, *fields], ["HMGET", previous, *fields]]

    def finish(self, ctx: BatchContext, outcome: ScoredBatch) -> None:
        """Cache the primary's answers (only the best answers are worth repeating)."""
        rows = np.flatnonzero(outcome.source == SOURCES.index(Source.PRIMARY))
        if len(rows) == 0:
            return
        fields = self._keys_of(ctx, rows)
        blob = outcome.score[rows].astype(">f8").tobytes()
        pairs: list[bytes] = []
        for i, field in enumerate(fields):
            pairs += (field, blob[i * SCORE_BYTES : (i + 1) * SCORE_BYTES])
        bucket = self.bucket_key()
        # One call, one permit: a half-open breaker never keeps the HSET and loses its EXPIRE.
        self.writes.send(
            self.breaker, [["HSET", bucket, *pairs], ["EXPIRE", bucket, 2 * self.ttl_s]]
        )

    def _keys_of(self, ctx: BatchContext, rows: NDArray[np.intp]) -> list[bytes]:
        """The fields computed while reading, for these rows (all of them were offered then)."""
        if ctx.cache_keys is None:
            return cache_keys(ctx.batch, rows, "")
        offered, keys = ctx.cache_keys
        position = np.searchsorted(offered, rows)
        return [keys[i] for i in position.tolist()]
