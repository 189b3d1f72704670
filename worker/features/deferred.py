"""Terminal counts that wait in the worker before they go to Redis, coalesced per terminal.

A terminal's windows end ``READ_AFTER_DAYS`` days before the event (its risk is only known
after a delay), so no event reads a terminal's transactions of day ``d`` before day
``d + READ_AFTER_DAYS``. The worker therefore keeps them for up to a second and writes each
terminal once, all its days in one script call, instead of once per batch: a terminal
seen by five batches is one call, not five.

The answers stay those of writing every batch at once. A read that could see the difference
(``due_before``) gets the pending counts added in the worker, exactly as the script would add
them to what it read (``apply_pending``) — nothing waits for a write:
- a pending day is inside the batch's windows (the batch reaches ``READ_AFTER_DAYS`` past it);
- or a pending day would recycle a slot whose old day the batch's windows still read (the
  batch reaches back within ``RECYCLE_LAG_DAYS`` of it: an out-of-order stream, such as
  partitions read unevenly while a member catches up on a backlog).
Other workers read what has been written; they see this one's counts within a second, a
week before any window reaches them. Counts that wait are lost with the process if it dies
(the same as writes sent but not yet run): a graceful stop, a rebalance's close and an idle
loop write them first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from redis.typing import EncodableT

from worker.columns import factorize
from worker.features.windows import TERMINAL_WINDOWS

# The newest day a terminal window reads is this many days before the event's.
READ_AFTER_DAYS = -max(w.hi for w in TERMINAL_WINDOWS)
# Pending rows held at most (the worker's memory stays bounded at any rate).
MAX_PENDING_ROWS = 200_000

# KEYS: terminal rings. ARGV[1]: expiry (s); ARGV[2]: push it out at most every this many
# days; ARGV[3]: ring slots; ARGV[4]: per key, how many (day, increment, hint) triples it
# has, as big-endian int64s; ARGV[5]: the triples, key by key, days ascending, no two of a
# key in one slot. ``hint`` is 1 when a read saw the day in its slot (add to it) and 0 when
# not (start it). Per key, one BITFIELD does every day's write as hinted and returns what
# each slot held; a wrong hint (another writer got there first) costs one more call, never
# a count — the same rule as ``store._ADD_TO_RING``, day by day in order.
ADD_DAYS = """
local ttl, every, slots, counts, triples = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
                                          ARGV[4], ARGV[5]
local header, at_triple = slots * 96, 1
for i, key in ipairs(KEYS) do
  local m = struct.unpack('>l', counts, 8 * i - 7)
  local days, incs, hints, ops = {}, {}, {}, {}
  for j = 1, m do
    local day, inc, hint = struct.unpack('>l>l>l', triples, at_triple)
    at_triple = at_triple + 24
    days[j], incs[j], hints[j] = day, inc, hint
    local at, n = (day % slots) * 96, #ops
    if hint == 1 then
      ops[n + 1], ops[n + 2], ops[n + 3] = 'GET', 'i32', at
      ops[n + 4], ops[n + 5], ops[n + 6], ops[n + 7] = 'INCRBY', 'i64', at + 32, inc
    else
      ops[n + 1], ops[n + 2], ops[n + 3], ops[n + 4] = 'SET', 'i32', at, day
      ops[n + 5], ops[n + 6], ops[n + 7], ops[n + 8] = 'SET', 'i64', at + 32, inc
    end
  end
  local n = #ops
  ops[n + 1], ops[n + 2], ops[n + 3] = 'GET', 'i32', header
  local r = redis.call('BITFIELD', key, unpack(ops))
  local renewed, fix, renew = r[2 * m + 1], {}, false
  for j = 1, m do
    local day, inc, at = days[j], incs[j], (days[j] % slots) * 96
    local held, count = r[2 * j - 1], r[2 * j]
    local f = #fix
    if hints[j] == 1 then
      count = count - inc
      if held < day then
        fix[f + 1], fix[f + 2], fix[f + 3], fix[f + 4] = 'SET', 'i32', at, day
        fix[f + 5], fix[f + 6], fix[f + 7], fix[f + 8] = 'SET', 'i64', at + 32, inc
      elseif held > day then
        fix[f + 1], fix[f + 2], fix[f + 3], fix[f + 4] = 'SET', 'i64', at + 32, count
      end
    else
      if held == day then
        fix[f + 1], fix[f + 2], fix[f + 3], fix[f + 4] = 'INCRBY', 'i64', at + 32, count
      elseif held > day then
        fix[f + 1], fix[f + 2], fix[f + 3], fix[f + 4] = 'SET', 'i32', at, held
        fix[f + 5], fix[f + 6], fix[f + 7], fix[f + 8] = 'SET', 'i64', at + 32, count
      end
    end
    if renewed + every <= day then
      renewed, renew = day, true
    end
  end
  if renew then
    local f = #fix
    fix[f + 1], fix[f + 2], fix[f + 3], fix[f + 4] = 'SET', 'i32', header, renewed
    redis.call('EXPIRE', key, ttl)
  end
  if #fix > 0 then
    redis.call('BITFIELD', key, unpack(fix))
  end
