"""Kafka messages → an EventBatch (columns, decoded field by field) plus the messages that
could not be decoded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from confluent_kafka import Message
from numpy.typing import NDArray

from worker.codec import DecodeError
from worker.codec.columnar import ColumnarDecoder
from worker.events import EventBatch


@dataclass(frozen=True)
class DecodedBatch:
    """The decodable events, the messages that were not, and everything consumed.

    Event row ``j`` was decoded from ``consumed[event_index[j]]``."""

    events: EventBatch
    undecodable: list[tuple[Message, DecodeError]]
    consumed: list[Message]
    event_index: NDArray[np.intp]

    def messages_of(self, rows: NDArray[np.intp]) -> list[Message]:
        """The consumed messages the given event rows were decoded from."""
        consumed = self.consumed
        return [consumed[i] for i in self.event_index[rows].tolist()]


def decode_messages(consumed: list[Message], decoder: ColumnarDecoder) -> DecodedBatch:
    """Records (client events were dropped by the source) → columns and failures."""
    decoded = decoder.decode_many([m.value() for m in consumed])
    return DecodedBatch(
        events=EventBatch.from_columns(decoded.columns),
        undecodable=[(consumed[i], error) for i, error in decoded.failures],
        consumed=consumed,
        event_index=np.asarray(decoded.indices, dtype=np.intp),
    )
