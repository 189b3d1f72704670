"""Column-oriented containers for simulated transactions and their labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from worker.events import EVENT_FIELDS

__all__ = ["EVENT_FIELDS", "LABEL_COLUMNS", "TRANSACTION_COLUMNS", "Labels", "Transactions"]

# Keys of the event records the worker consumes, in order (no labels among them): the
# event schema is the worker's, the simulator produces it.

# Every column of Transactions (labels excluded), in declaration order, with its dtype.
TRANSACTION_COLUMNS: dict[str, np.dtype[Any]] = {
    "transaction_id": np.dtype(object),
    "event_time_ms": np.dtype(np.int64),
    "day": np.dtype(np.int32),
    "customer_idx": np.dtype(np.int32),
    "terminal_idx": np.dtype(np.int32),
    "card_id": np.dtype(object),
    "terminal_id": np.dtype(object),
    "amount": np.dtype(np.float64),
    "currency": np.dtype(object),
    "merchant_category": np.dtype(object),
    "channel": np.dtype(object),
    "country": np.dtype(object),
    "is_international": np.dtype(np.bool_),
    "has_international_history": np.dtype(np.bool_),
    "account_age_days": np.dtype(np.int32),
    "entry_mode": np.dtype(object),
    "cardholder_verified": np.dtype(np.bool_),
}
LABEL_COLUMNS: dict[str, np.dtype[Any]] = {
    "is_fraud": np.dtype(np.bool_),
    "fraud_scenario": np.dtype(np.int8),
}

Index = NDArray[np.bool_] | NDArray[np.integer[Any]] | slice


def _check_columns(owner: object, spec: dict[str, np.dtype[Any]]) -> int:
    """Check dtypes and equal lengths of ``owner``'s 1-d columns; return the length."""
    length: int | None = None
    for name, dtype in spec.items():
        column = getattr(owner, name)
        if not isinstance(column, np.ndarray) or column.ndim != 1:
            raise ValueError(f"{name} must be a 1-d numpy array")
        if column.dtype != dtype:
            raise ValueError(f"{name} must have dtype {dtype}, got {column.dtype}")
        if length is None:
            length = len(column)
        elif len(column) != length:
            raise ValueError(f"{name} has length {len(column)}, expected {length}")
    return length or 0


def _columns_equal(a: NDArray[Any], b: NDArray[Any]) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))


@dataclass(frozen=True, eq=False)
class Labels:
    """Ground truth, kept apart from the events: ``fraud_scenario`` is 0 (genuine),
    1 (amount above threshold), 2 (compromised terminal) or 3 (compromised card)."""

    is_fraud: NDArray[np.bool_]
    fraud_scenario: NDArray[np.int8]

    def __post_init__(self) -> None:
        _check_columns(self, LABEL_COLUMNS)

    def __len__(self) -> int:
        return len(self.is_fraud)

    def slice(self, index: Index) -> Labels:
        """The labels at ``index`` (boolean mask, integer indices or a slice)."""
        return Labels(is_fraud=self.is_fraud[index], fraud_scenario=self.fraud_scenario[index])

    def equals(self, other: Labels) -> bool:
        """Column-wise exact equality."""
        return all(
            _columns_equal(getattr(self, name), getattr(other, name)) for name in LABEL_COLUMNS
        )


@dataclass(frozen=True, eq=False)
class Transactions:
    """Equal-length numpy columns, one row per transaction, sorted by ``event_time_ms``.

    ``day`` is the day index from the start date, ``customer_idx`` / ``terminal_idx`` index
    the simulated profiles. ``amount`` is the EUR-equivalent amount, rounded to cents;
    ``currency`` is the currency the transaction was made in. ``account_age_days`` is the
    number of whole days between the account open date and the transaction day.
    ``entry_mode`` is how the card data was read (``worker.simulator.catalog.ENTRY_MODES``)
    and ``cardholder_verified`` whether the cardholder was verified (PIN, 3-D Secure).
    """

    transaction_id: NDArray[np.object_]
    event_time_ms: NDArray[np.int64]
    day: NDArray[np.int32]
    customer_idx: NDArray[np.int32]
    terminal_idx: NDArray[np.int32]
    card_id: NDArray[np.object_]
    terminal_id: NDArray[np.object_]
    amount: NDArray[np.float64]
    currency: NDArray[np.object_]
    merchant_category: NDArray[np.object_]
    channel: NDArray[np.object_]
    country: NDArray[np.object_]
    is_international: NDArray[np.bool_]
    has_international_history: NDArray[np.bool_]
    account_age_days: NDArray[np.int32]
    entry_mode: NDArray[np.object_]
    cardholder_verified: NDArray[np.bool_]
    labels: Labels

    def __post_init__(self) -> None:
        length = _check_columns(self, TRANSACTION_COLUMNS)
        if len(self.labels) != length:
            raise ValueError(f"labels have length {len(self.labels)}, expected {length}")

    def __len__(self) -> int:
        return len(self.event_time_ms)

    def columns(self) -> dict[str, NDArray[Any]]:
        """The non-label columns by name, in declaration order."""
        return {name: getattr(self, name) for name in TRANSACTION_COLUMNS}

    def slice(self, index: Index) -> Transactions:
        """The rows at ``index`` (boolean mask, integer indices or a slice), labels included."""
        picked = {name: column[index] for name, column in self.columns().items()}
        return Transactions(**picked, labels=self.labels.slice(index))

    def event_dicts(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """Event records for rows ``start:stop`` with the keys of ``EVENT_FIELDS``.

        Values are native Python types (str, int, float, bool); labels are never included.
        """
        lists = [getattr(self, name)[start:stop].tolist() for name in EVENT_FIELDS]
        return [dict(zip(EVENT_FIELDS, row, strict=True)) for row in zip(*lists, strict=True)]

    def equals(self, other: Transactions) -> bool:
        """Column-wise exact equality, labels included."""
        same = all(
            _columns_equal(column, getattr(other, name)) for name, column in self.columns().items()
        )
        return same and self.labels.equals(other.labels)
