"""CountWindow: running totals must equal a recount of the last N outcomes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.breaker import CountWindow


def test_empty_window_has_zero_rates() -> None:
    window = CountWindow(3)
    assert (window.calls, window.failures, window.slow_calls) == (0, 0, 0)
    assert window.failure_rate == 0.0
    assert window.slow_call_rate == 0.0


def test_oldest_outcome_ages_out_of_the_totals() -> None:
    window = CountWindow(2)
    window.record(failed=True, slow=True)
    window.record(failed=False, slow=False)
    window.record(failed=False, slow=True)
    assert window.calls == 2
    assert window.failures == 0
    assert window.slow_calls == 1
    assert window.slow_call_rate == 0.5


def test_reset_forgets_everything() -> None:
    window = CountWindow(4)
    for _ in range(3):
        window.record(failed=True, slow=True)
    window.reset()
    assert (window.calls, window.failures, window.slow_calls) == (0, 0, 0)
    window.record(failed=False, slow=False)
    assert window.failure_rate == 0.0


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="size"):
        CountWindow(0)


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=8),
    outcomes=st.lists(st.tuples(st.booleans(), st.booleans()), max_size=40),
)
def test_totals_match_a_recount_of_the_last_size_outcomes(
    size: int, outcomes: list[tuple[bool, bool]]
) -> None:
    window = CountWindow(size)
    for failed, slow in outcomes:
        window.record(failed, slow)
    last = outcomes[-size:]
    assert window.calls == len(last)
    assert window.failures == sum(f for f, _ in last)
    assert window.slow_calls == sum(s for _, s in last)
    if last:
        assert window.failure_rate == sum(f for f, _ in last) / len(last)
