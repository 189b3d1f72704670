"""One batch of degraded items → what to publish, or ``NotBack`` when the primary did not
answer (then nothing is published and the batch is tried again)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from worker.codec import EventDecoder, RecordEncoder
from worker.events import EventBatch
from worker.rescore.items import (
    REVIEWED,
    DecodedItems,
    DegradedItem,
    Outcome,
    superseding_item,
    triage,
)
from worker.rescore.scoring import NotBack, Rescored, Rescorer
from worker.settings import Settings
from worker.sinks.outputs import (
    RECORD_OVERHEAD_BYTES,
    Limits,
    Rejected,
    TopicOutputs,
    dead_letter_outputs,
)


@dataclass(frozen=True)
class Codecs:
    items: EventDecoder  # ReviewItem v2, the degraded topic's records
    review: RecordEncoder
    dead_letter: RecordEncoder


@dataclass(frozen=True)
class Plan:
    outputs: list[TopicOutputs]
    counts: Counter[Outcome]
    ages_s: list[float]
    dead_letters: list[Rejected]


@dataclass
class Escalations:
    keys: list[bytes | None]
    values: list[bytes]
    counts: Counter[Outcome]
    oversized: list[Rejected]


def plan_batch(
    decoded: DecodedItems,
    rescorer: Rescorer,
    settings: Settings,
    codecs: Codecs,
    limits: Limits,
    now_ms: int,
) -> Plan | NotBack:
    triaged = triage(decoded.items, now_ms, settings.rescore.max_age_s)
    counts: Counter[Outcome] = Counter(triaged.counts)
    counts[Outcome.UNDECODABLE] = len(decoded.rejected)
    found = Escalations([], [], Counter(), [])
    if triaged.to_score:
        events = EventBatch.from_records([item.event for item in triaged.to_score])
        answer = rescorer.score(events)
        if isinstance(answer, NotBack):
            return answer
        found = escalations(triaged.to_score, answer, codecs.review, limits, now_ms)
    counts.update(found.counts)
    rejected = [*decoded.rejected, *found.oversized]
    topics = settings.topics
    dead_letters = dead_letter_outputs(rejected, topics.dead_letter, codecs.dead_letter, limits)
    review = TopicOutputs(topics.review, found.keys, found.values)
    return Plan([dead_letters, review], counts, triaged.ages_s, rejected)


def escalations(
    items: list[DegradedItem],
    answer: Rescored,
    encoder: RecordEncoder,
    limits: Limits,
    now_ms: int,
) -> Escalations:
    """Superseding review items for the re-scores that say review or block."""
    rows = np.flatnonzero(answer.answered)
    found = Escalations([], [], Counter({Outcome.UNSCORABLE: len(items) - len(rows)}), [])
    for row, result in zip(rows.tolist(), answer.scored.records(now_ms, rows), strict=True):
        if result["decision"] not in REVIEWED:
            found.counts[Outcome.CONFIRMED] += 1
            continue
        key = str(result["card_id"]).encode()  # keyed by card, as the worker's review items
        value = encoder.encode(superseding_item(items[row], result))
        if len(key) + len(value) + RECORD_OVERHEAD_BYTES > limits.max_message_bytes:
            found.oversized.append(_oversized(items[row], limits.max_message_bytes))
            found.counts[Outcome.OVERSIZED] += 1
            continue
        found.keys.append(key)
        found.values.append(value)
        found.counts[Outcome.ESCALATED] += 1
    return found


def _oversized(item: DegradedItem, max_bytes: int) -> Rejected:
    error = f"the superseding review item would exceed {max_bytes} bytes: not sent"
    return Rejected(item.message, "oversized_result", error)
