"""The online feature store in Redis: per-card and per-terminal day buckets.

Layout: one Redis string per entity (``<prefix>c2:<card_id>``, ``<prefix>t2:<terminal_id>``)
holding a ring of day buckets (32 for a card, 40 for a terminal), each a big-endian int32,
the epoch day it holds, and an int64, two counts packed in one integer — (transactions,
cents) for a card, (transactions, frauds) for a terminal. Reading a batch is one ``MGET``
of fixed-size blobs that numpy turns into window sums (no per-bucket work in Redis);
writing is one Lua call that, per entity, increments the day's bucket with ``BITFIELD`` or
recycles a bucket whose day has passed.

Redelivered events that miss the score cache are counted again; the windows tolerate that
small bias (a cache hit, the usual redelivery, is not counted twice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import redis
from numpy.typing import NDArray
from redis.typing import EncodableT

from worker.events import EventBatch
from worker.features.stateful import card_values, terminal_values
from worker.features.windows import (
    CARD_WINDOWS,
    TERMINAL_WINDOWS,
    Window,
    entity_codes,
    window_sums,
)

# Each slot: the epoch day it holds (int32) and that day's two counts packed in one int64.
SLOT = np.dtype([("day", ">i4"), ("packed", ">i8")])
SLOT_BITS = SLOT.itemsize * 8
# Part of every key: a store written with another layout is never misread, only ignored.
LAYOUT = "2"

# ARGV[2] holds every key's (day, increment, ring slots) as big-endian int64s in one binary
# string: one argument instead of three per key keeps the client's packing off the hot path.
_ADD_TO_BUCKETS = """
local ttl, triples = ARGV[1], ARGV[2]
for i, key in ipairs(KEYS) do
  local day, increment, slots = struct.unpack('>l>l>l', triples, 24 * i - 23)
  local at = (day % slots) * 96
  -- One call in the usual case: read the slot's day and add to its count together.
  local held = redis.call('BITFIELD', key, 'GET', 'i32', at, 'INCRBY', 'i64', at + 32, increment)[1]
  if held ~= day then
    -- A new day for this entity: recycle the slot, and push the expiry out (once a day).
    redis.call('BITFIELD', key, 'SET', 'i32', at, day, 'SET', 'i64', at + 32, increment)
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
    cents for a card, 2**26 frauds for a terminal. The ring has more slots than the days from
    the start of the widest window to the event's own day, so a slot is recycled only once
    its day can no longer fall in any window.
    """

    tag: str
    shift: int
    windows: tuple[Window, ...]
    slots: int

    def __post_init__(self) -> None:
        assert self.slots > -min(w.lo for w in self.windows)

    @property
    def blob_bytes(self) -> int:
        return self.slots * SLOT.itemsize

    def pack(self, values: NDArray[np.int64]) -> NDArray[np.int64]:
        return (values[:, 0] << self.shift) | values[:, 1]

    def unpack(self, packed: NDArray[np.int64]) -> NDArray[np.int64]:
        return np.stack([packed >> self.shift, packed & ((1 << self.shift) - 1)], axis=-1)


_CARD = _Entity("c", 33, CARD_WINDOWS, 32)  # windows back to day - 29
_TERMINAL = _Entity("t", 26, TERMINAL_WINDOWS, 40)  # windows back to day - 37


def _pairs(
    ids: NDArray[np.object_], day: NDArray[np.int64], codes: NDArray[np.int64] | None = None
) -> tuple[NDArray[np.object_], NDArray[np.int64], NDArray[np.intp]]:
    """Unique (entity, day) pairs of a batch and, per row, the index of its pair."""
    codes = entity_codes(ids) if codes is None else codes
    combined = codes * (1 << 32) + (day - day.min())
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    return ids[first], day[first], inverse.reshape(-1)


def _rings(
    blobs: list[bytes | str | None], entity: _Entity
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """MGET's answer as (days held, packed counts), each (keys, slots); missing keys empty."""
    size = entity.blob_bytes
    empty = bytes(size)
    joined = b"".join(
        blob[:size].ljust(size, b"\0") if isinstance(blob, bytes) else empty for blob in blobs
    )
    ring = np.frombuffer(joined, dtype=SLOT).reshape(-1, entity.slots)
    return ring["day"].astype(np.int64), ring["packed"].astype(np.int64)


def _window_totals(
    rings: tuple[NDArray[np.int64], NDArray[np.int64]], day: NDArray[np.int64], entity: _Entity
) -> NDArray[np.int64]:
    """Per (entity, day) pair: the unpacked sums of its buckets inside each window."""
    held, packed = rings
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

    def _keys(self, entity: _Entity, ids: NDArray[np.object_]) -> list[str]:
        head = f"{self.prefix}{entity.tag}{LAYOUT}:"
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
        card_rings = _rings(blobs[: len(card_ids)], _CARD)
        term_rings = _rings(blobs[len(card_ids) :], _TERMINAL)
        stored_cards = _window_totals(card_rings, card_days, _CARD)[card_rows]
        stored_terms = _window_totals(term_rings, term_days, _TERMINAL)[term_rows]
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
        if len(batch):
            self.client.execute_command(*self.update_command(batch))  # type: ignore[no-untyped-call]

    def update_command(self, batch: EventBatch) -> list[EncodableT]:
        """The command ``update`` runs, for a caller that sends it and reads the reply later."""
        day = batch.epoch_day
        no_frauds = np.zeros(len(batch), dtype=np.bool_)
        card_keys, card_pairs = self._increments(_CARD, batch.card_id, day, card_values(batch))
        term_keys, term_pairs = self._increments(
            _TERMINAL, batch.terminal_id, day, terminal_values(batch, no_frauds)
        )
        return self._command(card_keys + term_keys, np.vstack([card_pairs, term_pairs]))

    def record_frauds(
        self, terminal_ids: NDArray[np.object_], epoch_day: NDArray[np.int64]
    ) -> None:
        """Count confirmed frauds on their terminal and day (the delayed label feed)."""
        if len(terminal_ids) == 0:
            return
        ones = np.ones(len(terminal_ids), dtype=np.int64)
        values = np.column_stack([np.zeros_like(ones), ones])
        keys, pairs = self._increments(_TERMINAL, terminal_ids, epoch_day, values)
        self.client.execute_command(*self._command(keys, pairs))  # type: ignore[no-untyped-call]

    def _command(self, keys: list[str], triples: NDArray[np.int64]) -> list[EncodableT]:
        # EVAL, not EVALSHA: Redis caches the compiled script by its hash either way, and
        # EVAL cannot fail with NOSCRIPT after a restart.
        packed = triples.astype(">i8").tobytes()
        return ["EVAL", _ADD_TO_BUCKETS, len(keys), *keys, self.ttl_s, packed]

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
        slots = np.full(len(pair_ids), entity.slots, dtype=np.int64)
        return self._keys(entity, pair_ids), np.column_stack([pair_days, entity.pack(sums), slots])
