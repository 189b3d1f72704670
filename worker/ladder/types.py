"""What the ladder produces: columns of results, with codes rather than strings per row."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from worker.events import EventBatch


class Source(StrEnum):
    """Which level answered. The order is the ladder's."""

    CACHE = "cache"
    PRIMARY = "primary"
    FALLBACK = "fallback"
    RULES = "rules"
    SAFE_DEFAULT = "safe_default"


class Decision(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


SOURCES: tuple[Source, ...] = tuple(Source)
DECISIONS: tuple[Decision, ...] = tuple(Decision)
# How far a level's score can be trusted, reported with each result. A cache hit holds a
# primary score, so it inherits the primary's confidence.
CONFIDENCE: dict[Source, float] = {
    Source.CACHE: 1.0,
    Source.PRIMARY: 1.0,
    Source.FALLBACK: 0.75,
    Source.RULES: 0.5,
    Source.SAFE_DEFAULT: 0.0,
}

# Per-code lookups for the per-row part of ``records`` (no enum attribute access per row).
_SOURCE_NAMES = [source.value for source in SOURCES]
_CONFIDENCE_BY_CODE = [CONFIDENCE[source] for source in SOURCES]
_DECISION_NAMES = [decision.value for decision in DECISIONS]


@dataclass(frozen=True)
class ShadowResults:
    """What the fallback and the rules would have answered for a sample of the rows the
    primary or the cache answered: published apart, never acted on. ``failures`` names what
    kept a shadow level from answering (counted; the batch's results stand)."""

    scored: ScoredBatch | None
    failures: tuple[str, ...] = ()


class Tags:
    """A growing vocabulary of short tags (failed dependencies, input flags), stored per row
    as bits of an int64 so that tagging a set of rows is one vectorized OR."""

    def __init__(self) -> None:
        self._names: list[str] = []

    def bit(self, name: str) -> int:
        if name not in self._names:
            if len(self._names) == 63:
                raise ValueError("more than 63 distinct tags")
            self._names.append(name)
        return 1 << self._names.index(name)

    def names(self, bits: int) -> list[str]:
        return [name for i, name in enumerate(self._names) if bits >> i & 1]


@dataclass
class ScoredBatch:
    """One result per event of the batch, as columns."""

    batch: EventBatch
    score: NDArray[np.float64]
    source: NDArray[np.int8]
    decision: NDArray[np.int8]
    degraded: NDArray[np.bool_]
    failures: NDArray[np.int64]
    flags: NDArray[np.int64]
    rule_matches: NDArray[np.bool_]  # (rows, rules): which rules matched each row
    rule_codes: tuple[str, ...]  # the reason code of each rule column
    raised_by_rule: NDArray[np.bool_]  # rows whose decision a decisive rule raised
    model_version: str
    scoring_latency_ms: float
    tags: Tags
    stage_ms: dict[str, float] = field(default_factory=dict)
    # Per rule column, what the rule decides when it matches (None: not decisive).
    rule_decides: tuple[str | None, ...] = ()
    shadow: ShadowResults | None = None

    def __len__(self) -> int:
        return len(self.score)

    def needs_review(self) -> NDArray[np.bool_]:
        """What a human should look at: decided review or block (by the thresholds or a
        decisive rule), or a flagged input. Degraded alone is not a reason: see
        ``kept_apart``."""
        allow = DECISIONS.index(Decision.ALLOW)
        return np.asarray((self.flags != 0) | (self.decision != allow))

    def kept_apart(self) -> NDArray[np.bool_]:
        """Degraded answers no human needs to see now: published apart, to be scored again
        by the primary once it is back."""
        return np.asarray(self.degraded & ~self.needs_review())

    def decisive_reasons(self, rows: NDArray[np.intp]) -> list[list[str]]:
        """Per row of ``rows``, the reason codes of the decisive rules it matched."""
        decisive = np.array([d is not None for d in self.rule_decides], dtype=np.bool_)
        if not decisive.any():
            return [[] for _ in range(len(rows))]
        return [self.reasons_of(matched & decisive) for matched in self.rule_matches[rows]]

    @property
    def rule_reasons(self) -> list[list[str]]:
        """Per row, the reason codes of the rules it matched."""
        return [self.reasons_of(row) for row in self.rule_matches]

    def reasons_of(self, matched: NDArray[np.bool_]) -> list[str]:
        """Reason codes of one row of ``rule_matches``."""
        return [code for code, hit in zip(self.rule_codes, matched.tolist(), strict=True) if hit]

    def confidence(self) -> NDArray[np.float64]:
        return np.asarray(_CONFIDENCE_BY_CODE, dtype=np.float64)[self.source]

    def records(
        self, scored_at_ms: int, rows: NDArray[np.intp] | None = None
    ) -> list[dict[str, Any]]:
        """Result records in the scored-result schema, of every row or of ``rows``.

        Per-row Python objects: the sink encodes results from the columns instead and builds
        records only for the few rows that go to review.
        """
        if rows is None:
            rows = np.arange(len(self), dtype=np.intp)
        batch = self.batch
        ids, cards, times = (
            batch.transaction_id[rows].tolist(),
            batch.card_id[rows].tolist(),
            batch.event_time_ms[rows].tolist(),
        )
        scores, degraded = self.score[rows].tolist(), self.degraded[rows].tolist()
        sources = [_SOURCE_NAMES[code] for code in self.source[rows].tolist()]
        confidences = self.confidence()[rows].tolist()
        decisions = [_DECISION_NAMES[code] for code in self.decision[rows].tolist()]
        failures, flags = self.failures[rows].tolist(), self.flags[rows].tolist()
        reasons = [self.reasons_of(matched) for matched in self.rule_matches[rows]]
        return [
            {
                "transaction_id": ids[i],
                "card_id": cards[i],
                "event_time_ms": times[i],
                "score": scores[i],
                "decision": decisions[i],
                "source": sources[i],
                "model_version": self.model_version,
                "confidence": confidences[i],
                "reasons": reasons[i],
                "degraded": degraded[i],
                "failed_dependencies": self.tags.names(failures[i]) if failures[i] else [],
                "input_flags": self.tags.names(flags[i]) if flags[i] else [],
                "scoring_latency_ms": self.scoring_latency_ms,
                "scored_at_ms": scored_at_ms,
            }
            for i in range(len(ids))
        ]
