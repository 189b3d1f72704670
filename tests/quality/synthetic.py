"""Synthetic columns for the quality tests: results of known scores, sources and decisions."""

from __future__ import annotations

from typing import Any

import numpy as np

from worker.events import MS_PER_DAY
from worker.quality.days import epoch_day
from worker.quality.results import DECISION_NAMES, SOURCE_NAMES, Results

START = epoch_day(__import__("datetime").date(2026, 4, 1))
START_MS = START * MS_PER_DAY


def results(
    n: int,
    days: int = 10,
    seed: int = 0,
    fraud_rate: float = 0.05,
    sources: tuple[str, ...] = ("primary",),
) -> tuple[Results, np.ndarray]:
    """``n`` results spread over ``days`` from START, and which of them are fraud; scores
    separate the classes (frauds score higher, with overlap)."""
    rng = np.random.default_rng(seed)
    fraud = rng.random(n) < fraud_rate
    score = np.clip(rng.random(n) * 0.6 + fraud * rng.random(n) * 0.5, 0, 1)
    decision = np.where(score >= 0.9, 2, np.where(score >= 0.5, 1, 0))
    codes = [SOURCE_NAMES.index(s) for s in sources]
    columns: dict[str, Any] = {
        "transaction_id": [f"tx_{i:06d}" for i in range(n)],
        "card_id": [f"card_{i % max(n // 4, 1):05d}" for i in range(n)],
        "event_time_ms": START_MS + np.sort(rng.integers(0, days * MS_PER_DAY, n)),
        "score": score,
        "decision": decision,
        "source": np.array(codes)[rng.integers(0, len(codes), n)],
    }
    return Results.from_columns(columns), fraud


def code(decision: str) -> int:
    return DECISION_NAMES.index(decision)
