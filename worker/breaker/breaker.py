"""A circuit breaker with resilience4j's count-based semantics, as a small state machine.

One class per state decides what a permit request or a call outcome means *in that state* and
names the next state, if any; the :class:`CircuitBreaker` only checks the move against
:data:`LEGAL_TRANSITIONS`, applies it and tells the listeners. Time comes from an injected
clock, so tests drive the open wait without sleeping.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Final, NamedTuple

from worker.breaker.config import BreakerConfig
from worker.breaker.window import CountWindow
from worker.errors import FraudWorkerError


class BreakerState(StrEnum):
    """A breaker's state; the values are the labels used in metrics and logs."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


LEGAL_TRANSITIONS: Final[frozenset[tuple[BreakerState, BreakerState]]] = frozenset(
    {
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    }
)

SUCCESS: Final = "success"
FAILURE: Final = "failure"
SLOW_SUCCESS: Final = "slow_success"
SLOW_FAILURE: Final = "slow_failure"
NOT_PERMITTED: Final = "not_permitted"
# The keys of BreakerSnapshot.calls_by_outcome, all always present (metrics can pre-create them).
OUTCOMES: Final = (SUCCESS, FAILURE, SLOW_SUCCESS, SLOW_FAILURE, NOT_PERMITTED)

BreakerListener = Callable[[str, BreakerState, BreakerState], None]
"""Called as ``listener(name, old, new)`` on every transition, in order, under the lock."""


class BreakerError(FraudWorkerError):
    """The breaker's own invariants broke (an illegal transition): a bug, never expected."""


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """A consistent read of one breaker for metrics, health checks and logs.

    The rates and ``buffered_calls`` are those of the window that matters in the state: the
    sliding window while closed, the trial calls while half-open, and while open the window
    that opened it (frozen, so a dashboard shows why it opened).
    """

    name: str
    state: BreakerState
    failure_rate: float
    slow_call_rate: float
    # Cumulative since construction; keys are OUTCOMES.
    calls_by_outcome: dict[str, int]
    # The wait of the current open period (of the last one while half-open); the base wait
    # while closed, since a close resets the growth.
    open_wait_s: float
    buffered_calls: int


def check_transition(old: BreakerState, new: BreakerState) -> None:
    """Refuse any move outside the table; the states should never ask for one."""
    if (old, new) not in LEGAL_TRANSITIONS:
        raise BreakerError(f"illegal circuit breaker transition {old.value} -> {new.value}")


def _outcome(failed: bool, slow: bool) -> str:
    if slow:
        return SLOW_FAILURE if failed else SLOW_SUCCESS
    return FAILURE if failed else SUCCESS


def _exceeds_thresholds(window: CountWindow, config: BreakerConfig) -> bool:
    # ">=" as in resilience4j: a 50 % threshold opens at exactly half the calls failing.
    return (
        window.failure_rate >= config.failure_rate_threshold
        or window.slow_call_rate >= config.slow_call_rate_threshold
    )


class _Acquired(NamedTuple):
    permitted: bool
    next_state: _State | None = None


class _State(ABC):
    """What one state does with a permit request or an outcome; returns the next state."""

    kind: ClassVar[BreakerState]

    def __init__(self, config: BreakerConfig) -> None:
        self._config = config

    @abstractmethod
    def acquire(self, now: float) -> _Acquired: ...

    @abstractmethod
    def record(self, failed: bool, slow: bool, now: float) -> _State | None: ...

    def release(self) -> None:
        """A permit came back unused. Only a half-open state counts its permits."""
        return None

    @property
    @abstractmethod
    def window(self) -> CountWindow: ...

    @property
    @abstractmethod
    def open_wait_s(self) -> float: ...


class _Closed(_State):
    """Every call goes through; the sliding window decides when the dependency is failing."""

    kind = BreakerState.CLOSED

    def __init__(self, config: BreakerConfig) -> None:
        super().__init__(config)
        # A fresh window on every close: outcomes from before the outage are not evidence.
        self._window = CountWindow(config.window_size)

    def acquire(self, now: float) -> _Acquired:
        return _Acquired(permitted=True)

    def record(self, failed: bool, slow: bool, now: float) -> _State | None:
        self._window.record(failed, slow)
        if self._window.calls < self._config.minimum_calls:
            return None
        if not _exceeds_thresholds(self._window, self._config):
            return None
        return _Open(self._config, opened_at=now, wait_s=self._config.open_wait_s, why=self._window)

    @property
    def window(self) -> CountWindow:
        return self._window

    @property
    def open_wait_s(self) -> float:
        return self._config.open_wait_s


