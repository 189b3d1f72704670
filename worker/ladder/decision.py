"""Scores become decisions by configurable thresholds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from worker.ladder.types import DECISIONS, Decision


@dataclass(frozen=True)
class DecisionPolicy:
    review_threshold: float = 0.5
    block_threshold: float = 0.9

    def __post_init__(self) -> None:
        if not 0.0 <= self.review_threshold <= self.block_threshold <= 1.0:
            raise ValueError("thresholds must satisfy 0 <= review <= block <= 1")

    def decide(self, scores: NDArray[np.float64]) -> NDArray[np.int8]:
        decision = np.full(len(scores), DECISIONS.index(Decision.ALLOW), dtype=np.int8)
        decision[scores >= self.review_threshold] = DECISIONS.index(Decision.REVIEW)
        decision[scores >= self.block_threshold] = DECISIONS.index(Decision.BLOCK)
        return decision
