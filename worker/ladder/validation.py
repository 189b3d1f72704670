"""Input checks, vectorized. A flagged event is still scored — by the levels that can — and
flagged in its result; events whose numbers are unusable skip the models."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from worker.columns import is_in
from worker.events import EventBatch
from worker.features.vocabulary import (
    CATEGORIES,
    CHANNELS,
    ENTRY_MODE_NOT_REPORTED,
    ENTRY_MODES,
)
from worker.ladder.types import Tags

# Flags that make model features meaningless: such rows go straight to the rules, and never
# reach the cache or the feature store, whose state every other event shares.
MODEL_BLOCKING_FLAGS = ("invalid_amount", "negative_account_age", "missing_id", "invalid_time")

# The largest amount (EUR-equivalent, major units) taken as real. No card payment comes near
# a million euros; far above it the feature store's encoding breaks down: a card's cents
# share an int64 with its count below bit 33 (about 85.9 million per window), and the update
# script's Lua numbers fail past 1e17 (an amount of 1e15), failing the call for every row.
MAX_AMOUNT = 1_000_000.0
# The last millisecond of year 9999 (Python's datetime.max, UTC). Its day number, 2,932,896,
# sits far inside the int32 day of a feature-store ring slot (MAX_DAY); a time near 3.7e17 ms
# (day 2**32) once spilled into another card's keys and changed its neighbours' features.
MAX_EVENT_TIME_MS = 253_402_300_799_999
# Entry modes that are no problem: the known ones, and "not reported" (v1 producers).
_ACCEPTED_ENTRY_MODES = (*ENTRY_MODES, ENTRY_MODE_NOT_REPORTED)


def input_flags(batch: EventBatch, tags: Tags) -> NDArray[np.int64]:
    """Per row, the bits of every problem found in its fields."""
    amount, time_ms = batch.amount, batch.event_time_ms
    checks = {
        # Written so that NaN fails too.
        "invalid_amount": ~((amount >= 0) & (amount <= MAX_AMOUNT)),
        "negative_account_age": batch.account_age_days < 0,
        "missing_id": (batch.transaction_id == "")
        | (batch.card_id == "")
        | (batch.terminal_id == ""),
        "invalid_time": (time_ms <= 0) | (time_ms > MAX_EVENT_TIME_MS),
        "unknown_category": ~is_in(batch.merchant_category, CATEGORIES),
        "unknown_channel": ~is_in(batch.channel, CHANNELS),
        "unknown_entry_mode": ~is_in(batch.entry_mode, _ACCEPTED_ENTRY_MODES),
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
