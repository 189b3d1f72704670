"""Features computed from the event alone: no state, no I/O, so they cannot fail on a dependency.

The fallback model uses exactly these; the primary uses them plus the stateful ones.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from worker.columns import one_hot
from worker.events import MS_PER_DAY, EventBatch
from worker.features.vocabulary import CATEGORIES, CHANNELS, ENTRY_MODES

NEW_ACCOUNT_DAYS = 7
NIGHT_END_HOUR = 6  # the handbook's night flag: transactions before 6:00

EVENT_FEATURES: tuple[str, ...] = (
    "amount",
    "log_amount",
    "hour",
    "is_weekend",
    "is_night",
    "is_international",
    "has_international_history",
    "international_without_history",
    "log_account_age_days",
    "is_new_account",
    "cardholder_verified",
    *(f"category_{name}" for name in CATEGORIES),
    *(f"channel_{name}" for name in CHANNELS),
    *(f"entry_{name}" for name in ENTRY_MODES),
)


def time_of_day(event_time_ms: NDArray[np.int64]) -> tuple[NDArray[np.float32], ...]:
    """Hour of day, weekend and night flags (UTC)."""
    hour = (event_time_ms % MS_PER_DAY) / 3_600_000
    weekday = (event_time_ms // MS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday (3)
    return (
        hour.astype(np.float32),
        (weekday >= 5).astype(np.float32),
        (hour < NIGHT_END_HOUR).astype(np.float32),
    )


def event_features(batch: EventBatch) -> NDArray[np.float32]:
    """The ``EVENT_FEATURES`` matrix of a batch, float32, one row per event."""
    amount = batch.amount.astype(np.float32)
    hour, weekend, night = time_of_day(batch.event_time_ms)
    international = batch.is_international.astype(np.float32)
    history = batch.has_international_history.astype(np.float32)
    age = np.maximum(batch.account_age_days, 0).astype(np.float32)
    dense = np.column_stack(
        [
            amount,
            np.log1p(np.maximum(amount, 0)),
            hour,
            weekend,
            night,
            international,
            history,
            international * (1 - history),
            np.log1p(age),
            (age < NEW_ACCOUNT_DAYS).astype(np.float32),
            batch.cardholder_verified.astype(np.float32),
        ]
    )
    return np.hstack(
        [
            dense,
            one_hot(batch.merchant_category, CATEGORIES),
            one_hot(batch.channel, CHANNELS),
            one_hot(batch.entry_mode, ENTRY_MODES),
        ]
    ).astype(np.float32, copy=False)
