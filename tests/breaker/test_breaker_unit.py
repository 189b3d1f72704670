"""CircuitBreaker, state by state, on a fake clock (no sleeping)."""

from __future__ import annotations

import threading

import pytest

from worker.breaker import (
    BreakerConfig,
    BreakerError,
    BreakerState,
    CircuitBreaker,
)
from worker.breaker.breaker import check_transition
from worker.errors import FraudWorkerError

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
FAST, SLOW = 0.01, 1.0


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


CONFIG = BreakerConfig(
    window_size=10,
    minimum_calls=4,
    failure_rate_threshold=0.5,
    slow_call_rate_threshold=0.75,
    slow_call_duration_s=0.5,
    half_open_permits=2,
    open_wait_s=5.0,
    max_open_wait_s=12.0,
    open_wait_multiplier=2.0,
)


def make(config: BreakerConfig = CONFIG) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker("model", config, clock=clock), clock


def record_many(breaker: CircuitBreaker, n: int, *, failed: bool, duration_s: float = FAST) -> None:
    for _ in range(n):
        assert breaker.try_acquire()
        breaker.record(duration_s, failed)


def trip(breaker: CircuitBreaker) -> None:
    record_many(breaker, CONFIG.minimum_calls, failed=True)
    assert breaker.state is OPEN


def to_half_open(breaker: CircuitBreaker, clock: FakeClock) -> None:
    clock.advance(breaker.snapshot().open_wait_s)
    assert breaker.try_acquire()
    assert breaker.state is HALF_OPEN


def test_starts_closed_and_permits() -> None:
    breaker, _ = make()
    assert breaker.state is CLOSED
    assert breaker.try_acquire()
    assert breaker.snapshot().calls_by_outcome["not_permitted"] == 0


def test_opens_when_failure_rate_reaches_threshold_after_minimum_calls() -> None:
    breaker, _ = make()
    record_many(breaker, 2, failed=False)
    record_many(breaker, 1, failed=True)
    assert breaker.state is CLOSED
    record_many(breaker, 1, failed=True)  # 2 of 4 = 50 %, the threshold itself
    assert breaker.state is OPEN
    snap = breaker.snapshot()
    assert snap.failure_rate == 0.5
    assert snap.buffered_calls == 4
    assert snap.open_wait_s == CONFIG.open_wait_s


def test_does_not_open_before_minimum_calls() -> None:
    breaker, _ = make()
    record_many(breaker, CONFIG.minimum_calls - 1, failed=True)
    assert breaker.state is CLOSED
    assert breaker.snapshot().failure_rate == 1.0


def test_stays_closed_below_threshold_as_old_failures_age_out() -> None:
    breaker, _ = make()
    record_many(breaker, 3, failed=True)
    record_many(breaker, 1, failed=False)  # 3 of 4 failed: opens
    assert breaker.state is OPEN
    breaker2, _ = make()
    record_many(breaker2, 10, failed=False)
    record_many(breaker2, 4, failed=True)  # 4 of 10 in the window
    assert breaker2.state is CLOSED
    record_many(breaker2, 1, failed=True)  # 5 of 10
    assert breaker2.state is OPEN


def test_slow_successful_calls_open_it() -> None:
    breaker, _ = make()
    record_many(breaker, 1, failed=False)
    record_many(breaker, 2, failed=False, duration_s=SLOW)
    assert breaker.state is CLOSED
    record_many(breaker, 1, failed=False, duration_s=CONFIG.slow_call_duration_s)  # 3 of 4
    assert breaker.state is OPEN
    snap = breaker.snapshot()
    assert snap.failure_rate == 0.0
    assert snap.slow_call_rate == 0.75
    assert snap.calls_by_outcome["slow_success"] == 3
    assert snap.calls_by_outcome["success"] == 1