class _Open(_State):
    """Every call is refused at once until the wait is over; then the first asker probes."""

    kind = BreakerState.OPEN

    def __init__(
        self, config: BreakerConfig, opened_at: float, wait_s: float, why: CountWindow
    ) -> None:
        super().__init__(config)
        self._opened_at = opened_at
        self._wait_s = wait_s
        self._why = why

    def acquire(self, now: float) -> _Acquired:
        if now - self._opened_at < self._wait_s:
            return _Acquired(permitted=False)
        # The request that notices the wait is over takes the first trial permit.
        return _Acquired(permitted=True, next_state=_HalfOpen(self._config, self._wait_s))

    def record(self, failed: bool, slow: bool, now: float) -> _State | None:
        # A call that started before the breaker opened: it only counts in the metrics.
        return None

    @property
    def window(self) -> CountWindow:
        return self._why

    @property
    def open_wait_s(self) -> float:
        return self._wait_s


class _HalfOpen(_State):
    """A fixed number of trial calls go through; their outcomes alone close or re-open."""

    kind = BreakerState.HALF_OPEN

    def __init__(self, config: BreakerConfig, last_wait_s: float) -> None:
        super().__init__(config)
        self._last_wait_s = last_wait_s
        self._granted = 1
        self._trials = CountWindow(config.half_open_permits)

    def acquire(self, now: float) -> _Acquired:
        if self._granted >= self._config.half_open_permits:
            return _Acquired(permitted=False)
        self._granted += 1
        return _Acquired(permitted=True)

    def release(self) -> None:
        # Only a permit still out can come back: a stale one (granted before this state, or
        # released twice) must not let more trials out than the state allows.
        if self._granted > self._trials.calls:
            self._granted -= 1

    def record(self, failed: bool, slow: bool, now: float) -> _State | None:
        self._trials.record(failed, slow)
        if self._trials.calls < self._config.half_open_permits:
            return None
        if _exceeds_thresholds(self._trials, self._config):
            wait_s = self._config.grown_wait_s(self._last_wait_s)
            return _Open(self._config, opened_at=now, wait_s=wait_s, why=self._trials)
        return _Closed(self._config)

    @property
    def window(self) -> CountWindow:
        return self._trials

    @property
    def open_wait_s(self) -> float:
        return self._last_wait_s


class CircuitBreaker:
    """Guards one dependency: ask ``try_acquire()`` before a call, ``record()`` after it.

    Every permit must come back: ``record()`` for a call that was made (failed or not),
    ``release()`` for one that was not (resilience4j's ``releasePermission``). A permit
    granted while half-open and never returned keeps the breaker half-open, refusing every
    later call. An open breaker answers at once, never waits. Safe across threads, though a
    worker uses one breaker from one thread.
    """

    def __init__(
        self,
        name: str,
        config: BreakerConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._config = config
        self._clock = clock
        # Re-entrant so that a listener, called under the lock to keep notifications in
        # transition order, may read snapshot().
        self._lock = threading.RLock()
        self._state: _State = _Closed(config)
        self._counts = dict.fromkeys(OUTCOMES, 0)
        self._listeners: tuple[BreakerListener, ...] = ()

    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> BreakerConfig:
        return self._config

    @property
    def state(self) -> BreakerState:
        """The state as of the last call; reading it never moves OPEN to HALF_OPEN."""
        return self._state.kind

    def add_listener(self, listener: BreakerListener) -> None:
        """Subscribe to transitions; a listener must be quick and must not raise."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

    def try_acquire(self) -> bool:
        """May a call go out now? A refusal is counted as ``not_permitted``."""
        with self._lock:
            acquired = self._state.acquire(self._clock())
            if not acquired.permitted:
                self._counts[NOT_PERMITTED] += 1
            self._move_to(acquired.next_state)
            return acquired.permitted

    def release(self) -> None:
        """Hand back a permit that was not used: the call was never made, or ended in a way
        that says nothing about the dependency. Not an outcome, so not in the window or the
        counts; while half-open the permit can be granted again. Without a permit out (e.g.
        one from before the last transition) it changes nothing."""
        with self._lock:
            self._state.release()

    def record(self, duration_s: float, failed: bool) -> None:
        """Report a finished call; at or over ``slow_call_duration_s`` it is slow, even if ok."""
        if not duration_s >= 0.0:
            raise ValueError(f"duration_s must be >= 0, got {duration_s!r}")
        slow = duration_s >= self._config.slow_call_duration_s
        with self._lock:
            self._counts[_outcome(failed, slow)] += 1
            self._move_to(self._state.record(failed, slow, self._clock()))

    def snapshot(self) -> BreakerSnapshot:
        with self._lock:
            state = self._state
            return BreakerSnapshot(
                name=self._name,
                state=state.kind,
                failure_rate=state.window.failure_rate,
                slow_call_rate=state.window.slow_call_rate,
                calls_by_outcome=dict(self._counts),
                open_wait_s=state.open_wait_s,
                buffered_calls=state.window.calls,
            )

    def _move_to(self, new: _State | None) -> None:
        if new is None:
            return
        old = self._state.kind
        check_transition(old, new.kind)
        self._state = new
        for listener in self._listeners:
            listener(self._name, old, new.kind)

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self._name!r}, state={self._state.kind.value})"
