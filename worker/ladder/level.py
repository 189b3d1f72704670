"""The one interface every ladder level implements, and the shared per-batch context."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from worker.breaker import CircuitBreaker
from worker.errors import FraudWorkerError
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
    # Reads a level sent before the batch's other work (``ReadsAhead``), with the rows they
    # are for: Redis answers them while the rules and event features are computed.
    ahead: dict[Source, tuple[NDArray[np.intp], Any]] = field(default_factory=dict)

    def discard_reads(self) -> None:
        """Release every read sent ahead (used or not): called once the batch is scored."""
        for _rows, read in self.ahead.values():
            read.discard()
        self.ahead.clear()

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


@runtime_checkable
class ReadsAhead(Protocol):
    """A level that reads a dependency: it may send the read before the batch's other work
    and take the reply when its turn comes."""

    def read_ahead(self, ctx: BatchContext, rows: NDArray[np.intp]) -> None:
        """Send the read for ``rows`` (the rows it will be offered at most) into
        ``ctx.ahead``; nothing when its dependency's breaker is not closed."""
        ...


class SentRead(Protocol):
    def discard(self) -> None:
        """Done with the read, reply taken or not (a connection goes back clean)."""
        ...


def valid_probabilities(scores: NDArray[np.float64]) -> NDArray[np.bool_]:
    """NaN, infinities and values outside [0, 1] are not answers."""
    return np.asarray(np.isfinite(scores) & (scores >= 0.0) & (scores <= 1.0))


class CallFailed(FraudWorkerError):
    """A guarded call failed for a reason it names (``timeout``, ``invalid_output``): the
    failure the ladder tags is ``<breaker>:<reason>``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Verdict(Enum):
    """What a call's answer says about the dependency."""

    SUCCESS = "success"
    FAILURE = "failure"
    # Neither: the permit is released, not recorded (the answer may be used all the same).
    NO_EVIDENCE = "no_evidence"


def _success(value: object) -> Verdict:
    return Verdict.SUCCESS


def guarded(
    breaker: CircuitBreaker,
    call: Callable[[], T],
    errors: tuple[type[BaseException], ...],
    judge: Callable[[T], Verdict] = _success,
) -> tuple[T | None, str | None]:
    """Call a dependency through its breaker; its permit always comes back.

    An open breaker answers at once. ``errors`` and ``CallFailed`` are the dependency's
    failures: recorded with their duration (slow calls count too), answered with a failure
    name. An answer is recorded as ``judge`` says. Any other ``Exception`` is recorded as a
    failure too — the call gave no answer, and an unreturned permit would leave a half-open
    breaker refusing forever — and then re-raised, since it may be our bug rather than the
    dependency's: the ladder logs it with its traceback as ``<level>:internal_error``
    instead of hiding it as ``unavailable``. A ``BaseException`` (interrupt, exit) says
    nothing about the dependency: the permit is released.
    """
    if not breaker.try_acquire():
        return None, f"{breaker.name}:circuit_open"
    start = time.monotonic()
    try:
        value = call()
        verdict = judge(value)
    except CallFailed as exc:
        breaker.record(time.monotonic() - start, failed=True)
        return None, f"{breaker.name}:{exc.reason}"
    except errors:
        breaker.record(time.monotonic() - start, failed=True)
        return None, f"{breaker.name}:unavailable"
    except Exception:
        breaker.record(time.monotonic() - start, failed=True)
        raise
    except BaseException:
        breaker.release()
        raise
    if verdict is Verdict.NO_EVIDENCE:
        breaker.release()
    else:
        breaker.record(time.monotonic() - start, failed=verdict is Verdict.FAILURE)
    return value, None
