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
from worker.ladder.decision import DecisionPolicy, rule_floor
from worker.ladder.level import BatchContext, Level, LevelResult, ReadsAhead
from worker.ladder.shadow import shadow_results
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
    # Share of the rows the primary or the cache answered that the fallback and the rules
    # score too, as shadow results (``shadow.py``); 0 turns shadow scoring off.
    shadow_sample_rate: float = 0.0

    def __post_init__(self) -> None:
        if not self.levels or self.levels[-1].source != Source.SAFE_DEFAULT:
            raise ValueError("the ladder must end with the safe default")
        if not 0.0 <= self.shadow_sample_rate <= 1.0:
            raise ValueError("the shadow sample rate must be within [0, 1]")

    def level(self, source: Source) -> Level | None:
        return next((level for level in self.levels if level.source is source), None)


@dataclass
class Answers:
    """What the levels answered, as columns: the score, the answering level's code, and the
    bits of what failed above it."""

    score: NDArray[np.float64]
    source: NDArray[np.int8]
    failures: NDArray[np.int64]
    stage_ms: dict[str, float]


def _rule_columns(
    result: RulesResult | None, n: int
) -> tuple[NDArray[np.bool_], tuple[str, ...], tuple[str | None, ...]]:
    if result is None:
        return np.zeros((n, 0), dtype=np.bool_), (), ()
    return result.matched, result.reasons, result.decides


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


def _read_ahead(levels: Sequence[Level], ctx: BatchContext) -> None:
    """Send the model levels' reads for the rows they may be offered (every ready row) at
    once; a level's own bug here only costs it its read ahead."""
    rows = np.flatnonzero(ctx.model_ready)
    if len(rows) == 0:
        return
    for level in levels:
        if isinstance(level, ReadsAhead):
            try:
                level.read_ahead(ctx, rows)
            except Exception:
                log.exception("%s level failed to read ahead", level.source.value)


def _descend(levels: Sequence[Level], ctx: BatchContext, clock: Callable[[], float]) -> Answers:
    """Every row down the levels until one answers it."""
    n = len(ctx.batch)
    answers = Answers(
        np.zeros(n, dtype=np.float64), np.full(n, -1, dtype=np.int8), np.zeros(n, np.int64), {}
    )
    pending = np.ones(n, dtype=np.bool_)
    for level in levels:
        rows = _offered(level, pending, ctx.model_ready)
        if len(rows) == 0:
            continue
        began = clock()
        result = _score_safely(level, ctx, rows)
        answers.stage_ms[level.source.value] = (clock() - began) * 1000
        answers.score[result.rows] = result.scores
        answers.source[result.rows] = SOURCES.index(level.source)
        pending[result.rows] = False
        if result.failure:
            answers.failures[rows[pending[rows]]] |= ctx.tags.bit(result.failure)
    return answers


def _outcome(
    ladder: Ladder, ctx: BatchContext, answers: Answers, flags: NDArray[np.int64], ms: float
) -> ScoredBatch:
    """The answers as results: decided by the thresholds, raised by any decisive rule."""
    matched, codes, decides = _rule_columns(ctx.rules, len(ctx.batch))
    by_score = ladder.policy.decide(answers.score)
    decision = ladder.policy.decide(answers.score, rule_floor(matched, decides))
    return ScoredBatch(
        batch=ctx.batch,
        score=answers.score,
        source=answers.source,
        decision=decision,
        degraded=~np.isin(answers.source, TRUSTED),
        failures=answers.failures,
        flags=flags,
        rule_matches=matched,
        rule_codes=codes,
        raised_by_rule=decision > by_score,
        model_version=ladder.model_version,
        scoring_latency_ms=ms,
        tags=ctx.tags,
        stage_ms=answers.stage_ms,
        rule_decides=decides,
    )


def _finish(levels: Sequence[Level], ctx: BatchContext, outcome: ScoredBatch) -> None:
    for level in levels:
        try:
            level.finish(ctx, outcome)
        except Exception:  # the results stand; a failed follow-up must not lose them
            log.exception("%s level failed after the batch", level.source.value)


def score_batch(
    batch: EventBatch, ladder: Ladder, clock: Callable[[], float] = time.monotonic
) -> ScoredBatch:
    """Score every event of ``batch``; exactly one result per event, tagged with its source."""
    start = clock()
    tags = ladder.tags
    flags = input_flags(batch, tags)
    ready = model_ready(flags, tags)
    ctx = BatchContext(batch, Budget.of(ladder.batch_budget_s, clock), tags, ready, None)
    try:
        _read_ahead(ladder.levels, ctx)
        ctx.rules = _evaluate_rules(ladder.rules, batch)  # while Redis answers the reads
        answers = _descend(ladder.levels, ctx, clock)
    finally:
        ctx.discard_reads()
    outcome = _outcome(ladder, ctx, answers, flags, (clock() - start) * 1000)
    stages = outcome.stage_ms
    began = clock()
    _finish(ladder.levels, ctx, outcome)
    stages["finish"] = (clock() - began) * 1000
    if ladder.shadow_sample_rate > 0:
        began = clock()
        outcome.shadow = shadow_results(
            ctx, outcome, ladder.level(Source.FALLBACK), ladder.policy, ladder.shadow_sample_rate
        )
        stages["shadow"] = (clock() - began) * 1000
    return outcome
