"""The online feature store in Redis: per-card and per-terminal day buckets.

Layout: one Redis string per entity (``<prefix>c3:<card_id>``, ``<prefix>t3:<terminal_id>``)
holding a ring of day buckets (32 for a card, 64 for a terminal), each a big-endian int32,
the epoch day it holds, and an int64, two counts packed in one integer — (transactions,
cents) for a card, (transactions, frauds) for a terminal — then the day its expiry was last
pushed out. Reading a batch is one ``MGET`` of fixed-size blobs that numpy turns into window
sums (no per-bucket work in Redis); writing is one Lua call that, per entity, increments the
day's bucket or recycles a bucket whose day has passed — one ``BITFIELD`` in the usual case,
told which by what the batch's read saw.

Fraud labels (``record_frauds``, called by the labels consumer) add to a terminal's frauds at
the labelled transaction's day, once per transaction: a ``<prefix>lb:<transaction id>`` key
remembers that a label was counted.

Redelivered events that miss the score cache are counted again; the windows tolerate that
small bias (a cache hit, the usual redelivery, is not counted twice).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import redis
from numpy.typing import NDArray
from redis.typing import EncodableT

from worker.events import EventBatch
from worker.features.deferred import PendingTerminals, apply_pending, could_see, flush_commands
from worker.features.owned import owner_commands, owner_writes
from worker.features.stateful import card_values, terminal_values
from worker.features.windows import (
    CARD_WINDOWS,
    TERMINAL_WINDOWS,
    Window,
    entity_codes,
    window_sums,
)
from worker.redis_io import InFlight, round_trip

# Each slot: the epoch day it holds (int32) and that day's two counts packed in one int64.
# After the ring, one more slot whose day says when the key's expiry was last pushed out.
SLOT = np.dtype([("day", ">i4"), ("packed", ">i8")])
# Part of every key: a store written with another layout is never misread, only ignored.
LAYOUT = "4"
# Keys per script call of an update (see ``_commands``).
KEYS_PER_CALL = 256
# The widest window reaches this many days back: a ring must outlive it.
HISTORY_DAYS = 38

# One ring update, shared by both scripts below. ``hint`` is 1 when the batch read this day in
# the key's slot (so add to it: one BITFIELD in the usual case) and 0 when it read an older day
# there (so start the day: one BITFIELD too). A wrong hint (another writer got there between
# the read and the write) costs one more call, never a count. A day older than the one its
# slot holds is too old for the ring and leaves it as it was.
_ADD_TO_RING = """
local offsets = {}
-- Bit offsets as strings, made once per call: a number argument of redis.call is formatted
-- anew on every call, and a ring update passes three of them.
local function offsets_of(slots)
  local o = offsets[slots]
  if o == nil then
    o = {header = tostring(slots * 96)}
    for slot = 0, slots - 1 do
      o[slot] = {tostring(slot * 96), tostring(slot * 96 + 32)}
    end
    offsets[slots] = o
  end
  return o
end

local function add(key, day, increment, slots, hint, ttl, every)
  local o = offsets_of(slots)
  local slot = o[day % slots]
  local at, count_at, header = slot[1], slot[2], o.header
  local held, count, renewed
  if hint == 1 then
    local r = redis.call('BITFIELD', key, 'GET', 'i32', at, 'INCRBY', 'i64', count_at, increment,
                         'GET', 'i32', header)
    held, count, renewed = r[1], r[2] - increment, r[3]
  else
    local r = redis.call('BITFIELD', key, 'SET', 'i32', at, day, 'SET', 'i64', count_at, increment,
                         'GET', 'i32', header)
    held, count, renewed = r[1], r[2], r[3]
  end
  if held == day then
    if hint ~= 1 then
      redis.call('BITFIELD', key, 'INCRBY', 'i64', count_at, count)
    end
  elseif held < day then
    if hint == 1 then
      redis.call('BITFIELD', key, 'SET', 'i32', at, day, 'SET', 'i64', count_at, increment)
    end
  else
    redis.call('BITFIELD', key, 'SET', 'i32', at, held, 'SET', 'i64', count_at, count)
  end
  if renewed + every <= day then
    redis.call('EXPIRE', key, ttl)
    redis.call('BITFIELD', key, 'SET', 'i32', header, day)
  end
