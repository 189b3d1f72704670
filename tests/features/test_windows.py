"""Window sums against a brute-force definition, on random histories (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.features.windows import CARD_WINDOWS, TERMINAL_WINDOWS, Window, window_sums

ALL_WINDOWS = (*CARD_WINDOWS, *TERMINAL_WINDOWS)


def brute_force(entity, day, values, windows):  # type: ignore[no-untyped-def]
    n = len(entity)
    out = np.zeros((n, len(windows), values.shape[1]), dtype=np.int64)
    for i in range(n):
        for w, window in enumerate(windows):
            for j in range(n):
                same = entity[j] == entity[i]
                inside = day[i] + window.lo <= day[j] <= day[i] + window.hi
                not_later = window.hi != 0 or j <= i
                if same and inside and not_later:
                    out[i, w] += values[j]
    return out


histories = st.integers(min_value=1, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
        st.lists(st.integers(0, 50), min_size=n, max_size=n),
        st.lists(st.integers(0, 9), min_size=2 * n, max_size=2 * n),
    )
)


@settings(max_examples=60, deadline=None)
@given(histories)
def test_window_sums_match_the_definition(history: tuple[list[int], list[int], list[int]]) -> None:
    entities, days, flat = history
    entity = np.array(entities, dtype=np.int64)
    day = np.sort(np.array(days, dtype=np.int64))  # rows come in time order
    values = np.array(flat, dtype=np.int64).reshape(-1, 2)
    got = window_sums(entity, day, values, ALL_WINDOWS)
    assert np.array_equal(got, brute_force(entity, day, values, ALL_WINDOWS))


def test_a_card_window_counts_the_event_itself_and_earlier_ones_only() -> None:
    entity = np.array([7, 7, 7], dtype=np.int64)
    day = np.array([100, 100, 100], dtype=np.int64)
    values = np.ones((3, 1), dtype=np.int64)
    got = window_sums(entity, day, values, (Window("1d", 0, 0),))
    assert got[:, 0, 0].tolist() == [1, 2, 3]


def test_a_terminal_window_sees_only_days_past_the_delay() -> None:
    entity = np.zeros(3, dtype=np.int64)
    day = np.array([0, 6, 8], dtype=np.int64)
    values = np.ones((3, 1), dtype=np.int64)
    one_day, seven_days, _ = TERMINAL_WINDOWS
    got = window_sums(entity, day, values, (one_day, seven_days))
    # Day 8 sees day 0 (8 days back) in both windows; day 6 lies inside the delay.
    assert got[:, 0, 0].tolist() == [0, 0, 1]
    assert got[:, 1, 0].tolist() == [0, 0, 1]


def test_a_day_far_beyond_the_others_changes_nobody_elses_sums() -> None:
    """A day 2**32 past the batch's first (a timestamp near 3.7e17 ms) must stay in its own
    entity's band: it once landed in the next entity's and unsorted everybody's keys."""
    entity = np.array([0, 0, 1, 1, 2], dtype=np.int64)
    day = np.array([20_000, 20_001, 20_000, 20_001, 20_000], dtype=np.int64)
    values = np.ones((5, 1), dtype=np.int64)
    expected = window_sums(entity, day, values, CARD_WINDOWS)
    far = np.append(day, 20_000 + 2**32 + 1)
    got = window_sums(np.append(entity, 0), far, np.ones((6, 1), dtype=np.int64), CARD_WINDOWS)
    assert np.array_equal(got[:5], expected)
    assert got[5].tolist() == [[1], [1], [1]]
