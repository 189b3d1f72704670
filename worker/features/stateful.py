"""Per-card and per-terminal features from windowed aggregates (the handbook's 12, plus how
the amount compares with the card's usual spending).

Aggregates are integer sums per window: for a card, (transaction count, amount in cents); for
a terminal, (transaction count, fraud count). Training computes them over the whole history
(``offline_aggregates``); serving adds the feature store's totals to the batch's own rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from worker.events import EventBatch
from worker.features.event import time_of_day
from worker.features.windows import (
    CARD_WINDOWS,
    TERMINAL_WINDOWS,
    entity_codes,
    known_window_sums,
    window_sums,
)

STATEFUL_FEATURES: tuple[str, ...] = (
    *(f"card_nb_tx_{w.name}" for w in CARD_WINDOWS),
    *(f"card_avg_amount_{w.name}" for w in CARD_WINDOWS),
    *(f"terminal_nb_tx_{w.name}" for w in TERMINAL_WINDOWS),
    *(f"terminal_risk_{w.name}" for w in TERMINAL_WINDOWS),
    "amount_to_card_avg_7d",
    "amount_to_card_avg_30d",
)

# The 15 features of the Fraud Detection Handbook, for the reference logistic regression.
HANDBOOK_FEATURES: tuple[str, ...] = ("amount", "is_weekend", "is_night", *STATEFUL_FEATURES[:12])


def amount_cents(batch: EventBatch) -> NDArray[np.int64]:
    """Amounts in integer cents: sums stay exact in Redis and in numpy alike."""
    return np.rint(batch.amount * 100).astype(np.int64)


def card_values(batch: EventBatch) -> NDArray[np.int64]:
    """What each event adds to its card's buckets: (1 transaction, its amount in cents)."""
    return np.column_stack([np.ones(len(batch), dtype=np.int64), amount_cents(batch)])


def terminal_values(batch: EventBatch, is_fraud: NDArray[np.bool_]) -> NDArray[np.int64]:
    """What each event adds to its terminal's buckets: (1 transaction, 1 if fraud)."""
    return np.column_stack([np.ones(len(batch), dtype=np.int64), is_fraud.astype(np.int64)])


def offline_aggregates(
    batch: EventBatch, is_fraud: NDArray[np.bool_], label_delay_ms: int | None = None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Card and terminal aggregates over a whole time-ordered history (training).

    ``is_fraud`` marks the frauds whose label terminal risk may count. With
    ``label_delay_ms`` unset every such label counts once its day is in the window (the
    handbook's assumption: all known after ``TERMINAL_DELAY_DAYS``); set, a label counts
    only from ``label_delay_ms`` after its transaction — what the feature store holds when
    a labels feed with that delay applies each label as it arrives. With a delay of at most
    ``TERMINAL_DELAY_DAYS`` the two agree.
    """
    day = batch.epoch_day
    cards = window_sums(entity_codes(batch.card_id), day, card_values(batch), CARD_WINDOWS)
    terminal = entity_codes(batch.terminal_id)
    terminals = window_sums(terminal, day, terminal_values(batch, is_fraud), TERMINAL_WINDOWS)
    if label_delay_ms is not None:
        terminals[:, :, 1] = known_window_sums(
            terminal,
            batch.event_time_ms,
            is_fraud.astype(np.int64),
            TERMINAL_WINDOWS,
            label_delay_ms,
        )
    return cards, terminals


def terminal_risk(terminals: NDArray[np.int64]) -> NDArray[np.float64]:
    """Frauds per transaction of each terminal window, at most 1: live, a terminal's
    transactions can be missing from the store (writes skipped while Redis was down) when
    their chargebacks arrive; offline they never are."""
    return np.minimum(terminals[..., 1] / np.maximum(terminals[..., 0], 1.0), 1.0)


def stateful_features(
    batch: EventBatch, cards: NDArray[np.int64], terminals: NDArray[np.int64]
) -> NDArray[np.float32]:
    """The ``STATEFUL_FEATURES`` matrix from card and terminal aggregates."""
    card_count = cards[:, :, 0].astype(np.float64)
    card_avg = cards[:, :, 1] / 100.0 / np.maximum(card_count, 1.0)
    term_count = terminals[:, :, 0].astype(np.float64)
    term_risk = terminal_risk(terminals)
    amount = batch.amount
    ratios = [amount / np.maximum(card_avg[:, i], 1.0) for i in (1, 2)]
    return np.column_stack([card_count, card_avg, term_count, term_risk, *ratios]).astype(
        np.float32
    )


def handbook_features(
    batch: EventBatch, cards: NDArray[np.int64], terminals: NDArray[np.int64]
) -> NDArray[np.float32]:
    """The handbook's 15 features, in ``HANDBOOK_FEATURES`` order."""
    _, weekend, night = time_of_day(batch.event_time_ms)
    stateful = stateful_features(batch, cards, terminals)[:, :12]
    return np.column_stack([batch.amount.astype(np.float32), weekend, night, stateful])
