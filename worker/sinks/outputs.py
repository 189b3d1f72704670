"""Which record goes to which topic.

- Every valid event → one scored result (key = card id, so a card's results keep their order).
- A result a human should look at — decided review or block (by the thresholds or a
  decisive rule), or a flagged input — → also a review item (``topics.review``).
- A degraded result (fallback, rules, safe default) that no human needs to see now → a
  review item of the same schema on ``topics.degraded`` instead, kept apart from the review
  queue, for the re-scorer to score again with the primary once it is back.
- Shadow results (``worker.ladder.shadow``) → ``topics.shadow``, as scored results.
- Undecodable input → a dead letter with the raw bytes, the error and where it came from,
  also as headers.

Every item (review or degraded) carries ``priority``: the expected loss, score * amount.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from confluent_kafka import Message
from numpy.typing import NDArray

from worker.codec import RecordEncoder
from worker.codec.columnar import ColumnarEncoder, Encoded
from worker.ladder.decision import expected_loss
from worker.ladder.types import SOURCES, ScoredBatch, ShadowResults
from worker.settings import TopicSettings
from worker.source.decode import DecodedBatch

log = logging.getLogger(__name__)

Headers = list[tuple[str, str | bytes | None]]


@dataclass(frozen=True)
class TopicOutputs:
    """Records for one topic as parallel lists: no object per record on the hot path."""

    topic: str
    keys: list[bytes | None]
    values: list[bytes]
    headers: list[Headers] | None = None

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Encoders:
    scored: ColumnarEncoder
    review: RecordEncoder  # review items, for the review topic
    dead_letter: RecordEncoder
    degraded: RecordEncoder  # review items too, for the degraded topic
    shadow: ColumnarEncoder  # scored results, for the shadow topic


def review_reasons(result: dict[str, Any], decisive: list[str] | None = None) -> list[str]:
    """Why an analyst should look: degradation, input problems, decisive rules that matched
    (``decisive``: their reason codes), the decision."""
    reasons = [f"degraded:{dep}" for dep in result["failed_dependencies"]]
    if result["degraded"] and not reasons:
        reasons.append(f"degraded:{result['source']}")
    reasons += [f"input:{flag}" for flag in result["input_flags"]]
    reasons += [f"rule:{code}" for code in decisive or ()]
    if result["decision"] != "allow":
        reasons.append(f"decision:{result['decision']}")
    return reasons


@dataclass(frozen=True)
class Rejected:
    """An input answered by a dead letter instead of a result, and why."""

    message: Message
    code: str
    error: str


@dataclass(frozen=True)
class Limits:
    """Size limits of what the worker produces (``WorkerSettings``)."""

    max_message_bytes: int = 1_000_000
    dead_letter_raw_max_bytes: int = 65_536

    def within(self, topic_limit: int) -> Limits:
        """These limits, lowered to fit a topic whose records may be at most
        ``topic_limit`` bytes (a dead letter keeps at most a quarter of it raw)."""
        largest = min(self.max_message_bytes, topic_limit)
        raw = min(self.dead_letter_raw_max_bytes, largest // 4)
        return Limits(largest, raw)


# Room left in each record for headers and the client's per-record overhead.
RECORD_OVERHEAD_BYTES = 1_024


@dataclass(frozen=True)
class BatchOutputs:
    """Everything a batch produces, by topic, and what it counted."""

    outputs: list[TopicOutputs]
    review: int
    dead_letters: list[Rejected]
    # Degraded answers kept apart (the degraded topic), by answering level.
    degraded: dict[str, int] = field(default_factory=dict)
    # Shadow results published, by shadow level; what kept shadow scoring from answering.
    shadow: dict[str, int] = field(default_factory=dict)
    shadow_failures: tuple[str, ...] = ()


# A review item whose event does not fit is sent with the event's text fields cut to this.
REVIEW_TEXT_MAX_CHARS = 1_024
TRIMMED_REASON = "input:trimmed_for_review"


def batch_outputs(
    decoded: DecodedBatch,
    scored: ScoredBatch | None,
    topics: TopicSettings,
    encoders: Encoders,
    limits: Limits,
) -> BatchOutputs:
    """One answer per input: a scored result (plus a review or a degraded item when it needs
    one), or a dead letter — for undecodable input, and for an event whose result would not
    fit the size limit (an oversized record must never stop the worker). An item that would
    not fit goes with the event's long text fields cut, and says so."""
    rejected = [Rejected(message, error.code, str(error)) for message, error in decoded.undecodable]
    if scored is None or not len(scored):
        dead_letters = dead_letter_outputs(
            rejected, topics.dead_letter, encoders.dead_letter, limits
        )
        return BatchOutputs([dead_letters], 0, rejected)
    now_ms = int(time.time() * 1000)
    max_bytes = limits.max_message_bytes
    keys: list[bytes | None] = [card.encode() for card in scored.batch.card_id.tolist()]
    results = scored_outputs(scored, keys, topics.scored, encoders.scored, now_ms)
    fits = _record_sizes(results) <= max_bytes
    review, _ = item_outputs(
        scored, np.flatnonzero(scored.needs_review() & fits), keys, topics.review,
        encoders.review, now_ms, max_bytes,
    )  # fmt: skip
    apart, apart_rows = item_outputs(
        scored, np.flatnonzero(scored.kept_apart() & fits), keys, topics.degraded,
        encoders.degraded, now_ms, max_bytes,
    )  # fmt: skip
    if not fits.all():
        results = _rows(results, np.flatnonzero(fits))
        rejected += _oversized(decoded, np.flatnonzero(~fits), max_bytes)
    shadow, shadow_counts, shadow_failures = shadow_outputs(
        scored.shadow, topics.shadow, encoders.shadow, now_ms, max_bytes
    )
    dead_letters = dead_letter_outputs(rejected, topics.dead_letter, encoders.dead_letter, limits)
    outputs = [dead_letters, results, *(o for o in (review, apart, shadow) if o is not None)]
    return BatchOutputs(
        outputs,
        len(review) if review is not None else 0,
        rejected,
        degraded=_by_source(scored.source[apart_rows]),
        shadow=shadow_counts,
        shadow_failures=shadow_failures,
    )


