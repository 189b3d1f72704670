"""Label records → what the feature store counts: fraud labels on their terminal and day.

A plain function of decoded records and a store, so the consumer's policy (when a batch
counts as done, what to do while Redis is down) stays in the consumer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worker.events import MS_PER_DAY
from worker.features.store import RedisFeatureStore

FRAUD = "fraud"


def invalid_label(record: dict[str, Any]) -> str | None:
    """Why a decoded label cannot be applied (it goes to the dead-letter topic), or None."""
    for name in ("transaction_id", "terminal_id", "card_id"):
        if not record[name]:
            return f"{name} is empty"
    if record["event_time_ms"] < 0:
        return "event_time_ms is before 1970"
    return None


@dataclass
class Applied:
    """What one batch of labels did."""

    counted: int = 0  # fraud labels counted now
    repeated: int = 0  # fraud labels counted before (redelivered, or a second source)
    by_source: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, outcome)


def apply_labels(
    store: RedisFeatureStore, records: list[dict[str, Any]], remember_s: int
) -> Applied:
    """Count the fraud labels of ``records`` in their terminals' windows (one store call for
    the batch). Legitimate labels change no feature: terminal risk counts frauds only."""
    applied = Applied(by_source=Counter((r["label_source"], r["outcome"]) for r in records))
    frauds = [r for r in records if r["outcome"] == FRAUD]
    if not frauds:
        return applied
    ids = np.array([r["transaction_id"] for r in frauds], dtype=object)
    terminals = np.array([r["terminal_id"] for r in frauds], dtype=object)
    days = np.array([r["event_time_ms"] for r in frauds], dtype=np.int64) // MS_PER_DAY
    applied.counted = store.record_frauds(ids, terminals, days, remember_s)
    applied.repeated = len(frauds) - applied.counted
    return applied
