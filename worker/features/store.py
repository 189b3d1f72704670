"""The online feature store in Redis: per-card and per-terminal day buckets.

Layout: one Redis string per entity (``<prefix>c:<card_id>``, ``<prefix>t:<terminal_id>``)
holding a ring of ``SLOTS`` day buckets, each two big-endian int64: the epoch day it holds
and two counts packed in one integer — (transactions, cents) for a card, (transactions,
frauds) for a terminal. Reading a batch is one ``MGET`` of fixed-size blobs that numpy turns
into window sums (no per-bucket work in Redis); writing is one Lua call that, per entity,
increments the day's bucket with ``BITFIELD`` or recycles a bucket whose day has passed.

Redelivered events that miss the score cache are counted again; the windows tolerate that
small bias (a cache hit, the usual redelivery, is not counted twice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import redis
from numpy.typing import NDArray

from worker.events import EventBatch
from worker.features.stateful import card_values, terminal_values
from worker.features.windows import (
    CARD_WINDOWS,
    TERMINAL_WINDOWS,
    Window,
    entity_codes,
    window_sums,
)

# A ring longer than the widest window span (38 days): a slot is recycled only once its day
# can no longer fall in any window.
SLOTS = 64
BLOB_BYTES = SLOTS * 2 * 8
_EMPTY = bytes(BLOB_BYTES)

# ARGV[3] holds every key's (day, increment) as big-endian int64 pairs in one binary string:
# one argument instead of two per key keeps the client's per-argument packing off the hot path.
_ADD_TO_BUCKETS = """
local slots, ttl, pairs = tonumber(ARGV[1]), ARGV[2], ARGV[3]
for i, key in ipairs(KEYS) do
  local day, increment = struct.unpack('>l>l', pairs, 16 * i - 15)
  local slot = (day % slots) * 2
  local held = redis.call('BITFIELD', key, 'GET', 'i64', '#' .. slot)[1]
  if held == day then
    redis.call('BITFIELD', key, 'INCRBY', 'i64', '#' .. (slot + 1), increment)
  else
    -- A new day for this entity: recycle the slot, and push the expiry out (once a day).
    redis.call('BITFIELD', key, 'SET', 'i64', '#' .. slot, day,
                                'SET', 'i64', '#' .. (slot + 1), increment)
    redis.call('EXPIRE', key, ttl)
  end
end
return #KEYS
"""


@dataclass(frozen=True)
class _Entity:
    """How one kind of entity is stored.

    Two counts share one int64, ``high << shift | low``; packing is additive, so packed
    buckets sum like the counts themselves. ``shift`` bounds the low count of a window: 2**33
    cents for a card, 2**26 frauds for a terminal.
    """

    tag: str
    shift: int
    windows: tuple[Window, ...]

    def pack(self, values: NDArray[np.int64]) -> NDArray[np.int64]:
        return (values[:, 0] << self.shift) | values[:, 1]

    def unpack(self, packed: NDArray[np.int64]) -> NDArray[np.int64]:
        return np.stack([packed >> self.shift, packed & ((1 << self.shift) - 1)], axis=-1)


_CARD = _Entity("c", 33, CARD_WINDOWS)
_TERMINAL = _Entity("t", 26, TERMINAL_WINDOWS)


def _pairs(
    ids: NDArray[np.object_], day: NDArray[np.int64], codes: NDArray[np.int64] | None = None
) -> tuple[NDArray[np.object_], NDArray[np.int64], NDArray[np.intp]]:
    """Unique (entity, day) pairs of a batch and, per row, the index of its pair."""
    codes = entity_codes(ids) if codes is None else codes
    combined = codes * (1 << 32) + (day - day.min())
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    return ids[first], day[first], inverse.reshape(-1)


def _rings(blobs: list[bytes | str | None]) -> NDArray[np.int64]:
    """MGET's answer as (keys, SLOTS, 2): [day, packed counts] per slot; missing keys empty."""
    joined = b"".join(
        blob.ljust(BLOB_BYTES, b"\0") if isinstance(blob, bytes) else _EMPTY for blob in blobs
    )
    return np.frombuffer(joined, dtype=">i8").astype(np.int64).reshape(-1, SLOTS, 2)


