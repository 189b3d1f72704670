"""``guarded``: whatever the call does, its permit comes back — recorded or released."""

from __future__ import annotations

import pytest

from worker.breaker import BreakerConfig, BreakerState, CircuitBreaker
from worker.ladder.level import CallFailed, Verdict, guarded


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def half_open() -> CircuitBreaker:
    """A breaker that just let its one trial call through."""
    clock = FakeClock()
    config = BreakerConfig(window_size=2, minimum_calls=1, half_open_permits=1, open_wait_s=1)
    breaker = CircuitBreaker("dep", config, clock)
    breaker.record(0.0, failed=True)
    clock.now += 1
    assert breaker.state is BreakerState.OPEN
    return breaker


def boom() -> int:
    raise KeyError("not a dependency error")


def interrupted() -> int:
    raise KeyboardInterrupt


def test_an_unexpected_exception_is_recorded_as_a_failure_and_re_raised() -> None:
    breaker = half_open()
    with pytest.raises(KeyError):
        guarded(breaker, boom, (ConnectionError,))
    assert breaker.state is BreakerState.OPEN, "the trial came back, failed"


def test_an_interrupt_releases_the_permit() -> None:
    breaker = half_open()
    with pytest.raises(KeyboardInterrupt):
        guarded(breaker, interrupted, ())
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.try_acquire(), "the trial permit can be granted again"


def test_a_named_failure_is_tagged_with_its_reason() -> None:
    def timeout() -> int:
        raise CallFailed("timeout")

    breaker = half_open()
    assert guarded(breaker, timeout, ()) == (None, "dep:timeout")
    assert breaker.state is BreakerState.OPEN


def test_an_answer_with_no_evidence_is_used_and_its_permit_released() -> None:
    breaker = half_open()
    assert guarded(breaker, lambda: 7, (), lambda _: Verdict.NO_EVIDENCE) == (7, None)
    assert breaker.state is BreakerState.HALF_OPEN
    assert guarded(breaker, lambda: 8, ()) == (8, None)
    assert breaker.state is BreakerState.CLOSED


def test_an_answer_judged_a_failure_is_recorded_as_one() -> None:
    breaker = half_open()
    assert guarded(breaker, lambda: 7, (), lambda _: Verdict.FAILURE) == (7, None)
    assert breaker.state is BreakerState.OPEN
