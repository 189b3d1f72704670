"""Scores become decisions by configurable thresholds; decisive rules set a floor under them.

A decisive rule (``decides: review`` or ``block`` in the rules file) that matches an event
raises its decision to at least that, whichever level scored it: a rule that holds for a
known fraud pattern is not outvoted by a model's score, and it never lowers a decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from worker.ladder.types import DECISIONS, Decision
from worker.ladder.validation import MAX_AMOUNT

ALLOW = DECISIONS.index(Decision.ALLOW)


@dataclass(frozen=True)
class DecisionPolicy:
    review_threshold: float = 0.5
    block_threshold: float = 0.9

    def __post_init__(self) -> None:
        if not 0.0 <= self.review_threshold <= self.block_threshold <= 1.0:
            raise ValueError("thresholds must satisfy 0 <= review <= block <= 1")

    def decide(
        self, scores: NDArray[np.float64], floor: NDArray[np.int8] | None = None
    ) -> NDArray[np.int8]:
        """Decision codes of ``scores``, each raised to at least ``floor`` when given."""
        decision = np.full(len(scores), ALLOW, dtype=np.int8)
        decision[scores >= self.review_threshold] = DECISIONS.index(Decision.REVIEW)
        decision[scores >= self.block_threshold] = DECISIONS.index(Decision.BLOCK)
        return decision if floor is None else np.maximum(decision, floor)


def rule_floor(matched: NDArray[np.bool_], decides: Sequence[str | None]) -> NDArray[np.int8]:
    """Per row of ``matched`` (rows x rules), the strongest decision of the decisive rules
    it matched, as a decision code; allow where none matched."""
    levels = np.array(
        [ALLOW if d is None else DECISIONS.index(Decision(d)) for d in decides], dtype=np.int8
    )
    floor = np.full(len(matched), ALLOW, dtype=np.int8)
    if levels.any():
        floor = np.where(matched, levels, ALLOW).max(axis=1).astype(np.int8)
    return floor


def expected_loss(scores: NDArray[np.float64], amounts: NDArray[np.float64]) -> NDArray[np.float64]:
    """The review priority: score * amount, what letting the transaction through is expected
    to cost (in its currency). An amount that fails the input check (NaN, negative, above
    ``MAX_AMOUNT``) counts as 0: such an item is about the data, and a NaN or a 1e15 would
    otherwise sort a queue by nonsense."""
    usable = (amounts >= 0) & (amounts <= MAX_AMOUNT)
    return np.asarray(np.where(usable, scores * np.where(usable, amounts, 0.0), 0.0))
