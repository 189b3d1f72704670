"""Kafka messages → an EventBatch (columns, decoded field by field) plus the messages that
could not be decoded."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message

from worker.codec import DecodeError
from worker.codec.columnar import ColumnarDecoder
from worker.events import EventBatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodedBatch:
    """The decodable events, the messages that were not, and everything consumed."""

    events: EventBatch
    undecodable: list[tuple[Message, DecodeError]]
    consumed: list[Message]


def usable_messages(messages: list[Message]) -> list[Message]:
    """Drop client-side events that are not records (e.g. partition EOF), logging real errors."""
    usable = []
    for message in messages:
        error = message.error()
        if error is None:
            usable.append(message)
        elif error.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error: %s", error)
    return usable


def decode_messages(messages: list[Message], decoder: ColumnarDecoder) -> DecodedBatch:
    consumed = usable_messages(messages)
    decoded = decoder.decode_many([m.value() for m in consumed])
    return DecodedBatch(
        events=EventBatch.from_columns(decoded.columns),
        undecodable=[(consumed[i], error) for i, error in decoded.failures],
        consumed=consumed,
    )