end
return #KEYS
"""


@dataclass(frozen=True)
class Coalesced:
    """Pending counts as the script takes them: per terminal, its days ascending, each with
    its summed increment and hint. ``rounds`` are sent one after another: a terminal with two
    days in one slot of its ring (64 days apart) has the later one in a later round."""

    rounds: list[tuple[list[str], NDArray[np.int64], NDArray[np.int64]]]


@dataclass
class PendingTerminals:
    """Terminal increments (ids, days, packed counts, hints) not yet sent, batch by batch."""

    slots: int
    clock: Callable[[], float] = time.monotonic
    _ids: list[NDArray[np.object_]] = field(default_factory=list)
    _columns: list[NDArray[np.int64]] = field(default_factory=list)  # (day, packed, hint)
    _rows: int = 0
    _since: float = 0.0
    _first_day: int = 0
    _last_day: int = 0

    def __len__(self) -> int:
        return self._rows

    def add(
        self,
        ids: NDArray[np.object_],
        days: NDArray[np.int64],
        packed: NDArray[np.int64],
        hints: NDArray[np.bool_],
    ) -> None:
        """Rows to count later; ``hints``: a read saw the row's day in its slot."""
        if len(ids) == 0:
            return
        first, last = int(days.min()), int(days.max())
        if not self._rows:
            self._since, self._first_day, self._last_day = self.clock(), first, last
        else:
            self._first_day, self._last_day = min(self._first_day, first), max(self._last_day, last)
        self._ids.append(ids)
        self._columns.append(np.column_stack([days, packed, hints.astype(np.int64)]))
        self._rows += len(ids)

    def due_by_time(self, hold_s: float) -> bool:
        """Held long enough (or too many rows): send with the next writes."""
        return bool(self._rows) and (
            self._rows >= MAX_PENDING_ROWS or self.clock() - self._since >= hold_s
        )

    @property
    def day_range(self) -> tuple[int, int]:
        """The first and the last day pending (meaningless when nothing is)."""
        return self._first_day, self._last_day

    def due_before(self, first_day: int, last_day: int, recycle_lag_days: int) -> bool:
        """A read of events on days ``[first_day, last_day]`` could see the difference: it
        must have the pending counts applied (``apply_pending``)."""
        return bool(self._rows) and could_see(self.day_range, first_day, last_day, recycle_lag_days)

    def pairs(self) -> tuple[list[object], NDArray[np.int64], NDArray[np.int64]]:
        """What waits, summed per (terminal, day), a terminal's days ascending: (terminal
        ids, days, packed sums); nothing is drained."""
        if not self._rows:
            return [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        distinct, codes, days, sums, _hints = self._summed()
        return [distinct[c] for c in codes.tolist()], days, sums

    def _summed(
        self,
    ) -> tuple[
        list[object], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]
    ]:
        """Per (terminal, day) pair, ordered by terminal then day: the distinct terminals,
        each pair's terminal (an index into them), day, summed increment and hint."""
        ids, columns = np.concatenate(self._ids), np.concatenate(self._columns)
        days, packed, hints = columns[:, 0], columns[:, 1], columns[:, 2]
        codes, distinct = factorize(ids)
        offset = days - days.min()
        span = int(offset.max()) + 1
        pairs, inverse = np.unique(codes * span + offset, return_inverse=True)
        inverse = inverse.reshape(-1)
        sums = np.zeros(len(pairs), dtype=np.int64)
        np.add.at(sums, inverse, packed)
        pair_hints = np.zeros(len(pairs), dtype=np.int64)
        np.maximum.at(pair_hints, inverse, hints)  # one read saw the day: it is there
        return distinct, pairs // span, pairs % span + days.min(), sums, pair_hints

    def drain(self) -> Coalesced:
        """Everything pending, summed per (terminal, day); empties the buffer."""
        distinct, pair_codes, pair_days, sums, pair_hints = self._summed()
        self._ids, self._columns, self._rows = [], [], 0
        # A pair's round: how many earlier pairs of its terminal share its slot.
        slot_keys = pair_codes * self.slots + pair_days % self.slots
        order = np.argsort(slot_keys, kind="stable")
        ranked = slot_keys[order]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        rank = np.arange(len(ranked)) - np.repeat(starts, np.diff(np.r_[starts, len(ranked)]))
        round_of = np.empty(len(pair_days), dtype=np.int64)
        round_of[order] = rank
        rounds = []
        for r in range(int(round_of.max()) + 1):
            chosen = np.flatnonzero(round_of == r)
            terminals, per_terminal = np.unique(pair_codes[chosen], return_counts=True)
            triples = np.column_stack([pair_days[chosen], sums[chosen], pair_hints[chosen]])
            rounds.append(([distinct[c] for c in terminals.tolist()], per_terminal, triples))
        return Coalesced(rounds)


