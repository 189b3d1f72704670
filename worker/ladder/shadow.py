"""Shadow scoring: the fallback and the rules also score a sample of the rows the primary or
the cache answered. Their results go to the shadow topic and are never acted on: the live
quality of the levels below the primary is then known before an outage needs them.

The sample is drawn per transaction id (``worker.ids.id_hash``, not a random draw), so a
redelivered event is sampled as it was the first time. The fallback is called once per
batch, for the sampled rows; the rules' scores are already there (evaluated once per batch).
Whatever fails here is named in ``ShadowResults.failures`` and counted, never raised: the
real results stand.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from worker.ids import id_hash
from worker.ladder.decision import DecisionPolicy, rule_floor
from worker.ladder.level import BatchContext, Level
from worker.ladder.types import SOURCES, ScoredBatch, ShadowResults, Source

log = logging.getLogger(__name__)

_HASH_SPACE = 1 << 64


def sampled(transaction_ids: NDArray[np.object_], rate: float) -> NDArray[np.bool_]:
    """Which ids fall in a ``rate`` share of the id space: their ``id_hash`` below
    ``rate * 2**64`` (one vectorized hash per batch). No hashing for a rate of 0 or 1."""
    n = len(transaction_ids)
    if rate <= 0.0 or rate >= 1.0 or n == 0:
        return np.full(n, rate >= 1.0, dtype=np.bool_)
    ids = np.char.encode(transaction_ids.astype(np.str_), "utf-8")
    return np.asarray(id_hash(ids) < np.uint64(int(rate * _HASH_SPACE)))


def shadow_results(
    ctx: BatchContext,
    outcome: ScoredBatch,
    fallback: Level | None,
    policy: DecisionPolicy,
    rate: float,
) -> ShadowResults:
    """The shadow results of one scored batch; never raises."""
    try:
        return _shadow(ctx, outcome, fallback, policy, rate)
    except Exception:
        log.exception("shadow scoring failed; the batch's results stand")
        return ShadowResults(None, ("shadow:internal_error",))


Answered = tuple[Source, NDArray[np.intp], NDArray[np.float64]]


def _shadow(
    ctx: BatchContext,
    outcome: ScoredBatch,
    fallback: Level | None,
    policy: DecisionPolicy,
    rate: float,
) -> ShadowResults:
    eligible = np.flatnonzero(~outcome.degraded)
    rows = eligible[sampled(ctx.batch.transaction_id[eligible], rate)]
    if len(rows) == 0:
        return ShadowResults(None)
    parts: list[Answered] = []
    failures: list[str] = []
    for answered, failure in (_fallback(ctx, rows, fallback), _rules(ctx, rows)):
        if answered is not None:
            parts.append(answered)
        if failure is not None:
            failures.append(failure)
    scored = _as_results(outcome, parts, policy) if parts else None
    return ShadowResults(scored, tuple(failures))


def _fallback(
    ctx: BatchContext, rows: NDArray[np.intp], level: Level | None
) -> tuple[Answered | None, str | None]:
    if level is None:
        return None, "fallback:unavailable"
    try:
        result = level.score(ctx, rows)
    except Exception:
        log.exception("the fallback raised while shadow scoring")
        return None, "fallback:internal_error"
    if len(result.rows) != len(result.scores) or not np.isin(result.rows, rows).all():
        return None, "fallback:internal_error"
    answered = (Source.FALLBACK, result.rows, result.scores) if len(result.rows) else None
    return answered, result.failure


def _rules(ctx: BatchContext, rows: NDArray[np.intp]) -> tuple[Answered | None, str | None]:
    if ctx.rules is None:
        return None, "rules:unavailable"
    return (Source.RULES, rows, ctx.rules.scores[rows]), None


def _as_results(outcome: ScoredBatch, parts: list[Answered], policy: DecisionPolicy) -> ScoredBatch:
    """Shadow answers as results of their own: decided as the worker would have decided them
    (thresholds and decisive rules), degraded like any answer from below the primary."""
    rows = np.concatenate([part[1] for part in parts])
    score = np.concatenate([part[2] for part in parts]).astype(np.float64)
    source = np.concatenate(
        [np.full(len(part[1]), SOURCES.index(part[0]), dtype=np.int8) for part in parts]
    )
    matched = outcome.rule_matches[rows]
    by_score = policy.decide(score)
    decision = policy.decide(score, rule_floor(matched, outcome.rule_decides))
    return ScoredBatch(
        batch=outcome.batch.take(rows),
        score=score,
        source=source,
        decision=decision,
        degraded=np.ones(len(rows), dtype=np.bool_),
        failures=np.zeros(len(rows), dtype=np.int64),
        flags=outcome.flags[rows],
        rule_matches=matched,
        rule_codes=outcome.rule_codes,
        raised_by_rule=decision > by_score,
        model_version=outcome.model_version,
        scoring_latency_ms=outcome.scoring_latency_ms,
        tags=outcome.tags,
        rule_decides=outcome.rule_decides,
    )
