"""Which record goes to which topic.

Every valid event → one scored result (key = card id, so a card's results keep their order).
Degraded, flagged, review and block results → also a review item. Undecodable input → a
dead letter with the raw bytes, the error and where it came from, also as headers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from confluent_kafka import Message

from worker.codec import DecodeError, RecordEncoder
from worker.ladder.types import ScoredBatch
from worker.settings import TopicSettings
from worker.source.decode import DecodedBatch


@dataclass(frozen=True)
class OutputRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, str | bytes | None]] | None = None


@dataclass(frozen=True)
class Encoders:
    scored: RecordEncoder
    review: RecordEncoder
    dead_letter: RecordEncoder


def review_reasons(result: dict[str, Any]) -> list[str]:
    """Why an analyst should look: degradation, input problems, the decision."""
    reasons = [f"degraded:{dep}" for dep in result["failed_dependencies"]]
    if result["degraded"] and not reasons:
        reasons.append(f"degraded:{result['source']}")
    reasons += [f"input:{flag}" for flag in result["input_flags"]]
    if result["decision"] != "allow":
        reasons.append(f"decision:{result['decision']}")
    return reasons


def result_outputs(
    decoded: DecodedBatch, scored: ScoredBatch, topics: TopicSettings, encoders: Encoders
) -> tuple[list[OutputRecord], int]:
    """Scored results for every event, review items for those that need review."""
    now_ms = int(time.time() * 1000)
    results = scored.records(now_ms)
    keys = [card.encode() for card in scored.batch.card_id.tolist()]
    values = encoders.scored.encode_many(results)
    outputs = [OutputRecord(topics.scored, k, v) for k, v in zip(keys, values, strict=True)]
    review_rows = np.flatnonzero(scored.needs_review()).tolist()
    items = [
        {
            "result": results[i],
            "event": decoded.records[i],
            "review_reasons": review_reasons(results[i]),
        }
        for i in review_rows
    ]
    review_values = encoders.review.encode_many(items)
    outputs += [
        OutputRecord(topics.review, keys[i], v)
        for i, v in zip(review_rows, review_values, strict=True)
    ]
    return outputs, len(review_rows)


def dead_letter_outputs(
    decoded: DecodedBatch, topics: TopicSettings, encoder: RecordEncoder
) -> list[OutputRecord]:
    now_ms = int(time.time() * 1000)
    outputs = []
    for message, error in decoded.undecodable:
        record = dead_letter_record(message, error, now_ms)
        headers: list[tuple[str, str | bytes | None]] = [
            ("error_code", error.code.encode()),
            ("error", str(error).encode()),
            ("source_topic", str(message.topic()).encode()),
            ("source_partition", str(message.partition()).encode()),
            ("source_offset", str(message.offset()).encode()),
        ]
        value = encoder.encode(record)
        outputs.append(OutputRecord(topics.dead_letter, message.key(), value, headers))
    return outputs


def dead_letter_record(message: Message, error: DecodeError, now_ms: int) -> dict[str, Any]:
    return {
        "raw_value": message.value() or b"",
        "raw_key": message.key(),
        "error_code": error.code,
        "error": str(error),
        "source_topic": message.topic(),
        "source_partition": message.partition(),
        "source_offset": message.offset(),
        "failed_at_ms": now_ms,
    }