end
"""

# KEYS: rings. ARGV[1]: expiry (s); ARGV[2]: push it out at most every this many days;
# ARGV[3]: per key, big-endian int64s (day, increment, ring slots, hint) in one binary string,
# one argument instead of four per key.
_ADD_TO_BUCKETS = (
    _ADD_TO_RING
    + """
local ttl, every, quads = ARGV[1], tonumber(ARGV[2]), ARGV[3]
for i, key in ipairs(KEYS) do
  local day, increment, slots, hint = struct.unpack('>l>l>l>l', quads, 32 * i - 31)
  add(key, day, increment, slots, hint, ttl, every)
end
return #KEYS
"""
)

# KEYS: per label, the key that remembers it was applied, then its terminal's ring.
# ARGV[1], ARGV[2], ARGV[3]: as above (one (day, increment, slots, hint) per label);
# ARGV[4]: how long a label is remembered (s). A label already remembered adds nothing, so a
# redelivered label counts once; remembering and counting happen in one script, so a label
# is never remembered without being counted. Returns the number of labels counted.
_APPLY_LABELS = (
    _ADD_TO_RING
    + """
local ttl, every, quads, remember = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local counted = 0
for i = 1, #KEYS / 2 do
  if redis.call('SET', KEYS[2 * i - 1], 1, 'NX', 'EX', remember) then
    local day, increment, slots, hint = struct.unpack('>l>l>l>l', quads, 32 * i - 31)
    add(KEYS[2 * i], day, increment, slots, hint, ttl, every)
    counted = counted + 1
  end
