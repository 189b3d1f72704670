"""Level 4: the fraud rules. Evaluated once per batch (their reasons go with every result);
this level only hands their scores to the rows still unscored."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from worker.ladder.level import BatchContext, LevelResult
from worker.ladder.types import ScoredBatch, Source


class RulesLevel:
    source = Source.RULES

    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        if ctx.rules is None:
            return LevelResult.failed("rules:unavailable")
        return LevelResult(rows, ctx.rules.scores[rows])

    def finish(self, ctx: BatchContext, outcome: ScoredBatch) -> None:
        return None
