"""Fake ladder levels: each answers the rows it is told to, so a test is about routing."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from worker.ladder import Ladder, Source
from worker.ladder.decision import DecisionPolicy
from worker.ladder.default import SafeDefaultLevel
from worker.ladder.level import BatchContext, LevelResult
from worker.ladder.types import SOURCES, ScoredBatch
from worker.rules.engine import RuleSet


@dataclass
class FakeLevel:
    source: Source
    answers: dict[int, float]  # row → score; rows missing here fall through
    failure: str | None = None
    calls: list[list[int]] = field(default_factory=list)  # the rows of each call

    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        self.calls.append(rows.tolist())
        mine = np.array([r for r in rows if r in self.answers], dtype=np.intp)
        scores = np.array([self.answers[r] for r in mine], dtype=np.float64)
        return LevelResult(mine, scores, self.failure)

    def finish(self, ctx: BatchContext, outcome: ScoredBatch) -> None:
        self.finished = outcome


def ladder_of(*levels: object, rules: RuleSet | None = None, shadow_rate: float = 0.0) -> Ladder:
    return Ladder(
        levels=[*levels, SafeDefaultLevel()],  # type: ignore[list-item]
        rules=rules,
        policy=DecisionPolicy(0.5, 0.9),
        model_version="fw-test",
        shadow_sample_rate=shadow_rate,
    )


def sources(out: ScoredBatch) -> list[str]:
    return [SOURCES[code].value for code in out.source]
