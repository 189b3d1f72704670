"""The batch of events that flows through the scoring ladder: numpy columns, not dicts.

Decoding turns records into columns once per batch; every later stage works on whole columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

MS_PER_DAY = 86_400_000

# The fields of the transaction event, in schema order. Labels are never among them.
EVENT_FIELDS: tuple[str, ...] = (
    "transaction_id",
    "event_time_ms",
    "card_id",
    "terminal_id",
    "amount",
    "currency",
    "merchant_category",
    "channel",
    "country",
    "is_international",
    "has_international_history",
    "account_age_days",
    "entry_mode",
    "cardholder_verified",
)

_DTYPES: dict[str, type[Any]] = {
    "transaction_id": object,
    "event_time_ms": np.int64,
    "card_id": object,
    "terminal_id": object,
    "amount": np.float64,
    "currency": object,
    "merchant_category": object,
    "channel": object,
    "country": object,
    "is_international": np.bool_,
    "has_international_history": np.bool_,
    "account_age_days": np.int32,
    "entry_mode": object,
    "cardholder_verified": np.bool_,
}


@dataclass(frozen=True, eq=False)
class EventBatch:
    """Equal-length columns of one batch of transaction events."""

    transaction_id: NDArray[np.object_]
    event_time_ms: NDArray[np.int64]
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

    def __len__(self) -> int:
        return len(self.event_time_ms)

    @property
    def epoch_day(self) -> NDArray[np.int64]:
        """UTC day number of each event: the bucket of the feature store's windows."""
        return self.event_time_ms // MS_PER_DAY

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> EventBatch:
        """Build from any mapping or object with the event columns (e.g. simulated data)."""
        return cls(
            **{name: np.asarray(columns[name], dtype=_DTYPES[name]) for name in EVENT_FIELDS}
        )

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]]) -> EventBatch:
        """Build from decoded event records (one pass per column)."""
        return cls(
            **{
                name: np.fromiter(
                    (r[name] for r in records), dtype=_DTYPES[name], count=len(records)
                )
                for name in EVENT_FIELDS
            }
        )

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> EventBatch:
        """The rows at ``index``."""
        return EventBatch(**{name: getattr(self, name)[index] for name in EVENT_FIELDS})

    def records(self) -> list[dict[str, Any]]:
        """Back to records (native Python values), e.g. to encode or to show."""
        lists = [getattr(self, name).tolist() for name in EVENT_FIELDS]
        return [dict(zip(EVENT_FIELDS, row, strict=True)) for row in zip(*lists, strict=True)]