def scored_outputs(
    scored: ScoredBatch,
    keys: list[bytes | None],
    topic: str,
    encoder: ColumnarEncoder,
    now_ms: int,
) -> TopicOutputs:
    """Scored results of every row, encoded from the columns."""
    columns = result_columns(scored, keys, now_ms, encoder)
    return TopicOutputs(topic, keys, encoder.encode_columns(columns, len(keys)))


def item_outputs(
    scored: ScoredBatch,
    rows: NDArray[np.intp],
    keys: list[bytes | None],
    topic: str,
    encoder: RecordEncoder,
    now_ms: int,
    max_bytes: int,
) -> tuple[TopicOutputs | None, NDArray[np.intp]]:
    """Review items of ``rows`` for ``topic`` (records, through fastavro: they are few), cut
    to fit, and the rows whose item is sent."""
    if len(rows) == 0:
        return None, rows
    item_keys = [keys[i] for i in rows.tolist()]
    items = TopicOutputs(topic, item_keys, review_values(scored, rows, encoder, now_ms))
    return _fit_items(scored, rows, items, encoder, now_ms, max_bytes)


def review_values(
    scored: ScoredBatch,
    rows: NDArray[np.intp],
    encoder: RecordEncoder,
    now_ms: int,
    trim_chars: int | None = None,
) -> list[bytes]:
    """Encoded review items of ``rows``: result, original event, why to look, priority."""
    records = scored.records(now_ms, rows)
    events = scored.batch.take(rows).records()
    decisive = scored.decisive_reasons(rows)
    priority = expected_loss(scored.score[rows], scored.batch.amount[rows]).tolist()
    extra = []
    if trim_chars is not None:
        events = [_trimmed(event, trim_chars) for event in events]
        extra = [TRIMMED_REASON]
    items = [
        {
            "result": result,
            "event": event,
            "review_reasons": [*review_reasons(result, rules), *extra],
            "priority": loss,
            "supersedes": None,
        }
        for result, event, rules, loss in zip(records, events, decisive, priority, strict=True)
    ]
    return encoder.encode_many(items)