def test_open_rejects_at_once_and_counts_not_permitted() -> None:
    breaker, clock = make()
    trip(breaker)
    for _ in range(3):
        clock.advance(1.0)
        assert not breaker.try_acquire()
    clock.advance(CONFIG.open_wait_s - 3.0 - 0.001)
    assert not breaker.try_acquire()
    assert breaker.state is OPEN
    assert breaker.snapshot().calls_by_outcome["not_permitted"] == 4


def test_state_read_does_not_move_open_to_half_open() -> None:
    breaker, clock = make()
    trip(breaker)
    clock.advance(100.0)
    assert breaker.state is OPEN
    assert breaker.snapshot().state is OPEN


def test_record_while_open_counts_in_metrics_only() -> None:
    breaker, _ = make()
    trip(breaker)
    before = breaker.snapshot()
    breaker.record(FAST, failed=False)
    after = breaker.snapshot()
    assert after.state is OPEN
    assert after.buffered_calls == before.buffered_calls
    assert after.calls_by_outcome["success"] == before.calls_by_outcome["success"] + 1


def test_half_open_after_wait_allows_only_n_permits() -> None:
    breaker, clock = make()
    trip(breaker)
    to_half_open(breaker, clock)  # the first permit comes with the transition
    assert breaker.try_acquire()  # the second
    assert not breaker.try_acquire()
    assert not breaker.try_acquire()
    assert breaker.state is HALF_OPEN
    assert breaker.snapshot().calls_by_outcome["not_permitted"] == 2


def test_half_open_successes_close_and_reset() -> None:
    breaker, clock = make()
    trip(breaker)
    to_half_open(breaker, clock)
    breaker.record(FAST, failed=False)
    assert breaker.state is HALF_OPEN  # one trial of two recorded
    assert breaker.try_acquire()
    breaker.record(FAST, failed=False)
    assert breaker.state is CLOSED
    snap = breaker.snapshot()
    assert snap.buffered_calls == 0
    assert snap.failure_rate == 0.0
    assert snap.open_wait_s == CONFIG.open_wait_s
    # The window starts afresh: opening again needs minimum_calls new calls.
    record_many(breaker, CONFIG.minimum_calls - 1, failed=True)
    assert breaker.state is CLOSED


def test_half_open_failure_reopens_with_grown_wait_capped() -> None:
    breaker, clock = make()
    trip(breaker)
    expected_waits = [10.0, 12.0, 12.0]
    for expected in expected_waits:
        to_half_open(breaker, clock)
        breaker.record(FAST, failed=True)
        assert breaker.try_acquire()
        breaker.record(FAST, failed=False)  # 1 of 2 failed = 50 %: re-opens
        assert breaker.state is OPEN
        assert breaker.snapshot().open_wait_s == expected
        clock.advance(expected - 0.001)
        assert not breaker.try_acquire()
        clock.advance(0.001)
    # A successful trial resets the growth.
    assert breaker.try_acquire()
    assert breaker.try_acquire()
    breaker.record(FAST, failed=False)
    breaker.record(FAST, failed=False)
    assert breaker.state is CLOSED
    trip(breaker)
    assert breaker.snapshot().open_wait_s == CONFIG.open_wait_s


def test_half_open_slow_trials_reopen() -> None:
    breaker, clock = make()
    trip(breaker)
    to_half_open(breaker, clock)
    assert breaker.try_acquire()
    breaker.record(SLOW, failed=False)
    breaker.record(SLOW, failed=False)
    assert breaker.state is OPEN


