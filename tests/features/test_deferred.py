"""Held terminal counts: when they must go, and how they are summed per terminal and day."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from worker.features.deferred import MAX_PENDING_ROWS, READ_AFTER_DAYS, PendingTerminals


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _add(pending: PendingTerminals, ids: list[str], days: list[int], hints: list[int]) -> None:
    pending.add(
        np.array(ids, dtype=object),
        np.array(days, dtype=np.int64),
        np.ones(len(ids), dtype=np.int64) << 26,
        np.array(hints, dtype=np.bool_),
    )


def test_counts_go_once_held_long_enough_or_too_many() -> None:
    clock = Clock()
    pending = PendingTerminals(40, clock)
    assert not pending.due_by_time(1.0), "nothing held"
    _add(pending, ["t1"], [500], [0])
    clock.now += 0.5
    assert not pending.due_by_time(1.0)
    clock.now += 0.5
    assert pending.due_by_time(1.0)
    assert pending.due_by_time(0.0)
    big = PendingTerminals(40, Clock())
    _add(big, ["t"] * MAX_PENDING_ROWS, [500] * MAX_PENDING_ROWS, [0] * MAX_PENDING_ROWS)
    assert big.due_by_time(3600.0)


def test_counts_go_before_a_read_that_could_see_them() -> None:
    pending = PendingTerminals(40, Clock())
    _add(pending, ["t1", "t2"], [500, 503], [0, 1])
    assert not pending.due_before(501, 500 + READ_AFTER_DAYS - 1, 3)
    assert pending.due_before(501, 500 + READ_AFTER_DAYS, 3), "a window reaches day 500"
    assert not pending.due_before(501, 505, 3)
    assert pending.due_before(500, 505, 3), "day 503 recycles a slot day 500's windows read"


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 90), st.booleans()),
        min_size=1,
        max_size=60,
    )
)
def test_drained_counts_are_the_sums_per_terminal_and_day_in_order(
    rows: list[tuple[str, int, bool]],
) -> None:
    pending = PendingTerminals(40, Clock())
    for start in range(0, len(rows), 7):  # several batches
        part = rows[start : start + 7]
        _add(pending, [r[0] for r in part], [r[1] for r in part], [int(r[2]) for r in part])
    coalesced = pending.drain()
    assert len(pending) == 0
    expected: dict[tuple[str, int], list[int]] = {}
    for terminal, day, hint in rows:
        total, seen = expected.get((terminal, day), [0, 0])
        expected[(terminal, day)] = [total + (1 << 26), max(seen, int(hint))]
    got: dict[tuple[str, int], list[int]] = {}
    for terminals, counts, triples in coalesced.rounds:
        assert len(set(terminals)) == len(terminals)
        at = 0
        for terminal, count in zip(terminals, counts.tolist(), strict=True):
            days = triples[at : at + count, 0]
            assert (np.diff(days) > 0).all(), "days ascending within a terminal"
            assert len(set((days % 40).tolist())) == count, "no two days of a slot in a round"
            for day, packed, hint in triples[at : at + count].tolist():
                assert (terminal, day) not in got
                got[(terminal, day)] = [packed, hint]
            at += count
    assert got == expected
    # A later round holds only days that come after the same slot's day in earlier rounds.
    for earlier, later in zip(coalesced.rounds, coalesced.rounds[1:], strict=False):
        first = {(t, int(d) % 40): int(d) for t, d in _pairs(earlier)}
        assert all(
            d > first[(t, int(d) % 40)] for t, d in _pairs(later) if (t, int(d) % 40) in first
        )


def _pairs(round_: tuple[list[str], np.ndarray, np.ndarray]) -> list[tuple[str, int]]:
    terminals, counts, triples = round_
    owners = np.repeat(np.array(terminals, dtype=object), counts)
    return list(zip(owners.tolist(), triples[:, 0].tolist(), strict=True))
