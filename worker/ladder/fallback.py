"""Level 3: the LightGBM fallback on event-only features — no feature store, no GPU, run in
the calling thread (never the primary's)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from worker.ladder.level import BatchContext, LevelResult, valid_probabilities
from worker.ladder.types import ScoredBatch, Source
from worker.models.fallback import FallbackModel


class FallbackLevel:
    source = Source.FALLBACK

    def __init__(self, model: FallbackModel | None) -> None:
        self.model = model

    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        if self.model is None:
            return LevelResult.failed("fallback:unavailable")
        try:
            scores = self.model.predict(ctx.event_x[rows])
        except Exception:  # LightGBM raises untyped errors; the model is what failed
            return LevelResult.failed("fallback:error")
        if scores.shape != (len(rows),):
            return LevelResult.failed("fallback:invalid_output")
        valid = valid_probabilities(scores)
        failure = None if valid.all() else "fallback:invalid_output"
        return LevelResult(rows[valid], scores[valid], failure)

    def finish(self, ctx: BatchContext, outcome: ScoredBatch) -> None:
        return None
