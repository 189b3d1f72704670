"""Card writes by the card's owner: BITFIELD arguments decided in the worker, not in Redis.

Events are keyed by card, so one member of the group owns a card's partition and is the only
writer of its ring. What the batch's read saw of each ring (the day each slot held, the day
the expiry was last pushed out) is then still what the ring holds at the write, and the
worker can decide each write itself: add to the day's count, start the day, or leave a day
too old for the ring — the same outcomes, in the same order, as the store's checking script
(``store._ADD_TO_RING``), which reads every slot back inside Redis to be safe against a
second writer. Deciding in the worker costs Redis one plain ``BITFIELD`` per card (measured:
about a fifth of the checking script's CPU); the thin script below only runs them, so the
worker reads one reply per call rather than one per card.

A member gives partitions up only after its writes have landed (``Runtime.settle``), so the
next owner reads them. A member that lost its partitions without knowing (past
``max.poll.interval.ms``) may still write its last batch, whose events the next owner gets
again: that card-day may then count them twice or once, as redeliveries that miss the
score cache always could.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from redis.typing import EncodableT

# KEYS: card rings. ARGV[1]: expiry (s); ARGV[2]: the bit offset of a ring's expiry day;
# ARGV[3]: six big-endian int64s per key: what to do (0 nothing, 1 add to the day's count,
# 2 start the day), the slot's bit offset, its count's bit offset, the day, the increment,
# and 1 to push the expiry out. One binary argument: packing six numbers per key as
# arguments cost the worker more than the script's unpacking costs Redis (measured).
RUN_CARD_WRITES = """
local ttl, header, rows = ARGV[1], ARGV[2], ARGV[3]
for i, key in ipairs(KEYS) do
  local kind, at, count_at, day, inc, renew = struct.unpack('>l>l>l>l>l>l', rows, 48 * i - 47)
  if kind == 1 then
    if renew == 1 then
      redis.call('BITFIELD', key, 'INCRBY', 'i64', count_at, inc, 'SET', 'i32', header, day)
    else
      redis.call('BITFIELD', key, 'INCRBY', 'i64', count_at, inc)
    end
  elseif kind == 2 then
    if renew == 1 then
      redis.call('BITFIELD', key, 'SET', 'i32', at, day, 'SET', 'i64', count_at, inc,
                 'SET', 'i32', header, day)
    else
      redis.call('BITFIELD', key, 'SET', 'i32', at, day, 'SET', 'i64', count_at, inc)
    end
  elseif renew == 1 then
    redis.call('BITFIELD', key, 'SET', 'i32', header, day)
  end
  if renew == 1 then
    redis.call('EXPIRE', key, ttl)
  end
end
return #KEYS
"""

# Bits per ring slot: the day (i32) then the packed counts (i64).
_SLOT_BITS = 96
NOTHING, ADD, START = 0, 1, 2


def owner_writes(
    keys: list[str],
    days: NDArray[np.int64],
    increments: NDArray[np.int64],
    held: NDArray[np.int64],
    renewed: NDArray[np.int64],
    slots: int,
    renew_every_days: int,
) -> NDArray[np.int64]:
    """Per (card, day) pair, in the read's order (a card's days ascending), the six numbers
    ``RUN_CARD_WRITES`` takes: what to do, the slot's and its count's bit offsets, the day,
    the increment, and whether the expiry is pushed out.

    ``held``: the day the pair's slot held at the read; ``renewed``: the card's expiry day
    then. Two pairs of one card in one slot (days a ring apart) follow each other, the older
    first: the older is started or added to, the newer starts the slot again — as the
    script, which sees the slot change between them, decides. The expiry day moves on within
    a card's pairs the same way (the few cards with several days in a batch, one by one).
    """
    kind = np.where(held == days, ADD, np.where(held < days, START, NOTHING))
    at = (days % slots) * _SLOT_BITS
    renew = renewed + renew_every_days <= days
    names = np.asarray(keys, dtype=object)
    same_card = np.flatnonzero(names[1:] == names[:-1])  # one numpy pass, no Python loop
    if len(same_card):  # a card's later days see the expiry day its earlier ones left
        renew = renew.copy()
        expiry = np.where(renew, days, renewed)
        for i in (same_card + 1).tolist():
            renew[i] = expiry[i - 1] + renew_every_days <= days[i]
            expiry[i] = days[i] if renew[i] else expiry[i - 1]
    return np.column_stack([kind, at, at + 32, days, increments, renew]).astype(np.int64)


def owner_commands(
    keys: list[str], per_pair: NDArray[np.int64], slots: int, ttl_s: int, keys_per_call: int
) -> list[list[EncodableT]]:
    """``RUN_CARD_WRITES`` calls of at most ``keys_per_call`` keys each."""
    header = slots * _SLOT_BITS
    commands: list[list[EncodableT]] = []
    for start in range(0, len(keys), keys_per_call):
        stop = start + keys_per_call
        rows = per_pair[start:stop].astype(">i8").tobytes()
        chunk = keys[start:stop]
        commands.append(["EVAL", RUN_CARD_WRITES, len(chunk), *chunk, ttl_s, header, rows])
    return commands