def _window_totals(
    rings: NDArray[np.int64], day: NDArray[np.int64], entity: _Entity
) -> NDArray[np.int64]:
    """Per (entity, day) pair: the unpacked sums of its buckets inside each window."""
    held, packed = rings[:, :, 0], rings[:, :, 1]
    offset = held - day[:, None]
    sums = [
        np.where((offset >= w.lo) & (offset <= w.hi), packed, 0).sum(axis=1) for w in entity.windows
    ]
    return entity.unpack(np.stack(sums, axis=1))


class RedisFeatureStore:
    """Reads and updates the stateful features' aggregates, one round-trip per batch each."""

    def __init__(self, client: redis.Redis, prefix: str = "fs:", ttl_days: int = 45) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_days * 86_400
        self._add = client.register_script(_ADD_TO_BUCKETS)

    def _keys(self, entity: _Entity, ids: NDArray[np.object_]) -> list[str]:
        head = f"{self.prefix}{entity.tag}:"
        return [head + i for i in ids.tolist()]

    def aggregates(self, batch: EventBatch) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Card and terminal window aggregates: the store's totals plus the batch's own rows.

        Call before ``update`` for the same batch. Fraud labels are never known inside the
        batch (they arrive late, through ``record_frauds``).
        """
        if len(batch) == 0:
            empty = np.zeros((0, 3, 2), dtype=np.int64)
            return empty, empty.copy()
        day = batch.epoch_day
        cards, terminals = entity_codes(batch.card_id), entity_codes(batch.terminal_id)
        card_ids, card_days, card_rows = _pairs(batch.card_id, day, cards)
        term_ids, term_days, term_rows = _pairs(batch.terminal_id, day, terminals)
        blobs = self.client.mget(self._keys(_CARD, card_ids) + self._keys(_TERMINAL, term_ids))
        rings = _rings(blobs)
        stored_cards = _window_totals(rings[: len(card_ids)], card_days, _CARD)[card_rows]
        stored_terms = _window_totals(rings[len(card_ids) :], term_days, _TERMINAL)[term_rows]
        no_frauds = np.zeros(len(batch), dtype=np.bool_)
        own_cards = window_sums(cards, day, card_values(batch), CARD_WINDOWS)
        own_terms = window_sums(
            terminals,
            day,
            terminal_values(batch, no_frauds),
            TERMINAL_WINDOWS,
        )
        return stored_cards + own_cards, stored_terms + own_terms

    def update(self, batch: EventBatch) -> None:
        """Add the batch's transactions to their card and terminal buckets (one round-trip)."""
        if len(batch) == 0:
            return
        day = batch.epoch_day
        no_frauds = np.zeros(len(batch), dtype=np.bool_)
        card_keys, card_pairs = self._increments(_CARD, batch.card_id, day, card_values(batch))
        term_keys, term_pairs = self._increments(
            _TERMINAL, batch.terminal_id, day, terminal_values(batch, no_frauds)
        )
        self._apply(card_keys + term_keys, np.vstack([card_pairs, term_pairs]))

    def record_frauds(
        self, terminal_ids: NDArray[np.object_], epoch_day: NDArray[np.int64]
    ) -> None:
        """Count confirmed frauds on their terminal and day (the delayed label feed)."""
        if len(terminal_ids) == 0:
            return
        ones = np.ones(len(terminal_ids), dtype=np.int64)
        values = np.column_stack([np.zeros_like(ones), ones])
        keys, pairs = self._increments(_TERMINAL, terminal_ids, epoch_day, values)
        self._apply(keys, pairs)

    def _apply(self, keys: list[str], pairs: NDArray[np.int64]) -> None:
        self._add(keys=keys, args=[SLOTS, self.ttl_s, pairs.astype(">i8").tobytes()])

    def _increments(
        self,
        entity: _Entity,
        ids: NDArray[np.object_],
        day: NDArray[np.int64],
        values: NDArray[np.int64],
    ) -> tuple[list[str], NDArray[np.int64]]:
        """One key and one (day, packed increment) pair per entity and day of the batch."""
        pair_ids, pair_days, rows = _pairs(ids, day)
        sums = np.zeros((len(pair_ids), values.shape[1]), dtype=np.int64)
        np.add.at(sums, rows, values)
        return self._keys(entity, pair_ids), np.column_stack([pair_days, entity.pack(sums)])
