"""Input checks, vectorized. A flagged event is still scored — by the levels that can — and
flagged in its result; events whose numbers are unusable skip the models."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from worker.columns import is_in
from worker.events import EventBatch
from worker.features.vocabulary import CATEGORIES, CHANNELS, ENTRY_MODES
from worker.ladder.types import Tags

# Flags that make model features meaningless: such rows go straight to the rules.
MODEL_BLOCKING_FLAGS = ("invalid_amount", "negative_account_age", "missing_id", "invalid_time")


def input_flags(batch: EventBatch, tags: Tags) -> NDArray[np.int64]:
    """Per row, the bits of every problem found in its fields."""
    checks = {
        "invalid_amount": ~np.isfinite(batch.amount) | (batch.amount < 0),
        "negative_account_age": batch.account_age_days < 0,
        "missing_id": (batch.card_id == "") | (batch.terminal_id == ""),
        "invalid_time": batch.event_time_ms <= 0,
        "unknown_category": ~is_in(batch.merchant_category, CATEGORIES),
        "unknown_channel": ~is_in(batch.channel, CHANNELS),
        "unknown_entry_mode": ~is_in(batch.entry_mode, ENTRY_MODES),
    }
    flags = np.zeros(len(batch), dtype=np.int64)
    for name, hit in checks.items():
        if hit.any():
            flags[hit] |= tags.bit(name)
    return flags


def model_ready(flags: NDArray[np.int64], tags: Tags) -> NDArray[np.bool_]:
    """Rows whose inputs the models can use."""
    blocking = 0
    for name in MODEL_BLOCKING_FLAGS:
        blocking |= tags.bit(name)
    return np.asarray((flags & blocking) == 0)
