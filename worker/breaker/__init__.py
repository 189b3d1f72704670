"""Circuit breakers for the worker's dependencies (resilience4j's count-based semantics).

Usage: ``if breaker.try_acquire(): ...call...; breaker.record(duration_s, failed)`` (or
``breaker.release()`` if the call was not made after all); when it is refused, fall to the
next level at once.
"""

from worker.breaker.breaker import (
    LEGAL_TRANSITIONS,
    OUTCOMES,
    BreakerError,
    BreakerListener,
    BreakerSnapshot,
    BreakerState,
    CircuitBreaker,
)
from worker.breaker.config import BreakerConfig
from worker.breaker.window import CountWindow

__all__ = [
    "LEGAL_TRANSITIONS",
    "OUTCOMES",
    "BreakerConfig",
    "BreakerError",
    "BreakerListener",
    "BreakerSnapshot",
    "BreakerState",
    "CircuitBreaker",
    "CountWindow",
]
