"""Fake ladder levels: each answers the rows it is told to, so a test is about routing."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import redis
from numpy.typing import NDArray

from worker.breaker import CircuitBreaker
from worker.events import EventBatch
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


class SentNothing:
    """A read sent ahead by a fake: the batch it is for, nothing to release."""

    def __init__(self, batch: EventBatch) -> None:
        self.batch = batch

    def discard(self) -> None:
        pass


class FakeStore:
    """Stands in for the Redis feature store (zero history); fails while ``fail``; counts
    reads and writes."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.reads = 0
        self.updates = 0

    def read_ahead(self, batch: EventBatch) -> SentNothing:
        return SentNothing(batch)

    def aggregates(
        self, batch: EventBatch, ahead: object = None, rows: object = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self.reads += 1
        if self.fail:
            raise redis.ConnectionError("connection refused")
        zeros = np.zeros((len(batch), 3, 2), dtype=np.int64)
        return zeros, zeros.copy()

    def update_commands(self, batch: EventBatch, flush: bool = True) -> list[list[str]]:
        self.updates += 1
        return [["UPDATE", str(len(batch))]]

    def flush_commands(self) -> list[list[str]]:
        return []

    # Held terminal counts: the calls the next ``due_flush_commands`` gives, whether a read
    # could see those sent, and how often they were said to have landed.
    flush_due: list[list[str]] = []  # noqa: RUF012 - replaced, never mutated
    could_see = False
    landed = 0

    def due_flush_commands(self) -> list[list[str]]:
        due, self.flush_due = self.flush_due, []
        return due

    def flush_could_be_seen(self, batch: EventBatch) -> bool:
        return self.could_see

    def flush_landed(self) -> None:
        self.landed += 1


class SentWrites:
    """Keeps the commands a level sends instead of sending them to Redis."""

    def __init__(self) -> None:
        self.sent: list[list[list[str]]] = []
        self.skipped: dict[str, int] = {}
        self.waits = 0

    def send(self, breaker: CircuitBreaker, commands: list[list[str]]) -> None:
        self.sent.append(commands)

    def wait(self) -> None:
        self.waits += 1

    def close(self) -> None:
        pass
