"""The breaker's settings, checked once at construction.

A bad value fails here with a ``ValueError`` naming the field, not later as a breaker that
never opens (a threshold above 1) or never closes again (a zero-permit half-open state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _require_int(name: str, value: int, minimum: int) -> None:
    # bool is an int subclass; True as a window size is a bug, not a size of 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _require_rate(name: str, value: float) -> None:
    # A threshold of 0 would open on the first call; written this way NaN fails too.
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")


def _require_positive_s(name: str, value: float) -> None:
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """How a circuit breaker judges a dependency; resilience4j's count-based semantics.

    Our defaults are smaller than resilience4j's (window 100, minimum 100, 10 trials, 60 s
    open): a scoring worker sees a dependency per batch, so it must react within seconds.
    """

    window_size: int = 20
    # No opening before this many calls in the window: two failures out of two calls say
    # little about a dependency.
    minimum_calls: int = 10
    failure_rate_threshold: float = 0.5
    # 1.0 = only open when every call in the window was slow.
    slow_call_rate_threshold: float = 1.0
    slow_call_duration_s: float = 0.25
    half_open_permits: int = 3
    open_wait_s: float = 5.0
    max_open_wait_s: float = 60.0
    # Each re-open after a failed trial multiplies the wait (Envoy's growing ejection time),
    # so a dependency that stays down is probed less and less often.
    open_wait_multiplier: float = 2.0

    def __post_init__(self) -> None:
        _require_int("window_size", self.window_size, 1)
        _require_int("minimum_calls", self.minimum_calls, 1)
        if self.minimum_calls > self.window_size:
            # The window never holds more than window_size calls: the breaker could never open.
            raise ValueError(
                f"minimum_calls ({self.minimum_calls}) must be <= window_size ({self.window_size})"
            )
        _require_rate("failure_rate_threshold", self.failure_rate_threshold)
        _require_rate("slow_call_rate_threshold", self.slow_call_rate_threshold)
        _require_positive_s("slow_call_duration_s", self.slow_call_duration_s)
        _require_int("half_open_permits", self.half_open_permits, 1)
        self._check_open_wait()

    def _check_open_wait(self) -> None:
        _require_positive_s("open_wait_s", self.open_wait_s)
        _require_positive_s("max_open_wait_s", self.max_open_wait_s)
        if self.max_open_wait_s < self.open_wait_s:
            raise ValueError(
                f"max_open_wait_s ({self.max_open_wait_s}) must be >= open_wait_s "
                f"({self.open_wait_s})"
            )
        if not (self.open_wait_multiplier >= 1.0 and math.isfinite(self.open_wait_multiplier)):
            raise ValueError(
                f"open_wait_multiplier must be a finite number >= 1, "
                f"got {self.open_wait_multiplier!r}"
            )

    def grown_wait_s(self, previous_s: float) -> float:
        """The wait after one more failed trial: multiplied, never beyond the cap."""
        return min(previous_s * self.open_wait_multiplier, self.max_open_wait_s)
