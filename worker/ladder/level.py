"""The one interface every ladder level implements, and the shared per-batch context."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from worker.breaker import CircuitBreaker
from worker.events import EventBatch
from worker.features.event import event_features
from worker.ladder.budget import Budget
from worker.ladder.types import ScoredBatch, Source, Tags
from worker.rules.engine import RulesResult

T = TypeVar("T")


@dataclass
class BatchContext:
    """What the levels of one batch share: computed once, used by several."""

    batch: EventBatch
    budget: Budget
    tags: Tags
    model_ready: NDArray[np.bool_]
    rules: RulesResult | None
    # The cache level's keys for the rows it was offered: computed once (hashing costs per
    # row), used again to write the primary's answers back.
    cache_keys: tuple[NDArray[np.intp], list[bytes]] | None = None

    @cached_property
    def event_x(self) -> NDArray[np.float32]:
        """Event-only features: used by the primary and the fallback alike."""
        return event_features(self.batch)


@dataclass(frozen=True)
class LevelResult:
    """Rows a level scored (a subset of those offered) and why it did not score the others.

    ``failure`` names the dependency and what happened (``"feature_store:unavailable"``); it
    is None when not scoring is normal (a cache miss).
    """

    rows: NDArray[np.intp]
    scores: NDArray[np.float64]
    failure: str | None = None

    @classmethod
    def failed(cls, failure: str) -> LevelResult:
        return cls(np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64), failure)


class Level(Protocol):
    source: Source

    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        """Score what it can of ``rows``; never raise for a dependency's failure."""
        ...

    def finish(self, ctx: BatchContext, outcome: ScoredBatch) -> None:
        """After the batch is scored (e.g. write the cache, update the feature store)."""
        ...


def valid_probabilities(scores: NDArray[np.float64]) -> NDArray[np.bool_]:
    """NaN, infinities and values outside [0, 1] are not answers."""
    return np.asarray(np.isfinite(scores) & (scores >= 0.0) & (scores <= 1.0))


def guarded(
    breaker: CircuitBreaker, call: Callable[[], T], errors: tuple[type[BaseException], ...]
) -> tuple[T | None, str | None]:
    """Call a dependency through its breaker: an open breaker answers at once, a failure is
    recorded with its duration (slow calls count too)."""
    if not breaker.try_acquire():
        return None, f"{breaker.name}:circuit_open"
    start = time.monotonic()
    try:
        value = call()
    except errors:
        breaker.record(time.monotonic() - start, failed=True)
        return None, f"{breaker.name}:unavailable"
    breaker.record(time.monotonic() - start, failed=False)
    return value, None
