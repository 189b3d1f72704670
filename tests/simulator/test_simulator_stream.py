"""Event streaming and its pacing, with a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.simulator import EVENT_FIELDS, SimulationConfig, Transactions, simulate, stream_events


class FakeClock:
    """A monotonic clock that only moves when slept on (or advanced by the test)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


TX = simulate(SimulationConfig(n_customers=40, n_terminals=2000, n_days=5, seed=5))


def _stream(tx: Transactions, rate: float | None, batch: int, clock: FakeClock) -> list[float]:
    """Times (on the fake clock) at which each batch was handed out."""
    times = []
    events = []
    for chunk in stream_events(tx, rate, batch, clock=clock, sleep=clock.sleep):
        times.append(clock.now)
        events.extend(chunk)
    assert [e["transaction_id"] for e in events] == tx.transaction_id.tolist()
    return times


def test_unpaced_stream_never_sleeps() -> None:
    clock = FakeClock()
    times = _stream(TX, None, 64, clock)
    assert clock.sleeps == []
    assert len(times) == -(-len(TX) // 64)


def test_paced_stream_follows_the_rate() -> None:
    assert len(TX) > 200
    clock = FakeClock()
    times = _stream(TX, 50.0, 10, clock)
    # Batch k is due k * 10 / 50 = 0.2 k s after the first.
    for k, t in enumerate(times):
        assert t == pytest.approx(100.0 + 0.2 * k)
    assert len(clock.sleeps) == len(times) - 1


def test_slow_consumer_is_not_slept_and_pacing_does_not_drift() -> None:
    clock = FakeClock()
    stream = stream_events(TX, 10.0, 5, clock=clock, sleep=clock.sleep)
    next(stream)  # due at t0 = 100
    clock.now += 2.0  # consumer busy past the next two deadlines (100.5, 101)
    next(stream)
    next(stream)
    assert clock.sleeps == []
    next(stream)  # due at 101.5, now 102
    assert clock.sleeps == []
    next(stream)  # due at 102.0
    next(stream)  # due at 102.5
    assert clock.sleeps == [pytest.approx(0.5)]
    assert clock.now == pytest.approx(102.5)


def test_events_are_label_free_and_ordered() -> None:
    batches = list(stream_events(TX, None, 7, start=3, stop=40))
    events = [e for b in batches for e in b]
    assert len(events) == 37
    assert all(len(b) <= 7 for b in batches)
    assert all(tuple(e) == EVENT_FIELDS for e in events)
    assert events == TX.event_dicts(3, 40)
    times = [e["event_time_ms"] for e in events]
    assert times == sorted(times)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        next(stream_events(TX, None, 0))
    with pytest.raises(ValueError, match="rate_per_s"):
        next(stream_events(TX, 0.0))
    with pytest.raises(ValueError, match="rate_per_s"):
        next(stream_events(TX, float("inf")))


@settings(max_examples=40, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=1e5),
    batch=st.integers(min_value=1, max_value=300),
    start=st.integers(min_value=0, max_value=50),
)
def test_never_ahead_of_schedule(rate: float, batch: int, start: int) -> None:
    clock = FakeClock()
    released = 0
    for chunk in stream_events(TX, rate, batch, start=start, clock=clock, sleep=clock.sleep):
        # Everything handed out before this batch was due by now.
        assert released <= (clock.now - 100.0) * rate + 1e-6 * max(1.0, released)
        released += len(chunk)
    assert released == len(TX) - start