def _by_source(sources: NDArray[np.int8]) -> dict[str, int]:
    counts = np.bincount(sources.astype(np.intp), minlength=len(SOURCES))
    return {SOURCES[i].value: int(counts[i]) for i in np.flatnonzero(counts).tolist()}


def shadow_outputs(
    shadow: ShadowResults | None, topic: str, encoder: ColumnarEncoder, now_ms: int, max_bytes: int
) -> tuple[TopicOutputs | None, dict[str, int], tuple[str, ...]]:
    """Shadow results as scored-result records, by shadow level, and what failed. One that
    would not fit is left out (it is a shadow: its event's real result decides)."""
    if shadow is None:
        return None, {}, ()
    if shadow.scored is None or not len(shadow.scored):
        return None, {}, shadow.failures
    scored = shadow.scored
    try:
        keys: list[bytes | None] = [card.encode() for card in scored.batch.card_id.tolist()]
        outputs = scored_outputs(scored, keys, topic, encoder, now_ms)
    except Exception:  # a shadow never fails the batch
        log.exception("shadow results could not be encoded; left out")
        return None, {}, (*shadow.failures, "shadow:encode_error")
    fits = _record_sizes(outputs) <= max_bytes
    if not fits.all():
        log.warning("%d shadow results left out: too large", int((~fits).sum()))
        outputs = _rows(outputs, np.flatnonzero(fits))
    return outputs, _by_source(scored.source[fits]), shadow.failures


def _trimmed(event: dict[str, Any], chars: int) -> dict[str, Any]:
    return {k: v[:chars] if isinstance(v, str) else v for k, v in event.items()}


def _record_sizes(outputs: TopicOutputs) -> NDArray[np.int64]:
    """Bytes per record of result or review outputs (keyed by card id: never None)."""
    keys = cast(list[bytes], outputs.keys)
    values = np.fromiter(map(len, outputs.values), dtype=np.int64, count=len(outputs))
    return values + np.fromiter(map(len, keys), np.int64, len(outputs)) + RECORD_OVERHEAD_BYTES


def _rows(outputs: TopicOutputs, rows: NDArray[np.intp]) -> TopicOutputs:
    """The records at ``rows`` (rare: only a batch with an oversized row pays)."""
    picked = rows.tolist()
    return TopicOutputs(
        outputs.topic, [outputs.keys[i] for i in picked], [outputs.values[i] for i in picked]
    )


def _fit_items(
    scored: ScoredBatch,
    rows: NDArray[np.intp],
    items: TopicOutputs,
    encoder: RecordEncoder,
    now_ms: int,
    max_bytes: int,
) -> tuple[TopicOutputs, NDArray[np.intp]]:
    """The items of ``rows`` that fit, and their rows: one too large is sent again with the
    event's text fields cut, and one that still does not fit is left out (logged)."""
    fits = _record_sizes(items) <= max_bytes
    if fits.all():
        return items, rows
    redo = np.flatnonzero(~fits)
    values = list(items.values)
    trimmed_values = review_values(scored, rows[redo], encoder, now_ms, REVIEW_TEXT_MAX_CHARS)
    for i, value in zip(redo.tolist(), trimmed_values, strict=True):
        values[i] = value
    trimmed = TopicOutputs(items.topic, items.keys, values)
    keep = np.flatnonzero(_record_sizes(trimmed) <= max_bytes)
    if len(keep) < len(rows):
        log.warning(
            "%d items for %s left out: too large even trimmed", len(rows) - len(keep), items.topic
        )
    return _rows(trimmed, keep), rows[keep]


def _oversized(decoded: DecodedBatch, rows: NDArray[np.intp], max_bytes: int) -> list[Rejected]:
    error = (
        f"the event's result would exceed {max_bytes} bytes "
        "(FRAUD_WORKER__MAX_MESSAGE_BYTES; a field of the event is far too long): not scored"
    )
    return [Rejected(message, "oversized_result", error) for message in decoded.messages_of(rows)]


