"""``score_batch``: every row of a batch goes down the ladder until a level answers it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from worker.events import EventBatch
from worker.ladder.budget import Budget
from worker.ladder.decision import DecisionPolicy
from worker.ladder.level import BatchContext, Level, LevelResult
from worker.ladder.types import SOURCES, ScoredBatch, Source, Tags
from worker.ladder.validation import input_flags, model_ready
from worker.rules.engine import RuleSet, RulesResult

log = logging.getLogger(__name__)

# Levels that read model features: rows with unusable inputs skip them.
MODEL_LEVELS = frozenset({Source.CACHE, Source.PRIMARY, Source.FALLBACK})
TRUSTED = (SOURCES.index(Source.CACHE), SOURCES.index(Source.PRIMARY))


@dataclass
class Ladder:
    """The ordered levels and what they share. The last level must answer every row."""

    levels: Sequence[Level]
    rules: RuleSet | None
    policy: DecisionPolicy
    model_version: str
    batch_budget_s: float = 0.5
    tags: Tags = field(default_factory=Tags)

    def __post_init__(self) -> None:
        if not self.levels or self.levels[-1].source != Source.SAFE_DEFAULT:
            raise ValueError("the ladder must end with the safe default")


def _rule_matches(result: RulesResult | None, n: int) -> tuple[NDArray[np.bool_], tuple[str, ...]]:
    if result is None:
        return np.zeros((n, 0), dtype=np.bool_), ()
    return result.matched, result.reasons


def _evaluate_rules(rules: RuleSet | None, batch: EventBatch) -> RulesResult | None:
    if rules is None:
        return None
    try:
        return rules.score(batch)
    except Exception:  # a rule that cannot be evaluated must not stop the batch
        return None


def _offered(
    level: Level, pending: NDArray[np.bool_], ready: NDArray[np.bool_]
) -> NDArray[np.intp]:
    eligible = pending & ready if level.source in MODEL_LEVELS else pending
    return np.flatnonzero(eligible)


def _score_safely(level: Level, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
    """A level's own bug is one more failure to fall through, never a lost batch."""
    try:
        result = level.score(ctx, rows)
    except Exception:
        log.exception("%s level raised; its rows fall through", level.source.value)
        return LevelResult.failed(f"{level.source.value}:internal_error")
    if len(result.rows) != len(result.scores) or not np.isin(result.rows, rows).all():
        log.error("%s level answered rows it was not offered", level.source.value)
        return LevelResult.failed(f"{level.source.value}:internal_error")
    return result


def score_batch(
    batch: EventBatch, ladder: Ladder, clock: Callable[[], float] = time.monotonic
) -> ScoredBatch:
    """Score every event of ``batch``; exactly one result per event, tagged with its source."""
    start = clock()
    n, tags = len(batch), ladder.tags
    flags = input_flags(batch, tags)
    ready = model_ready(flags, tags)
    rules = _evaluate_rules(ladder.rules, batch)
    ctx = BatchContext(batch, Budget.of(ladder.batch_budget_s, clock), tags, ready, rules)
    score = np.zeros(n, dtype=np.float64)
    source = np.full(n, -1, dtype=np.int8)
    failures = np.zeros(n, dtype=np.int64)
    pending = np.ones(n, dtype=np.bool_)
    stage_ms: dict[str, float] = {}
    rule_matches, rule_codes = _rule_matches(rules, n)
    for level in ladder.levels:
        rows = _offered(level, pending, ready)
        if len(rows) == 0:
            continue
        began = clock()
        result = _score_safely(level, ctx, rows)
        stage_ms[level.source.value] = (clock() - began) * 1000
        score[result.rows] = result.scores
        source[result.rows] = SOURCES.index(level.source)
        pending[result.rows] = False
        if result.failure:
            failures[rows[pending[rows]]] |= tags.bit(result.failure)
    outcome = ScoredBatch(
        batch=batch,
        score=score,
        source=source,
        decision=ladder.policy.decide(score),
        degraded=~np.isin(source, TRUSTED),
        failures=failures,
        flags=flags,
        rule_matches=rule_matches,
        rule_codes=rule_codes,
        model_version=ladder.model_version,
        scoring_latency_ms=(clock() - start) * 1000,
        tags=tags,
        stage_ms=stage_ms,
    )
    began = clock()
    for level in ladder.levels:
        try:
            level.finish(ctx, outcome)
        except Exception:  # the results stand; a failed follow-up must not lose them
            log.exception("%s level failed after the batch", level.source.value)
    stage_ms["finish"] = (clock() - began) * 1000
    return outcome
