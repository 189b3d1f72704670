"""The owner's card writes decide, from the read alone, what the checking script decides
slot by slot in Redis (``store._ADD_TO_RING``): the same ring and expiry for any rings and
any batch of (card, day) pairs, a card's days ascending as the store's pairs come."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.features.owned import ADD, NOTHING, START, owner_commands, owner_writes

SLOTS, EVERY = 32, 7


@dataclass
class Ring:
    """One card's ring as the script sees it: slot → (day, count), the expiry's day."""

    slots: dict[int, tuple[int, int]]
    renewed: int
    expired: bool = field(default=False)

    def copy(self) -> Ring:
        return Ring(dict(self.slots), self.renewed)

    def held(self, slot: int) -> tuple[int, int]:
        return self.slots.get(slot, (0, 0))


def script(ring: Ring, day: int, inc: int) -> None:
    """``_ADD_TO_RING``'s outcome for one pair, against the ring as it is now."""
    slot = day % SLOTS
    held, count = ring.held(slot)
    if held == day:
        ring.slots[slot] = (day, count + inc)
    elif held < day:
        ring.slots[slot] = (day, inc)
    if ring.renewed + EVERY <= day:
        ring.renewed, ring.expired = day, True


def run_ops(ring: Ring, row: list[int]) -> None:
    """Apply one pair's six numbers as ``RUN_CARD_WRITES`` does."""
    kind, at, count_at, day, inc, renew = row
    assert count_at == at + 32 and at % 96 == 0
    slot = at // 96
    if kind == ADD:
        held, count = ring.held(slot)
        ring.slots[slot] = (held, count + inc)
    elif kind == START:
        ring.slots[slot] = (day, inc)
    else:
        assert kind == NOTHING
    if renew == 1:
        ring.renewed, ring.expired = day, True


slot_days = st.dictionaries(st.integers(0, SLOTS - 1), st.integers(0, 400), max_size=SLOTS)
rings = st.builds(
    lambda days, renewed: Ring({s: (d, 5) for s, d in days.items()}, renewed),
    slot_days,
    st.integers(0, 400),
)
card_batch = st.lists(
    st.tuples(rings, st.sets(st.integers(0, 400), min_size=1, max_size=6)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(card_batch, st.integers(1, 1 << 40))
def test_owner_writes_leave_every_ring_as_the_checking_script_does(
    cards: list[tuple[Ring, set[int]]], inc: int
) -> None:
    keys: list[str] = []
    days: list[int] = []
    held: list[int] = []
    renewed: list[int] = []
    for index, (ring, card_days) in enumerate(cards):
        for day in sorted(card_days):
            keys.append(f"c{index}")
            days.append(day)
            held.append(ring.held(day % SLOTS)[0])  # what the batch's read saw
            renewed.append(ring.renewed)
    day_array = np.array(days, dtype=np.int64)
    per_pair = owner_writes(
        keys,
        day_array,
        np.full(len(days), inc, dtype=np.int64),
        np.array(held, dtype=np.int64),
        np.array(renewed, dtype=np.int64),
        SLOTS,
        EVERY,
    )
    expected = {f"c{i}": ring.copy() for i, (ring, _) in enumerate(cards)}
    written = {f"c{i}": ring.copy() for i, (ring, _) in enumerate(cards)}
    for key, day, row in zip(keys, days, per_pair.tolist(), strict=True):
        script(expected[key], day, inc)
        run_ops(written[key], row)
    assert written == expected


def test_the_calls_carry_every_key_once_with_its_six_numbers_in_order() -> None:
    keys = [f"c{i}" for i in range(5)]
    rows = np.arange(30, dtype=np.int64).reshape(5, 6)
    calls = owner_commands(keys, rows, SLOTS, 3600, keys_per_call=2)
    assert [call[2] for call in calls] == [2, 2, 1]
    assert calls[0][3:7] == ["c0", "c1", 3600, SLOTS * 96]
    assert calls[2][3:6] == ["c4", 3600, SLOTS * 96]
    sent = b"".join(bytes(call[-1]) for call in calls)  # type: ignore[arg-type]
    assert np.array_equal(np.frombuffer(sent, dtype=">i8").reshape(5, 6), rows)
