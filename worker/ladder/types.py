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
    rule_reasons: list[list[str]]
    model_version: str
    scoring_latency_ms: float
    tags: Tags
    stage_ms: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.score)

    def needs_review(self) -> NDArray[np.bool_]:
        """Degraded, flagged, or decided review/block: what analysts must see."""
        allow = DECISIONS.index(Decision.ALLOW)
        return np.asarray(self.degraded | (self.flags != 0) | (self.decision != allow))

    def records(self, scored_at_ms: int) -> list[dict[str, Any]]:
        """Result records in the scored-result schema (the per-event work of the sink)."""
        batch = self.batch
        ids, cards, times = (
            batch.transaction_id.tolist(),
            batch.card_id.tolist(),
            batch.event_time_ms.tolist(),
        )
        scores, degraded = self.score.tolist(), self.degraded.tolist()
        sources = [_SOURCE_NAMES[code] for code in self.source.tolist()]
        confidences = [_CONFIDENCE_BY_CODE[code] for code in self.source.tolist()]
        decisions = [_DECISION_NAMES[code] for code in self.decision.tolist()]
        failures, flags = self.failures.tolist(), self.flags.tolist()
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
                "reasons": self.rule_reasons[i],
                "degraded": degraded[i],
                "failed_dependencies": self.tags.names(failures[i]) if failures[i] else [],
                "input_flags": self.tags.names(flags[i]) if flags[i] else [],
                "scoring_latency_ms": self.scoring_latency_ms,
                "scored_at_ms": scored_at_ms,
            }
            for i in range(len(ids))
        ]
