"""The simulator's chargeback feed: which frauds get reported, and when.

One definition serves the stream (``fraud-worker simulate`` publishes these labels to the
labels topic, in simulated time among the events) and training (terminal risk computed from
the labels as this feed delivers them), so what the model learned from is what it is served.

A fraud is reported with probability ``coverage`` (drawn from the seed and the
transaction's position, so the same seed reports the same frauds), ``delay_days`` of
simulated time after it happened: the issuer's chargeback. Genuine transactions get no label
(unlabelled counts as legitimate, as in the handbook).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from worker.events import MS_PER_DAY
from worker.simulator.model import Transactions

__all__ = ["ChargebackConfig", "LabelFeed", "chargebacks", "label_records"]

# Mixed into the seed: the reported subset never correlates with other draws of the run.
_FEED_STREAM = 0x1ABE1


@dataclass(frozen=True)
class ChargebackConfig:
    """How frauds are reported: ``delay_days`` after the transaction (the handbook's 7), for
    a share ``coverage`` of them (the rest are never reported)."""

    delay_days: float = 7.0
    coverage: float = 0.9

    def __post_init__(self) -> None:
        if not (np.isfinite(self.delay_days) and self.delay_days >= 0):
            raise ValueError(f"delay_days must be a finite number >= 0, got {self.delay_days!r}")
        if not 0.0 <= self.coverage <= 1.0:
            raise ValueError(f"coverage must be in [0, 1], got {self.coverage!r}")

    @property
    def delay_ms(self) -> int:
        return round(self.delay_days * MS_PER_DAY)


@dataclass(frozen=True)
class LabelFeed:
    """The reported frauds: their rows in the transactions, in order of ``known_at_ms``
    (event order: the delay is the same for all), and when each becomes known."""

    rows: NDArray[np.intp]
    known_at_ms: NDArray[np.int64]
    config: ChargebackConfig

    def __len__(self) -> int:
        return len(self.rows)

    def reported(self, n: int) -> NDArray[np.bool_]:
        """A mask over ``n`` transactions: reported frauds."""
        mask = np.zeros(n, dtype=np.bool_)
        mask[self.rows] = True
        return mask

    def known_at(self, n: int) -> NDArray[np.int64]:
        """Per transaction, when its fraud label becomes known; int64 max when never."""
        known = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        known[self.rows] = self.known_at_ms
        return known


def chargebacks(transactions: Transactions, seed: int, config: ChargebackConfig) -> LabelFeed:
    """The chargebacks of a simulated history (``seed``: the simulation's)."""
    draws = np.random.default_rng([seed, _FEED_STREAM]).random(len(transactions))
    rows = np.flatnonzero(transactions.labels.is_fraud & (draws < config.coverage))
    known = transactions.event_time_ms[rows] + config.delay_ms
    order = np.argsort(known, kind="stable")
    return LabelFeed(rows[order].astype(np.intp), known[order].astype(np.int64), config)


def label_records(
    transactions: Transactions, feed: LabelFeed, start: int = 0, stop: int | None = None
) -> list[dict[str, Any]]:
    """Label records (``schemas/label.v1.avsc``) of the feed's entries ``start:stop``."""
    rows = feed.rows[start:stop]
    columns = zip(
        transactions.transaction_id[rows].tolist(),
        transactions.card_id[rows].tolist(),
        transactions.terminal_id[rows].tolist(),
        transactions.event_time_ms[rows].tolist(),
        feed.known_at_ms[start:stop].tolist(),
        strict=True,
    )
    return [
        {
            "transaction_id": tx,
            "card_id": card,
            "terminal_id": terminal,
            "event_time_ms": time_ms,
            "outcome": "fraud",
            "label_source": "chargeback",
            "known_at_ms": known,
            "decided_by": "issuer",
            "note": None,
        }
        for tx, card, terminal, time_ms, known in columns
    ]
