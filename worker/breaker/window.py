"""A count-based sliding window over the last N call outcomes.

Kept apart from the breaker (as resilience4j does) so the breaker's states only ask questions
("what is the failure rate?") and the window alone knows how outcomes age out.
"""

from __future__ import annotations

from collections import deque


class CountWindow:
    """The last ``size`` outcomes, each ``(failed, slow)``, with running totals.

    Totals are updated on the way in and on eviction, so recording and every read are O(1)
    however large the window: the breaker asks for the rates after every single call.
    """

    __slots__ = ("_failures", "_outcomes", "_size", "_slow_calls")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self._size = size
        # No maxlen: the deque must not drop the oldest outcome silently, or its counts would
        # stay in the totals.
        self._outcomes: deque[tuple[bool, bool]] = deque()
        self._failures = 0
        self._slow_calls = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def calls(self) -> int:
        return len(self._outcomes)

    @property
    def failures(self) -> int:
        return self._failures

    @property
    def slow_calls(self) -> int:
        return self._slow_calls

    @property
    def failure_rate(self) -> float:
        """Failures over calls in the window; 0.0 when empty (nothing is known to be failing)."""
        return self._failures / len(self._outcomes) if self._outcomes else 0.0

    @property
    def slow_call_rate(self) -> float:
        """Slow calls over calls in the window; 0.0 when empty."""
        return self._slow_calls / len(self._outcomes) if self._outcomes else 0.0

    def record(self, failed: bool, slow: bool) -> None:
        """Add one outcome, evicting the oldest once the window is full."""
        if len(self._outcomes) == self._size:
            old_failed, old_slow = self._outcomes.popleft()
            self._failures -= old_failed
            self._slow_calls -= old_slow
        self._outcomes.append((failed, slow))
        self._failures += failed
        self._slow_calls += slow

    def reset(self) -> None:
        """Forget every outcome: a closed breaker starts judging the service afresh."""
        self._outcomes.clear()
        self._failures = 0
        self._slow_calls = 0

    def __repr__(self) -> str:
        return (
            f"CountWindow(size={self._size}, calls={self.calls}, "
            f"failures={self._failures}, slow_calls={self._slow_calls})"
        )
