"""Review and degraded items as the queue reads them: ReviewItem v1 and v2 records, read with
the v2 reader (a v1 item gets the priority the worker gives today, score x amount).

An item that is not a review item at all is a dead letter (``Rejected``). A
``SchemaRegistryError`` is the registry's problem, not the message's: it propagates, and the
consumer reads the batch again once the registry answers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from confluent_kafka import Message

from worker.codec import EventDecoder, SchemaRegistry, default_schemas_dir, load_schema, unframe
from worker.ladder.decision import expected_loss
from worker.settings import TopicSettings
from worker.sinks.outputs import Rejected
from worker.triage.types import IncomingItem, Kind

# The re-scorer's reader too (``worker.rescore.items``, not imported: its package pulls in
# the models, which the web process has no use for).
REVIEW_ITEM_READER_SCHEMA = "review_item.v2.avsc"
INVALID_ITEM = "invalid_item"


@dataclass(frozen=True)
class DecodedItems:
    items: list[IncomingItem]
    rejected: list[Rejected]


def item_kinds(topics: TopicSettings, include_degraded: bool) -> dict[str, Kind]:
    """The topics the queue reads, and what their items are."""
    kinds = {topics.review: Kind.REVIEW}
    if include_degraded:
        kinds[topics.degraded] = Kind.DEGRADED
    return kinds


class ItemPriority:
    """A review item's priority: its writer's, or — for a v1 writer, which had none — the one
    the worker gives today, score x amount (``expected_loss``). The queue and ``fraud-worker
    review`` both read it here; the registry is asked once per writer schema."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self._with_priority: dict[int, bool] = {}

    def of(self, value: bytes | None, record: dict[str, Any]) -> float:
        """The priority of ``record``, decoded (with the v2 reader) from the framed ``value``."""
        schema_id, _ = unframe(value)
        if self._written_with_priority(schema_id):
            return float(record["priority"])
        score, amount = record["result"]["score"], record["event"]["amount"]
        return float(expected_loss(np.array([score]), np.array([amount]))[0])

    def _written_with_priority(self, schema_id: int) -> bool:
        known = self._with_priority.get(schema_id)
        if known is None:
            writer = self.registry.schema(schema_id)
            fields = writer.get("fields", []) if isinstance(writer, dict) else []
            known = any(field.get("name") == "priority" for field in fields)
            self._with_priority[schema_id] = known
        return known


class ItemDecoder:
    """Framed ReviewItem records of the queue's topics → ``IncomingItem``."""

    def __init__(self, registry: SchemaRegistry, kinds: Mapping[str, Kind]) -> None:
        self.kinds = dict(kinds)
        reader = load_schema(default_schemas_dir() / REVIEW_ITEM_READER_SCHEMA)
        self.decoder = EventDecoder(registry, reader)
        self.priority = ItemPriority(registry)

    def decode(self, messages: list[Message]) -> DecodedItems:
        """The batch's items, and the messages that are not one (each message is either)."""
        records, indices, failures = self.decoder.decode_many([m.value() for m in messages])
        rejected = [Rejected(messages[i], error.code, str(error)) for i, error in failures]
        items: list[IncomingItem] = []
        for index, record in zip(indices, records, strict=True):
            message = messages[index]
            if not record["result"]["transaction_id"]:
                rejected.append(Rejected(message, INVALID_ITEM, "the item has no transaction id"))
                continue
            items.append(self._item(message, record))
        return DecodedItems(items, rejected)

    def _item(self, message: Message, record: dict[str, Any]) -> IncomingItem:
        return IncomingItem(
            kind=self.kinds[str(message.topic())],
            result=record["result"],
            event=record["event"],
            review_reasons=list(record["review_reasons"]),
            priority=self._priority(message.value(), record),
            supersedes=record["supersedes"],
            topic=str(message.topic()),
            partition=int(message.partition() or 0),
            offset=int(message.offset() or 0),
        )

    def _priority(self, value: bytes | None, record: dict[str, Any]) -> float:
        """``ItemPriority``, never NaN or infinite: the queue sorts by it."""
        priority = self.priority.of(value, record)
        return priority if math.isfinite(priority) else 0.0
