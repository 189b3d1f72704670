"""One time budget per batch, passed down the ladder: each level gets only the time left."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    deadline: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def of(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Budget:
        return cls(clock() + seconds, clock)

    def remaining_s(self) -> float:
        return max(0.0, self.deadline - self.clock())

    def within(self, cap_s: float) -> float:
        """The time a step may take: its own cap, or less if the batch's budget is shorter."""
        return min(cap_s, self.remaining_s())