def could_see(held: tuple[int, int], first_day: int, last_day: int, recycle_lag_days: int) -> bool:
    """A read of events on days ``[first_day, last_day]`` sees whether counts of the days
    ``held`` (first, last) are written: a window reaches one of them, or one recycles a
    slot whose old day a window reads."""
    return last_day >= held[0] + READ_AFTER_DAYS or first_day <= held[1] - recycle_lag_days


def flush_commands(
    coalesced: Coalesced, key_head: str, slots: int, ttl_s: int, renew_every_days: int,
    keys_per_call: int,
) -> list[list[EncodableT]]:  # fmt: skip
    """``ADD_DAYS`` calls of at most ``keys_per_call`` terminals each, round by round."""
    commands: list[list[EncodableT]] = []
    for terminal_ids, counts, triples in coalesced.rounds:
        keys = [key_head + t for t in terminal_ids]
        triple_bytes = triples.astype(">i8")
        bounds = np.concatenate([[0], np.cumsum(counts)])
        for start in range(0, len(keys), keys_per_call):
            stop = min(start + keys_per_call, len(keys))
            commands.append(
                [
                    "EVAL",
                    ADD_DAYS,
                    stop - start,
                    *keys[start:stop],
                    ttl_s,
                    renew_every_days,
                    slots,
                    counts[start:stop].astype(">i8").tobytes(),
                    triple_bytes[bounds[start] : bounds[stop]].tobytes(),
                ]
            )
    return commands


def apply_pending(
    pending: tuple[list[object], NDArray[np.int64], NDArray[np.int64]],
    read_ids: list[object],
    held: NDArray[np.int64],
    packed: NDArray[np.int64],
    slots: int,
) -> None:
    """Add pending counts to rings as read (``held`` days and ``packed`` counts, a row per
    read (terminal, day) pair, ``read_ids`` its terminal), in place, as the script would
    when they are written: add to a slot holding the day, start a slot holding an older
    day, leave a slot holding a later one — a terminal's days in order. Only the pending
    terminals the read has cost anything (a dict lookup per pending pair)."""
    ids, days, sums = pending
    if not ids or not read_ids:
        return
    rows_of: dict[object, list[int]] = {}
    for row, terminal in enumerate(read_ids):
        rows_of.setdefault(terminal, []).append(row)
    found = np.fromiter((t in rows_of for t in ids), dtype=np.bool_, count=len(ids))
    chosen = np.flatnonzero(found)
    owners = [ids[i] for i in chosen.tolist()]
    for terminal, day, total in zip(
        owners, days[chosen].tolist(), sums[chosen].tolist(), strict=True
    ):
        slot = day % slots
        for row in rows_of[terminal]:
            was = held[row, slot]
            if was == day:
                packed[row, slot] += total
            elif was < day:
                held[row, slot], packed[row, slot] = day, total