def distinct_rows(
    matches: NDArray[np.bool_],
) -> tuple[NDArray[np.bool_], NDArray[np.intp]]:
    """``np.unique(matches, axis=0, return_inverse=True)``, several times faster: each row's
    bits packed into one integer first (rule sets have far fewer than 63 rules)."""
    rules = matches.shape[1]
    if rules > 62:
        return np.unique(matches, axis=0, return_inverse=True)
    weights = np.left_shift(1, np.arange(rules, dtype=np.int64))
    packed, inverse = np.unique(matches.astype(np.int64) @ weights, return_inverse=True)
    distinct = ((packed[:, None] >> np.arange(rules)) & 1).astype(np.bool_)
    return distinct, inverse.reshape(-1)


def result_columns(
    scored: ScoredBatch, card_keys: list[bytes | None], now_ms: int, encoder: ColumnarEncoder
) -> dict[str, Any]:
    """The scored-result schema's fields as columns of the batch. Fields with few distinct
    values per batch (rule reasons, tags, the model version) are encoded once per value."""
    n = len(scored)
    reasons, reason_rows = distinct_rows(scored.rule_matches)
    failures, failure_rows = np.unique(scored.failures, return_inverse=True)
    flags, flag_rows = np.unique(scored.flags, return_inverse=True)
    names = scored.tags.names
    return {
        "transaction_id": scored.batch.transaction_id.tolist(),
        "card_id": card_keys,
        "event_time_ms": scored.batch.event_time_ms,
        "score": scored.score,
        "decision": scored.decision,
        "source": scored.source,
        "model_version": Encoded(
            np.zeros(n, dtype=np.intp), encoder.table("model_version", [scored.model_version])
        ),
        "confidence": scored.confidence(),
        "reasons": Encoded(
            reason_rows.reshape(-1),
            encoder.table("reasons", [scored.reasons_of(row) for row in reasons]),
        ),
        "degraded": scored.degraded,
        "failed_dependencies": Encoded(
            failure_rows.reshape(-1),
            encoder.table("failed_dependencies", [names(b) for b in failures.tolist()]),
        ),
        "input_flags": Encoded(
            flag_rows.reshape(-1), encoder.table("input_flags", [names(b) for b in flags.tolist()])
        ),
        "scoring_latency_ms": np.full(n, scored.scoring_latency_ms),
        "scored_at_ms": np.full(n, now_ms, dtype=np.int64),
    }


def dead_letter_outputs(
    rejected: list[Rejected], topic: str, encoder: RecordEncoder, limits: Limits
) -> TopicOutputs:
    """Dead letters with the raw input — cut to ``dead_letter_raw_max_bytes`` so that a
    dead letter always fits, saying so; the source topic/partition/offset fetch the rest."""
    now_ms = int(time.time() * 1000)
    keys: list[bytes | None] = []
    values: list[bytes] = []
    headers: list[Headers] = []
    cut = limits.dead_letter_raw_max_bytes
    for item in rejected:
        message = item.message
        raw, raw_key = message.value() or b"", message.key()
        truncated = len(raw) > cut or (raw_key is not None and len(raw_key) > cut)
        error = item.error
        if truncated:
            error += f" [raw value of {len(raw)} bytes kept up to {cut} bytes; fetch it whole "
            error += "from its source topic, partition and offset]"
        key = raw_key[:cut] if raw_key is not None else None
        keys.append(key)
        values.append(encoder.encode(dead_letter_record(item, raw[:cut], key, error, now_ms)))
        headers.append(
            [
                ("error_code", item.code.encode()),
                ("error", error.encode()),
                ("source_topic", str(message.topic()).encode()),
                ("source_partition", str(message.partition()).encode()),
                ("source_offset", str(message.offset()).encode()),
                ("raw_size", str(len(raw)).encode()),
                ("raw_truncated", b"true" if truncated else b"false"),
            ]
        )
    return TopicOutputs(topic, keys, values, headers)


def dead_letter_record(
    item: Rejected, raw: bytes, raw_key: bytes | None, error: str, now_ms: int
) -> dict[str, Any]:
    message = item.message
    return {
        "raw_value": raw,
        "raw_key": raw_key,
        "error_code": item.code,
        "error": error,
        "source_topic": message.topic(),
        "source_partition": message.partition(),
        "source_offset": message.offset(),
        "failed_at_ms": now_ms,
    }