end
return counted
"""
)


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
        return (self.slots + 1) * SLOT.itemsize  # the ring and its expiry slot

    def pack(self, values: NDArray[np.int64]) -> NDArray[np.int64]:
        return (values[:, 0] << self.shift) | values[:, 1]

    def script_rows(self, days: NDArray[np.int64], sums: NDArray[np.int64]) -> NDArray[np.int64]:
        """(day, packed increment, ring slots) per key: what the update script reads."""
        slots = np.full(len(days), self.slots, dtype=np.int64)
        return np.column_stack([days, self.pack(sums), slots]).astype(np.int64)

    def unpack(self, packed: NDArray[np.int64]) -> NDArray[np.int64]:
        return np.stack([packed >> self.shift, packed & ((1 << self.shift) - 1)], axis=-1)


_CARD = _Entity("c", 33, CARD_WINDOWS, 32)  # windows back to day - 29
# Windows back to day - 37; 64 slots, not 38: a held day recycles a slot that the windows of
# a day up to 27 days earlier still read only in a stream out of order by more than that
# (partitions read unevenly while a member catches up), so reads need not wait for them.
_TERMINAL = _Entity("t", 26, TERMINAL_WINDOWS, 64)
# A terminal's write of day d recycles the slot of day d - 64, which windows of events up to
# this many days before d still read (``deferred.py``).
_TERMINAL_RECYCLE_LAG = _TERMINAL.slots + min(w.lo for w in TERMINAL_WINDOWS)

# The most cents one row may add: more would spill into the count packed above them (and
# past 1e17 the script's Lua numbers, doubles, reach Redis as "1e+17": an error that fails
# the whole call, every other key of it included).
MAX_ROW_CENTS = (1 << _CARD.shift) - 1
# The last day a ring slot can hold (a big-endian int32; day 0 is 1970-01-01).
MAX_DAY = (1 << 31) - 1


def storable(batch: EventBatch) -> NDArray[np.bool_]:
    """Rows the store can count exactly. Validation keeps others from the store; should one
    come all the same, it is left out (neither written nor in the batch's own sums), so that
    one row's value can never fail or change the others'."""
    amount, day = batch.amount, batch.epoch_day
    # Written so that NaN fails too.
    cents_fit = (amount >= 0) & (amount * 100 <= MAX_ROW_CENTS)
    return np.asarray(cents_fit & (day >= 0) & (day <= MAX_DAY))


def _pairs(
    ids: NDArray[np.object_], day: NDArray[np.int64], codes: NDArray[np.int64] | None = None
) -> tuple[NDArray[np.object_], NDArray[np.int64], NDArray[np.intp]]:
    """Unique (entity, day) pairs of a batch and, per row, the index of its pair."""
    codes = entity_codes(ids) if codes is None else codes
    # Mixed radix over the batch's own day span: distinct pairs never share a number, however
    # far apart the days (a fixed 2**32-day band let a day far off land on another entity).
    offset = day - day.min()
    combined = codes * (int(offset.max()) + 1) + offset
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    return ids[first], day[first], inverse.reshape(-1)


def _rings(
    blobs: list[bytes | str | None], entity: _Entity
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """MGET's answer as (days held, packed counts), each (keys, slots), and per key the day
    its expiry was last pushed out; missing keys empty."""
    size = entity.blob_bytes
    empty = bytes(size)
    joined = b"".join(
        blob[:size].ljust(size, b"\0") if isinstance(blob, bytes) else empty for blob in blobs
    )
    slots = np.frombuffer(joined, dtype=SLOT).reshape(-1, entity.slots + 1)
    ring = slots[:, : entity.slots]
    renewed = slots[:, entity.slots]["day"].astype(np.int64)
    return ring["day"].astype(np.int64), ring["packed"].astype(np.int64), renewed


def _window_totals(
    rings: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
    day: NDArray[np.int64],
    entity: _Entity,
) -> NDArray[np.int64]:
    """Per (entity, day) pair: the unpacked sums of its buckets inside each window."""
    held, packed, _renewed = rings
    offset = held - day[:, None]
    sums = [
        np.where((offset >= w.lo) & (offset <= w.hi), packed, 0).sum(axis=1) for w in entity.windows
    ]
    return entity.unpack(np.stack(sums, axis=1))


def _slot_days(
    held: NDArray[np.int64], day: NDArray[np.int64], entity: _Entity
) -> NDArray[np.int64]:
    """Per (entity, day) pair: the day its slot for that day held."""
    return np.asarray(held[np.arange(len(day)), day % entity.slots])


def _own_sums(
    batch: EventBatch, cards: NDArray[np.int64], terminals: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The batch's own rows in each row's windows, as ``update`` will count them: rows the
    store cannot count add nothing (a value of 0 and a day of their neighbours')."""
    keep = storable(batch)
    day = batch.epoch_day
    if not keep.all():
        # Any day of a kept row will do for a row that adds nothing; a far day must not even
        # reach the window arithmetic.
        day = np.where(keep, day, day[keep][0] if keep.any() else 0)
        batch = replace(batch, amount=np.where(keep, batch.amount, 0.0))
    no_frauds = np.zeros(len(batch), dtype=np.bool_)
    weight = keep.astype(np.int64)[:, None]
    own_cards = window_sums(cards, day, card_values(batch) * weight, CARD_WINDOWS)
    own_terms = window_sums(
        terminals, day, terminal_values(batch, no_frauds) * weight, TERMINAL_WINDOWS
    )
    return own_cards, own_terms


@dataclass(frozen=True)
class ReadAhead:
    """A read of a batch's rings sent but not yet waited for: its (entity, day) pairs and,
    per row, the index of its pair."""

    batch: EventBatch
    card_keys: list[str]
    card_days: NDArray[np.int64]
    card_rows: NDArray[np.intp]
    term_days: NDArray[np.int64]
    term_rows: NDArray[np.intp]
    reply: InFlight
    # Per row: its card's and its terminal's code (the batch's own sums reuse them).
    card_codes: NDArray[np.int64]
    terminal_codes: NDArray[np.int64]
    # Terminal counts held in the worker that the read could see (``due_before``): per read
    # terminal pair its terminal id, and the pending (ids, days, sums); else empty and None.
    term_ids: list[object]
    pending: tuple[list[object], NDArray[np.int64], NDArray[np.int64]] | None

    def discard(self) -> None:
        self.reply.discard()


@dataclass(frozen=True)
class _Read:
    """The (card, day) pairs of one read, with what their slots held."""

    transaction_ids: NDArray[np.object_]
    keys: list[str]
    days: NDArray[np.int64]
    rows: NDArray[np.intp]  # per event: its card pair
    held: NDArray[np.int64]  # per pair: the day its slot held
    renewed: NDArray[np.int64]  # per pair: the day its card's expiry was last pushed out
    terminal_holds_day: NDArray[np.bool_]  # per event: its terminal's slot held its day

    def covers(self, batch: EventBatch) -> bool:
        """The batch is the one read (same events, same order)."""
        ids = batch.transaction_id
        return len(ids) == len(self.rows) and bool(np.array_equal(ids, self.transaction_ids))

    @property
    def holds_day(self) -> NDArray[np.bool_]:
        return np.asarray(self.held == self.days)

    def increments(self, card_values: NDArray[np.int64]) -> NDArray[np.int64]:
        """(day, packed increment, ring slots) per pair."""
        sums = np.zeros((len(self.keys), 2), dtype=np.int64)
        np.add.at(sums, self.rows, card_values)
        return _CARD.script_rows(self.days, sums)


class RedisFeatureStore:
    """Reads and updates the stateful features' aggregates, one round-trip per batch each.

    Card counts are written with each batch's writes: by their owner, decided from the
    batch's read (``owned.py``: events are keyed by card), or with ``owner_writes`` off by
    a script that checks every slot in Redis (any number of writers per card). Terminal
    counts wait in the worker for up to ``terminal_hold_s`` (``deferred.py``: no window
    reads them for a week), then go together, one script call per terminal; 0 sends them
    with every batch's writes.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "fs:",
        ttl_days: int = 45,
        terminal_hold_s: float = 0.0,
        owner_writes: bool = False,
    ) -> None:
        if ttl_days <= HISTORY_DAYS:
            raise ValueError(f"feature keys must live longer than {HISTORY_DAYS} days")
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_days * 86_400
        # An active key's expiry is pushed out once in this many days (not on every write).
        self.renew_every_days = ttl_days - HISTORY_DAYS
        self.terminal_hold_s = terminal_hold_s
        self.owner_writes = owner_writes
        self.pending = PendingTerminals(_TERMINAL.slots)
        # The days of terminal counts sent (``flush_commands``) but not known to have landed.
        self._flushing: tuple[int, int] | None = None
        # What the last read saw, so that the update of the same rows reuses its keys and
        # knows, per key, whether to add to the day's slot or start it.
        self._last_read: _Read | None = None

    def _keys(self, entity: _Entity, ids: NDArray[np.object_]) -> list[str]:
        head = f"{self.prefix}{entity.tag}{LAYOUT}:"
        return [head + i for i in ids.tolist()]

    def read_ahead(self, batch: EventBatch) -> ReadAhead:
        """Send the read of ``batch``'s rings (one MGET) without waiting: ``aggregates``
        takes the reply, with the pending terminal counts the read could see added to it."""
        day = batch.epoch_day
        cards, terminals = entity_codes(batch.card_id), entity_codes(batch.terminal_id)
        card_ids, card_days, card_rows = _pairs(batch.card_id, day, cards)
        term_ids, term_days, term_rows = _pairs(batch.terminal_id, day, terminals)
        card_keys, term_keys = self._keys(_CARD, card_ids), self._keys(_TERMINAL, term_ids)
        pending = None
        if self.pending.due_before(int(day.min()), int(day.max()), _TERMINAL_RECYCLE_LAG):
            pending = self.pending.pairs()  # what the read lacks; added to it (deferred.py)
        reply = InFlight(self.client, [["MGET", *card_keys, *term_keys]])
        return ReadAhead(
            batch,
            card_keys,
            card_days,
            card_rows,
            term_days,
            term_rows,
            reply,
            cards,
            terminals,
            term_ids.tolist() if pending is not None else [],
            pending,
        )

    def aggregates(
        self,
        batch: EventBatch,
        ahead: ReadAhead | None = None,
        rows: NDArray[np.intp] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Card and terminal window aggregates: the store's totals plus the batch's own rows.

        Call before ``update`` for the same batch. Fraud labels are never known inside the
        batch (they arrive late: the labels consumer counts them with ``record_frauds``).
        With ``ahead`` (a read of a batch that ``batch`` is rows ``rows`` of), its reply
        is used instead of a read of its own.
        """
        if len(batch) == 0:
            empty = np.zeros((0, 3, 2), dtype=np.int64)
            return empty, empty.copy()
        if ahead is None or rows is None:
            ahead, rows = self.read_ahead(batch), np.arange(len(batch))
        try:
            blobs = ahead.reply.replies()[-1]
        finally:
            ahead.reply.discard()
        cards = len(ahead.card_keys)
        card_rings = _rings(blobs[:cards], _CARD)
        term_rings = _rings(blobs[cards:], _TERMINAL)
        if ahead.pending is not None:
            # The rings are the worker's own copies (``_rings``): changed in place.
            apply_pending(
                ahead.pending, ahead.term_ids, term_rings[0], term_rings[1], _TERMINAL.slots
            )
        card_rows, term_rows = ahead.card_rows[rows], ahead.term_rows[rows]
        used, rows_of_used = np.unique(card_rows, return_inverse=True)
        card_held = _slot_days(card_rings[0], ahead.card_days, _CARD)
        term_held = _slot_days(term_rings[0], ahead.term_days, _TERMINAL)
        self._last_read = _Read(
            batch.transaction_id,
            [ahead.card_keys[i] for i in used.tolist()],
            ahead.card_days[used],
            rows_of_used.reshape(-1),
            card_held[used],
            card_rings[2][used],
            (term_held == ahead.term_days)[term_rows],
        )
        stored_cards = _window_totals(card_rings, ahead.card_days, _CARD)[card_rows]
        stored_terms = _window_totals(term_rings, ahead.term_days, _TERMINAL)[term_rows]
        own_cards, own_terms = _own_sums(batch, ahead.card_codes[rows], ahead.terminal_codes[rows])
        return stored_cards + own_cards, stored_terms + own_terms

    def terminal_aggregates(
        self, terminal_ids: NDArray[np.object_], epoch_day: int
    ) -> NDArray[np.int64]:
        """What an event on ``epoch_day`` would read of these terminals' windows: (terminals,
        windows, (transactions, frauds)). One MGET; read-only (for checks and the demo)."""
        if len(terminal_ids) == 0:
            return np.zeros((0, len(TERMINAL_WINDOWS), 2), dtype=np.int64)
        blobs = round_trip(self.client, [["MGET", *self._keys(_TERMINAL, terminal_ids)]])[0]
        days = np.full(len(terminal_ids), epoch_day, dtype=np.int64)
        return _window_totals(_rings(blobs, _TERMINAL), days, _TERMINAL)

    def update(self, batch: EventBatch) -> None:
        """Add the batch's transactions to their card and terminal buckets now, pending
        terminal counts included (one round-trip)."""
        commands = self.update_commands(batch) if len(batch) else []
        commands += self.flush_commands()
        if commands:
            round_trip(self.client, commands)
        self.flush_landed()

    def update_commands(self, batch: EventBatch, flush: bool = True) -> list[list[EncodableT]]:
        """The commands ``update`` runs, for a caller that sends them and reads the replies
        later: the cards' script calls of at most ``KEYS_PER_CALL`` keys each, then (with
        ``flush``) the pending terminal counts if they have waited ``terminal_hold_s``
        (else ``due_flush_commands`` gives them). Rows the store cannot count
        (``storable``) are left out; the read's hints then no longer apply (correct, one
        call more where a key had the day)."""
        keep = storable(batch)
        if not keep.all():
            batch = batch.take(keep)
        if len(batch) == 0:
            return []
        card_inc = card_values(batch)
        no_frauds = np.zeros(len(batch), dtype=np.bool_)
        terminal_inc = _TERMINAL.pack(terminal_values(batch, no_frauds))
        read, day = self._last_read, batch.epoch_day
        if read is not None and read.covers(batch):
            commands = self._card_commands(read, card_inc)
            self.pending.add(batch.terminal_id, day, terminal_inc, read.terminal_holds_day)
        else:
            card_keys, card_pairs = self._increments(_CARD, batch.card_id, day, card_inc)
            commands = self._commands(card_keys, card_pairs)
            no_hints = np.zeros(len(batch), dtype=np.bool_)
            self.pending.add(batch.terminal_id, day, terminal_inc, no_hints)
        if flush:
            commands += self.due_flush_commands()
        return commands

    def due_flush_commands(self) -> list[list[EncodableT]]:
        """``flush_commands`` if the pending counts have waited ``terminal_hold_s``."""
        return self.flush_commands() if self.pending.due_by_time(self.terminal_hold_s) else []

    def flush_could_be_seen(self, batch: EventBatch) -> bool:
        """Counts sent but not known to have landed are of days ``batch``'s read could see
        (then it must wait for them; usually it need not: no window reads them for a week)."""
        if self._flushing is None or len(batch) == 0:
            return False
        day = batch.epoch_day
        return could_see(self._flushing, int(day.min()), int(day.max()), _TERMINAL_RECYCLE_LAG)

    def flush_landed(self) -> None:
        """Every count sent has been written (its replies were read)."""
        self._flushing = None

    def flush_commands(self) -> list[list[EncodableT]]:
        """Script calls that write every pending terminal count (none if none wait)."""
        if not len(self.pending):
            return []
        first, last = self.pending.day_range
        if self._flushing is not None:
            first, last = min(first, self._flushing[0]), max(last, self._flushing[1])
        self._flushing = (first, last)
        head = f"{self.prefix}{_TERMINAL.tag}{LAYOUT}:"
        return flush_commands(
            self.pending.drain(),
            head,
            _TERMINAL.slots,
            self.ttl_s,
            self.renew_every_days,
            KEYS_PER_CALL,
        )

    def record_frauds(
        self,
        transaction_ids: NDArray[np.object_],
        terminal_ids: NDArray[np.object_],
        epoch_day: NDArray[np.int64],
        remember_s: int,
    ) -> int:
        """Count fraud labels on their transaction's terminal and day, each once: a label
        already counted (a redelivery, or a second label for the same transaction) adds
        nothing for ``remember_s`` seconds. One round-trip per ``KEYS_PER_CALL // 2``
        labels; returns how many were counted now."""
        days = np.asarray(epoch_day, dtype=np.int64)
        fits = (days >= 0) & (days <= MAX_DAY)
        if not fits.all():  # a label whose day cannot be a ring slot has nothing to count
            transaction_ids, terminal_ids, days = (
                transaction_ids[fits],
                terminal_ids[fits],
                days[fits],
            )
        if len(terminal_ids) == 0:
            return 0
        one_fraud = np.column_stack([np.zeros(len(days), np.int64), np.ones(len(days), np.int64)])
        quads = np.column_stack(
            [_TERMINAL.script_rows(days, one_fraud), np.zeros(len(days), dtype=np.int64)]
        ).astype(">i8")
        remembered = [f"{self.prefix}lb:{tx}" for tx in transaction_ids.tolist()]
        rings = self._keys(_TERMINAL, terminal_ids)
        per_call = KEYS_PER_CALL // 2
        commands: list[list[EncodableT]] = []
        for start in range(0, len(rings), per_call):
            stop = start + per_call
            pairs = zip(remembered[start:stop], rings[start:stop], strict=True)
            keys = [key for pair in pairs for key in pair]
            commands.append(
                [
                    "EVAL",
                    _APPLY_LABELS,
                    len(keys),
                    *keys,
                    self.ttl_s,
                    self.renew_every_days,
                    quads[start:stop].tobytes(),
                    remember_s,
                ]
            )
        return sum(int(counted) for counted in round_trip(self.client, commands))

    def _card_commands(self, read: _Read, card_values: NDArray[np.int64]) -> list[list[EncodableT]]:
        """The writes of the cards a read saw: the owner's own decisions, or the script's."""
        triples = read.increments(card_values)
        if not self.owner_writes:
            return self._commands(read.keys, triples, read.holds_day)
        per_pair = owner_writes(
            read.keys,
            read.days,
            triples[:, 1],
            read.held,
            read.renewed,
            _CARD.slots,
            self.renew_every_days,
        )
        return owner_commands(read.keys, per_pair, _CARD.slots, self.ttl_s, KEYS_PER_CALL)

    def _commands(
        self,
        keys: list[str],
        triples: NDArray[np.int64],
        holds_day: NDArray[np.bool_] | None = None,
    ) -> list[list[EncodableT]]:
        """Script calls for (day, packed increment, ring slots) per key; without a read to go
        by, every key is told to start its day (correct, one call more where it had).

        A script blocks Redis while it runs, for every client: calls of a few hundred keys
        (about a millisecond each) let other workers' reads in between."""
        # EVAL, not EVALSHA: Redis caches the compiled script by its hash either way, and
        # EVAL cannot fail with NOSCRIPT after a restart.
        hints = np.zeros(len(keys), dtype=np.int64) if holds_day is None else holds_day
        packed = np.column_stack([triples, hints]).astype(">i8").tobytes()
        every, width = self.renew_every_days, 4 * 8
        return [
            [
                "EVAL",
                _ADD_TO_BUCKETS,
                len(keys[start : start + KEYS_PER_CALL]),
                *keys[start : start + KEYS_PER_CALL],
                self.ttl_s,
                every,
                packed[start * width : (start + KEYS_PER_CALL) * width],
            ]
            for start in range(0, len(keys), KEYS_PER_CALL)
        ]

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
        return self._keys(entity, pair_ids), entity.script_rows(pair_days, sums)
