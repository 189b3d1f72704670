"""Scored results and labels as columns: the last result per transaction, the join with what
is known to be fraud, a range of event days."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from worker.events import MS_PER_DAY
from worker.ids import id_words, is_in
from worker.ladder.types import DECISIONS, SOURCES

SOURCE_NAMES: tuple[str, ...] = tuple(source.value for source in SOURCES)
DECISION_NAMES: tuple[str, ...] = tuple(decision.value for decision in DECISIONS)
LABEL_OUTCOMES = ("fraud", "legitimate")
REVIEW = DECISION_NAMES.index("review")
BLOCK = DECISION_NAMES.index("block")

# What the decoders read of each topic (see ``worker.quality.decode``).
RESULT_FIELDS: dict[str, str | tuple[str, ...]] = {
    "transaction_id": "string",
    "card_id": "string",
    "event_time_ms": "long",
    "score": "double",
    "decision": DECISION_NAMES,
    "source": SOURCE_NAMES,
}
LABEL_FIELDS: dict[str, str | tuple[str, ...]] = {
    "transaction_id": "string",
    "event_time_ms": "long",
    "outcome": LABEL_OUTCOMES,
}


@dataclass(frozen=True)
class Results:
    """Results of one topic in the order they were read (a later row is a later delivery).
    Ids are UTF-8 bytes; ``decision`` and ``source`` are codes into DECISION_NAMES and
    SOURCE_NAMES."""

    transaction_id: NDArray[np.bytes_]
    card_id: NDArray[np.bytes_]
    event_time_ms: NDArray[np.int64]
    score: NDArray[np.float64]
    decision: NDArray[np.int8]
    source: NDArray[np.int8]

    def __len__(self) -> int:
        return len(self.transaction_id)

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> Results:
        """From decoded columns, or plain sequences (ids as str or bytes, codes as ints)."""
        return cls(
            transaction_id=as_id_bytes(columns["transaction_id"]),
            card_id=as_id_bytes(columns["card_id"]),
            event_time_ms=np.asarray(columns["event_time_ms"], dtype=np.int64),
            score=np.asarray(columns["score"], dtype=np.float64),
            decision=np.asarray(columns["decision"], dtype=np.int8),
            source=np.asarray(columns["source"], dtype=np.int8),
        )

    @classmethod
    def empty(cls) -> Results:
        return cls(
            np.empty(0, "S1"),
            np.empty(0, "S1"),
            np.empty(0, np.int64),
            np.empty(0, np.float64),
            np.empty(0, np.int8),
            np.empty(0, np.int8),
        )

    def take(self, rows: NDArray[Any]) -> Results:
        return Results(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def last_per_transaction(self, per_source: bool = False) -> Results:
        """The last result of each transaction (of each (transaction, source) pair when
        ``per_source``: the shadow topic holds one result per shadowing level). A redelivered
        event counts once; the later delivery wins."""
        return self.take(last_rows(self.transaction_id, self.source if per_source else None))

    def in_days(self, first_day: int | None, last_day: int | None) -> Results:
        """Only the results whose event day (UTC days since the epoch) is in the range."""
        day = self.event_time_ms // MS_PER_DAY
        keep = np.ones(len(self), dtype=np.bool_)
        if first_day is not None:
            keep &= day >= first_day
        if last_day is not None:
            keep &= day <= last_day
        return self if keep.all() else self.take(keep)


def as_id_bytes(values: Any) -> NDArray[np.bytes_]:
    """Ids as UTF-8 fixed-width bytes, whether given as bytes or as str."""
    array = np.asarray(values)
    if array.dtype.kind == "S":
        return array.reshape(-1)
    if len(array) == 0:
        return np.empty(0, dtype="S1")
    return np.asarray(np.char.encode(array.astype(str), "utf-8")).reshape(-1)


def last_rows(ids: NDArray[np.bytes_], sub_keys: NDArray[Any] | None = None) -> NDArray[np.intp]:
    """Rows holding the last occurrence of each id (or (id, sub key) pair), in row order."""
    if len(ids) == 0:
        return np.empty(0, dtype=np.intp)
    keys: list[NDArray[Any]] = id_words(ids)
    return last_of_groups([*keys, sub_keys] if sub_keys is not None else keys)


def last_of_groups(keys: list[NDArray[Any]]) -> NDArray[np.intp]:
    """Rows holding the last occurrence of each combination of ``keys`` (equal-length
    columns, most significant first), in row order."""
    n = len(keys[0])
    if n == 0:
        return np.empty(0, dtype=np.intp)
    # lexsort's last key sorts first: by the keys, then by row, so a group's last is last
    order = np.lexsort([np.arange(n), *keys[::-1]])
    differs = np.zeros(n, dtype=np.bool_)
    differs[-1] = True
    for column in keys:
        ordered = column[order]
        differs[:-1] |= ordered[1:] != ordered[:-1]
    return np.sort(order[differs])


def fraud_ids(transaction_id: NDArray[np.bytes_], outcome: NDArray[np.int8]) -> NDArray[np.bytes_]:
    """The transactions that a fraud label names (unique). A transaction is fraud if any
    label says so: a later "legitimate" does not undo a chargeback."""
    return np.unique(transaction_id[outcome == LABEL_OUTCOMES.index("fraud")])


def is_fraud(transaction_id: NDArray[np.bytes_], frauds: NDArray[np.bytes_]) -> NDArray[np.bool_]:
    """Whether each transaction is among ``frauds`` (unlabelled = legitimate)."""
    return is_in(transaction_id, frauds)
