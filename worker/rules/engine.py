"""Vectorized evaluation: each condition becomes a boolean column over the batch, and the
matched rules combine by noisy-OR, ``score = 1 - prod(1 - weight)``: independent pieces of
evidence, each a probability of fraud on its own. A decisive rule's decision (``decides``)
travels beside its column: the ladder turns it into a floor under the decision.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from worker.columns import is_in
from worker.events import EventBatch
from worker.rules.spec import AllOf, AnyOf, Comparison, Condition, Rule, parse_rules_file

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def evaluate(condition: Condition, batch: EventBatch) -> NDArray[np.bool_]:
    """The rows of ``batch`` where ``condition`` holds."""
    if isinstance(condition, Comparison):
        column = getattr(batch, condition.field)
        if condition.op in ("in", "not_in"):
            value = condition.value
            hit = is_in(column, value if isinstance(value, list) else [value])
            return hit if condition.op == "in" else ~hit
        return np.asarray(_COMPARE[condition.op](column, condition.value), dtype=np.bool_)
    if isinstance(condition, AllOf):
        return np.asarray(np.logical_and.reduce([evaluate(c, batch) for c in condition.all]))
    if isinstance(condition, AnyOf):
        return np.asarray(np.logical_or.reduce([evaluate(c, batch) for c in condition.any]))
    return ~evaluate(condition.not_, batch)


@dataclass(frozen=True)
class RulesResult:
    """Scores and, per row, which rules matched (columns in ``reasons`` order)."""

    scores: NDArray[np.float64]
    matched: NDArray[np.bool_]
    reasons: tuple[str, ...]
    # Per column, what the rule decides when it matches (None: it only adds to the score).
    decides: tuple[str | None, ...] = ()

    def reasons_of(self, row: int) -> list[str]:
        """Reason codes of one row, for its output record."""
        return [code for code, hit in zip(self.reasons, self.matched[row], strict=True) if hit]


@dataclass(frozen=True)
class RuleSet:
    """Rules loaded from a file, ready to score batches."""

    rules: tuple[Rule, ...]
    source: str

    @property
    def weights(self) -> NDArray[np.float64]:
        return np.array([rule.weight for rule in self.rules], dtype=np.float64)

    def match(self, batch: EventBatch) -> NDArray[np.bool_]:
        """(rows, rules) matrix of matches."""
        if not self.rules:
            return np.zeros((len(batch), 0), dtype=np.bool_)
        return np.column_stack([evaluate(rule.when, batch) for rule in self.rules])

    def score(self, batch: EventBatch) -> RulesResult:
        matched = self.match(batch)
        miss = np.where(matched, 1.0 - self.weights, 1.0)
        scores = 1.0 - np.prod(miss, axis=1)
        return RulesResult(
            scores,
            matched,
            tuple(rule.reason for rule in self.rules),
            tuple(rule.decides for rule in self.rules),
        )

    def with_weights(self, weights: NDArray[np.float64]) -> RuleSet:
        """The same rules with new weights (rule tuning)."""
        rules = tuple(
            rule.model_copy(update={"weight": float(w)})
            for rule, w in zip(self.rules, weights, strict=True)
        )
        return RuleSet(rules, self.source)


def load_rules(path: Path) -> RuleSet:
    """Load and validate a rules file (RulesError names file, rule and problem)."""
    return RuleSet(tuple(parse_rules_file(path).rules), str(path))
