"""The online feature store in Redis: per-card and per-terminal day buckets.

Layout: one hash per entity (``<prefix>c:<card_id>``, ``<prefix>t:<terminal_id>``) with one
field per epoch day holding two packed counts: (transactions, cents) for a card,
(transactions, frauds) for a terminal. Two Lua scripts
keep the hot path to one round-trip per batch each way: the read script sums a batch's
windows inside Redis (a few integers come back per card, not 60 bucket values), the update
script applies every increment of a batch in one call and drops buckets past the horizon.

Redelivered events (at-least-once) are counted again; the windows tolerate that small bias.
"""

from __future__ import annotations

import json
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
    span,
    window_sums,
)

_READ_WINDOWS = """
local spec = cjson.decode(ARGV[1])
local windows, lo, hi = spec.windows, spec.lo, spec.hi
local out = {}
for i, key in ipairs(KEYS) do
  local day = tonumber(ARGV[i + 1])
  local names = {}
  for d = day + lo, day + hi do names[#names + 1] = d end
  local values = redis.call('HMGET', key, unpack(names))
  for _, w in ipairs(windows) do
    local total = 0
    for d = day + w[1], day + w[2] do
      local v = values[d - day - lo + 1]
      if v then total = total + tonumber(v) end
    end
    out[#out + 1] = total
  end
end
return out
"""

_ADD_TO_BUCKETS = """
local ttl, horizon = tonumber(ARGV[1]), tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  local day = tonumber(ARGV[1 + 2 * i])
  redis.call('HINCRBY', key, day, ARGV[2 + 2 * i])
  redis.call('HDEL', key, day - horizon)
  redis.call('EXPIRE', key, ttl)
end
return #KEYS
"""


@dataclass(frozen=True)
class _Entity:
    """How one kind of entity is stored.

    A bucket holds two counts packed in one integer, ``high << shift | low``, so one field per
    day suffices (Redis scans a small hash linearly: fewer fields, faster reads). Packing is
    additive, so packed buckets and packed window sums add up like the counts themselves.
    ``shift`` bounds the low count of a window: 2**33 cents for a card, 2**26 frauds for a
    terminal; what remains of 53 bits (Lua numbers are doubles) bounds the transaction count.
    """

    tag: str
    shift: int
    windows: tuple[Window, ...]

    def spec(self) -> str:
        lo, hi = span(self.windows)
        windows = [[w.lo, w.hi] for w in self.windows]
        return json.dumps({"windows": windows, "lo": lo, "hi": hi})

    def pack(self, values: NDArray[np.int64]) -> NDArray[np.int64]:
        return (values[:, 0] << self.shift) | values[:, 1]

    def unpack(self, packed: NDArray[np.int64]) -> NDArray[np.int64]:
        return np.stack([packed >> self.shift, packed & ((1 << self.shift) - 1)], axis=-1)


_CARD = _Entity("c", 33, CARD_WINDOWS)
_TERMINAL = _Entity("t", 26, TERMINAL_WINDOWS)


def _pairs(
    ids: NDArray[np.object_], day: NDArray[np.int64]
) -> tuple[NDArray[np.object_], NDArray[np.int64], NDArray[np.intp]]:
    """Unique (entity, day) pairs of a batch and, per row, the index of its pair."""
    codes = entity_codes(ids)
    combined = codes * (1 << 32) + (day - day.min())
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    return ids[first], day[first], inverse.reshape(-1)


class RedisFeatureStore:
    """Reads and updates the stateful features' aggregates, one round-trip per batch each."""

    def __init__(self, client: redis.Redis, prefix: str = "fs:", ttl_days: int = 45) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_days * 86_400
        self.horizon_days = ttl_days
        self._read = client.register_script(_READ_WINDOWS)
        self._add = client.register_script(_ADD_TO_BUCKETS)

    def aggregates(self, batch: EventBatch) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Card and terminal window aggregates: the store's totals plus the batch's own rows.

        Call before ``update`` for the same batch. Fraud labels are never known inside the
        batch (they arrive late, through ``record_frauds``).
        """
        if len(batch) == 0:
            empty = np.zeros((0, 3, 2), dtype=np.int64)
            return empty, empty.copy()
        day = batch.epoch_day
        card_ids, card_days, card_rows = _pairs(batch.card_id, day)
        term_ids, term_days, term_rows = _pairs(batch.terminal_id, day)
        pipe = self.client.pipeline(transaction=False)
        self._queue_read(pipe, _CARD, card_ids, card_days)
        self._queue_read(pipe, _TERMINAL, term_ids, term_days)
        card_totals, term_totals = pipe.execute()
        stored_cards = _reshape(card_totals, _CARD)[card_rows]
        stored_terms = _reshape(term_totals, _TERMINAL)[term_rows]
        no_frauds = np.zeros(len(batch), dtype=np.bool_)
        own_cards = window_sums(entity_codes(batch.card_id), day, card_values(batch), CARD_WINDOWS)
        own_terms = window_sums(
            entity_codes(batch.terminal_id),
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
        pipe = self.client.pipeline(transaction=False)
        self._queue_add(pipe, _CARD, batch.card_id, day, card_values(batch))
        self._queue_add(pipe, _TERMINAL, batch.terminal_id, day, terminal_values(batch, no_frauds))
        pipe.execute()

    def record_frauds(
        self, terminal_ids: NDArray[np.object_], epoch_day: NDArray[np.int64]
    ) -> None:
        """Count confirmed frauds on their terminal and day (the delayed label feed)."""
        if len(terminal_ids) == 0:
            return
        values = np.column_stack(
            [np.zeros(len(terminal_ids), dtype=np.int64), np.ones(len(terminal_ids), np.int64)]
        )
        pipe = self.client.pipeline(transaction=False)
        self._queue_add(pipe, _TERMINAL, terminal_ids, epoch_day, values)
        pipe.execute()

    def _queue_read(
        self,
        pipe: redis.client.Pipeline,
        entity: _Entity,
        ids: NDArray[np.object_],
        days: NDArray[np.int64],
    ) -> None:
        keys = [f"{self.prefix}{entity.tag}:{i}" for i in ids.tolist()]
        self._read(keys=keys, args=[entity.spec(), *days.tolist()], client=pipe)

    def _queue_add(
        self,
        pipe: redis.client.Pipeline,
        entity: _Entity,
        ids: NDArray[np.object_],
        day: NDArray[np.int64],
        values: NDArray[np.int64],
    ) -> None:
        pair_ids, pair_days, rows = _pairs(ids, day)
        sums = np.zeros((len(pair_ids), values.shape[1]), dtype=np.int64)
        np.add.at(sums, rows, values)
        keys = [f"{self.prefix}{entity.tag}:{i}" for i in pair_ids.tolist()]
        per_key = np.column_stack([pair_days, entity.pack(sums)]).ravel().tolist()
        self._add(keys=keys, args=[self.ttl_s, self.horizon_days, *per_key], client=pipe)


def _reshape(totals: list[int], entity: _Entity) -> NDArray[np.int64]:
    """The read script's flat answer of packed sums as (pairs, windows, 2)."""
    packed = np.asarray(totals, dtype=np.int64).reshape(-1, len(entity.windows))
    return entity.unpack(packed)
