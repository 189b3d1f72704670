"""Degraded items as the re-scorer reads them, and the review items that supersede them.

A degraded item is a ReviewItem v2 record: ``result`` (the degraded answer), ``event`` (the
transaction as read). What it becomes:

- **expired**: its answer is older than ``max_age_s``; not re-scored;
- **already_reviewed**: its answer already said review or block, so the worker sent it to
  review itself; not re-scored, never sent twice;
- **escalated**: the primary now says review or block: a review item that supersedes it;
- **confirmed**: the primary says allow too; nothing is published;
- **unscorable**: the primary is back but cannot score this one (inputs it cannot use, or
  no valid probability for its own values); nothing is published;
- **undecodable**: not a review item at all; dead-lettered;
- **oversized**: escalated, but its review item would exceed the record size limit;
  dead-lettered (never the case for an item that fitted the degraded topic, in practice).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from confluent_kafka import Message

from worker.codec import EventDecoder
from worker.ladder.decision import expected_loss
from worker.ladder.types import Decision
from worker.sinks.outputs import Rejected

REVIEW_ITEM_READER_SCHEMA = "review_item.v2.avsc"
REVIEWED = frozenset({Decision.REVIEW.value, Decision.BLOCK.value})


class Outcome(StrEnum):
    ESCALATED = "escalated"
    CONFIRMED = "confirmed"
    EXPIRED = "expired"
    ALREADY_REVIEWED = "already_reviewed"
    UNSCORABLE = "unscorable"
    UNDECODABLE = "undecodable"
    OVERSIZED = "oversized"


@dataclass(frozen=True)
class DegradedItem:
    message: Message
    result: dict[str, Any]
    event: dict[str, Any]


@dataclass(frozen=True)
class DecodedItems:
    items: list[DegradedItem]
    rejected: list[Rejected]


def decode_items(messages: list[Message], decoder: EventDecoder) -> DecodedItems:
    """Review items, and the messages that are not one (a ``SchemaRegistryError`` is the
    registry's problem, not the message's: it propagates, and the batch is read again)."""
    records, indices, failures = decoder.decode_many([m.value() for m in messages])
    items = [
        DegradedItem(messages[i], record["result"], record["event"])
        for i, record in zip(indices, records, strict=True)
    ]
    rejected = [Rejected(messages[i], error.code, str(error)) for i, error in failures]
    return DecodedItems(items, rejected)


@dataclass(frozen=True)
class Triage:
    to_score: list[DegradedItem]
    counts: dict[Outcome, int]
    ages_s: list[float]  # of the items to score: how old their degraded answer is


def triage(items: list[DegradedItem], now_ms: int, max_age_s: float) -> Triage:
    """Which items are re-scored: not expired, not already sent to review."""
    oldest_ms = now_ms - max_age_s * 1000
    counts = dict.fromkeys((Outcome.EXPIRED, Outcome.ALREADY_REVIEWED), 0)
    to_score: list[DegradedItem] = []
    for item in items:
        if item.result["scored_at_ms"] < oldest_ms:
            counts[Outcome.EXPIRED] += 1
        elif item.result["decision"] in REVIEWED:
            counts[Outcome.ALREADY_REVIEWED] += 1
        else:
            to_score.append(item)
    ages = [max(0.0, (now_ms - item.result["scored_at_ms"]) / 1000) for item in to_score]
    return Triage(to_score, counts, ages)


def superseding_item(original: DegradedItem, result: dict[str, Any]) -> dict[str, Any]:
    """A ReviewItem v2 whose ``result`` is the primary's re-score and whose ``supersedes``
    names the degraded answer it replaces (same transaction id)."""
    old = original.result
    return {
        "result": result,
        "event": original.event,
        "review_reasons": [f"rescored:{old['source']}", f"decision:{result['decision']}"],
        "priority": float(
            expected_loss(np.array([result["score"]]), np.array([original.event["amount"]]))[0]
        ),
        "supersedes": {
            "source": old["source"],
            "score": old["score"],
            "decision": old["decision"],
            "scored_at_ms": old["scored_at_ms"],
        },
    }
