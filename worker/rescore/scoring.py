"""The primary, read-only: the worker's own level and rules, without their side effects.

A re-score runs the worker's ``PrimaryLevel`` through ``score_batch`` — the same input
checks, features, model, timeout and breakers — in a ladder of two levels: the primary, then
the safe default as the ladder's required floor (what it answers is never used). Only the
level's ``score`` is called: its ``finish``, which counts the batch in the feature store, is
not. The event was counted when it was first scored, or its update was skipped during the
outage; the re-scorer cannot tell which, and a second count would bias the features of every
later event of its card and terminal. The ladder has no cache level, so nothing is written
to the cache either: one feature-store read and one model call per batch, no write.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from worker.errors import ConfigError
from worker.events import EventBatch
from worker.ladder.core import Ladder, score_batch
from worker.ladder.decision import DecisionPolicy
from worker.ladder.default import SafeDefaultLevel
from worker.ladder.level import BatchContext, Level, LevelResult
from worker.ladder.primary import MIN_ROWS_TO_JUDGE
from worker.ladder.types import SOURCES, ScoredBatch, Source
from worker.rules.engine import RuleSet
from worker.runtime import Runtime
from worker.settings import Settings

PRIMARY = SOURCES.index(Source.PRIMARY)
INTERNAL_ERROR = "primary:internal_error"
# The one failure that can be the rows' own problem rather than the primary's (NaN for
# their values): for a batch this small it says nothing about the model (its breaker's rule).
ROWS_OWN_FAILURE = "primary:invalid_output"


class ScoringOnly:
    """A level's ``score``, remembered; its ``finish`` is never passed on."""

    source = Source.PRIMARY

    def __init__(self, level: Level) -> None:
        self.level = level
        self.offered = 0
        self.result: LevelResult | None = None

    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        self.offered = len(rows)
        self.result = LevelResult.failed(INTERNAL_ERROR)  # stays so if the level raises
        self.result = self.level.score(ctx, rows)
        return self.result

    def finish(self, ctx: BatchContext, outcome: ScoredBatch) -> None:
        return None  # no feature-store update: see the module's docstring

    def reset(self) -> None:
        self.offered, self.result = 0, None

    def not_back(self) -> str | None:
        """Why the primary did not answer the batch at all, or None when it answered (some
        rows may still be unscorable for their own reasons)."""
        result = self.result
        if self.offered == 0 or result is None or len(result.rows) or result.failure is None:
            return None
        if result.failure == ROWS_OWN_FAILURE and self.offered < MIN_ROWS_TO_JUDGE:
            return None
        return result.failure


@dataclass(frozen=True)
class Rescored:
    """The primary's results for a batch; ``answered``: rows it scored (the others have
    inputs it cannot use, or got no valid probability for their own values)."""

    scored: ScoredBatch
    answered: NDArray[np.bool_]


@dataclass(frozen=True)
class NotBack:
    """The primary did not answer (``failure`` names why, e.g. ``feature_store:unavailable``)."""

    failure: str


class Rescorer:
    def __init__(
        self,
        primary: Level,
        rules: RuleSet | None,
        policy: DecisionPolicy,
        model_version: str,
        budget_s: float,
    ) -> None:
        self._primary = ScoringOnly(primary)
        levels: list[Level] = [self._primary, SafeDefaultLevel()]
        self.ladder = Ladder(
            levels=levels,
            rules=rules,
            policy=policy,
            model_version=model_version,
            batch_budget_s=budget_s,
        )

    @classmethod
    def of_runtime(cls, runtime: Runtime, settings: Settings) -> Rescorer:
        """The worker's primary level and rules, as ``build_runtime`` made them."""
        if runtime.primary_level is None:
            raise ConfigError("the runtime has no primary level to re-score with")
        return cls(
            runtime.primary_level,
            runtime.ladder.rules,
            runtime.ladder.policy,
            runtime.ladder.model_version,
            settings.worker.batch_budget_ms / 1000,
        )

    def score(self, batch: EventBatch) -> Rescored | NotBack:
        self._primary.reset()
        scored = score_batch(batch, self.ladder)
        failure = self._primary.not_back()
        if failure is not None:
            return NotBack(failure)
        return Rescored(scored, np.asarray(scored.source == PRIMARY))
