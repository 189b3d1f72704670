"""Level 5: the safe default — allow, flag for review, confidence 0. No I/O; cannot fail."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from worker.ladder.level import BatchContext, LevelResult
from worker.ladder.types import ScoredBatch, Source

SAFE_SCORE = 0.0


class SafeDefaultLevel:
    source = Source.SAFE_DEFAULT

    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        return LevelResult(rows, np.full(len(rows), SAFE_SCORE, dtype=np.float64))

    def finish(self, ctx: BatchContext, outcome: ScoredBatch) -> None:
        return None