def test_listener_sees_every_transition() -> None:
    breaker, clock = make()
    seen: list[tuple[str, BreakerState, BreakerState]] = []
    states_seen_by_snapshot: list[BreakerState] = []

    def listener(name: str, old: BreakerState, new: BreakerState) -> None:
        seen.append((name, old, new))
        states_seen_by_snapshot.append(breaker.snapshot().state)  # re-entrant read is fine

    breaker.add_listener(listener)
    trip(breaker)
    to_half_open(breaker, clock)
    breaker.record(FAST, failed=True)
    assert breaker.try_acquire()
    breaker.record(FAST, failed=True)
    to_half_open(breaker, clock)
    assert breaker.try_acquire()
    breaker.record(FAST, failed=False)
    breaker.record(FAST, failed=False)
    assert seen == [
        ("model", CLOSED, OPEN),
        ("model", OPEN, HALF_OPEN),
        ("model", HALF_OPEN, OPEN),
        ("model", OPEN, HALF_OPEN),
        ("model", HALF_OPEN, CLOSED),
    ]
    assert states_seen_by_snapshot == [new for _, _, new in seen]


def test_illegal_transitions_raise_breaker_error() -> None:
    for old, new in [(CLOSED, HALF_OPEN), (OPEN, CLOSED), (CLOSED, CLOSED), (OPEN, OPEN)]:
        with pytest.raises(BreakerError, match=f"{old.value} -> {new.value}"):
            check_transition(old, new)
    assert issubclass(BreakerError, FraudWorkerError)


def test_negative_duration_is_refused() -> None:
    breaker, _ = make()
    with pytest.raises(ValueError, match="duration_s"):
        breaker.record(-0.1, failed=False)


def test_snapshot_has_every_outcome_key() -> None:
    breaker, _ = make()
    breaker.record(FAST, failed=True)
    breaker.record(SLOW, failed=True)
    counts = breaker.snapshot().calls_by_outcome
    assert counts == {
        "success": 0,
        "failure": 1,
        "slow_success": 0,
        "slow_failure": 1,
        "not_permitted": 0,
    }
    counts["failure"] = 99  # a copy: the breaker's counters are not exposed
    assert breaker.snapshot().calls_by_outcome["failure"] == 1


def test_state_values_are_metric_labels() -> None:
    assert [s.value for s in BreakerState] == ["closed", "open", "half_open"]


def test_concurrent_half_open_grants_at_most_the_permits() -> None:
    breaker, clock = make(BreakerConfig(window_size=4, minimum_calls=4, half_open_permits=3))
    record_many(breaker, 4, failed=True)
    clock.advance(10.0)
    granted: list[bool] = []
    lock = threading.Lock()

    def ask() -> None:
        for _ in range(50):
            ok = breaker.try_acquire()
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 3
    assert breaker.snapshot().calls_by_outcome["not_permitted"] == 400 - 3


def test_a_released_half_open_permit_can_be_granted_again() -> None:
    """A trial permit taken and not used goes back (resilience4j's releasePermission)."""
    breaker, clock = make()
    trip(breaker)
    to_half_open(breaker, clock)
    assert breaker.try_acquire()
    assert not breaker.try_acquire(), "both trial permits are out"
    breaker.release()
    assert breaker.try_acquire()
    assert breaker.state is HALF_OPEN
    assert breaker.snapshot().buffered_calls == 0, "a release is not a trial outcome"


def test_releasing_the_only_trial_permit_lets_the_next_caller_probe() -> None:
    breaker, clock = make()
    trip(breaker)
    to_half_open(breaker, clock)
    breaker.release()
    record_many(breaker, CONFIG.half_open_permits, failed=False)
    assert breaker.state is CLOSED


def test_release_without_a_permit_out_grants_nothing_extra() -> None:
    breaker, clock = make()
    trip(breaker)
    to_half_open(breaker, clock)
    breaker.record(FAST, failed=False)  # the first trial is back
    breaker.release()  # nothing outstanding: no extra permit
    breaker.release()
    assert breaker.try_acquire()
    assert not breaker.try_acquire()


def test_release_while_closed_or_open_changes_nothing() -> None:
    breaker, _ = make()
    assert breaker.try_acquire()
    breaker.release()
    assert breaker.state is CLOSED
    assert breaker.snapshot().buffered_calls == 0
    trip(breaker)
    breaker.release()
    assert breaker.state is OPEN
    assert not breaker.try_acquire()
