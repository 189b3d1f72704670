"""``fraud-worker evaluate``: the scored, shadow and labels topics read to their end (or a
truth file instead of the labels), joined, and measured."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from worker.codec import default_schemas_dir, load_schema
from worker.codec.configured import schema_registry
from worker.quality.days import DayRange
from worker.quality.decode import PrefixDecoder
from worker.quality.figures import evaluate_columns
from worker.quality.read import TopicRead, TopicReadError, read_topic, records_to_read
from worker.quality.results import LABEL_FIELDS, RESULT_FIELDS, Results, fraud_ids
from worker.quality.truth import read_truth
from worker.settings import Settings

SCORED_READER = "scored_result.v1.avsc"
LABEL_READER = "label.v1.avsc"


@dataclass(frozen=True)
class Sources:
    """Where results and labels come from."""

    scored_topic: str
    shadow_topic: str
    labels_topic: str
    truth: Path | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        scored: str | None = None,
        shadow: str | None = None,
        labels: str | None = None,
        truth: Path | None = None,
    ) -> Sources:
        topics = settings.topics
        return cls(scored or topics.scored, shadow or topics.shadow, labels or topics.labels, truth)


def result_decoder(settings: Settings) -> PrefixDecoder:
    reader = load_schema(default_schemas_dir() / SCORED_READER)
    return PrefixDecoder(schema_registry(settings), reader, RESULT_FIELDS)


def label_decoder(settings: Settings) -> PrefixDecoder:
    reader = load_schema(default_schemas_dir() / LABEL_READER)
    return PrefixDecoder(schema_registry(settings), reader, LABEL_FIELDS)


def run_evaluation(
    settings: Settings,
    sources: Sources,
    days: DayRange,
    progress: bool = True,
    daily: bool = True,
) -> dict[str, Any]:
    """Read, join, measure: the evaluation's JSON document."""
    topics = [sources.scored_topic, sources.shadow_topic]
    if sources.truth is None:
        topics.append(sources.labels_topic)
    started = datetime.now(UTC)
    total = records_to_read(settings, topics)
    with tqdm(total=total, desc="reading", unit="rec", disable=not progress) as bar:
        scored = read_topic(settings, sources.scored_topic, result_decoder(settings), bar.update)
        if not scored.exists:
            raise TopicReadError(f"topic {sources.scored_topic!r} (the scored results) not found")
        shadow = read_topic(settings, sources.shadow_topic, result_decoder(settings), bar.update)
        frauds, labels_read = _frauds(settings, sources, bar.update)
    read_s = (datetime.now(UTC) - started).total_seconds()
    report = evaluate_columns(
        Results.from_columns(scored.columns),
        Results.from_columns(shadow.columns),
        frauds,
        days,
        daily,
    )
    reads = [scored, shadow] + ([labels_read] if labels_read else [])
    report["inputs"] = _inputs(sources, reads, len(frauds), read_s)
    report["generated_at"] = started.isoformat(timespec="seconds")
    return report


def _frauds(
    settings: Settings, sources: Sources, progress: Any
) -> tuple[NDArray[np.bytes_], TopicRead | None]:
    if sources.truth is not None:
        ids, fraud = read_truth(sources.truth)
        return np.unique(ids[fraud]), None
    labels = read_topic(settings, sources.labels_topic, label_decoder(settings), progress)
    if not labels.exists:
        raise TopicReadError(
            f"topic {sources.labels_topic!r} (the labels) not found; "
            "name another with --labels-topic, or give a truth file with --truth"
        )
    return fraud_ids(labels.columns["transaction_id"], labels.columns["outcome"]), labels


def _inputs(sources: Sources, reads: list[TopicRead], frauds: int, read_s: float) -> dict[str, Any]:
    records = sum(read.records for read in reads)
    return {
        "labels": str(sources.truth) if sources.truth else f"topic {sources.labels_topic}",
        "known_frauds": frauds,
        "topics": {
            read.topic: {
                "exists": read.exists,
                "records": read.records,
                "undecodable": read.undecodable,
                **({"first_error": read.first_error} if read.first_error else {}),
            }
            for read in reads
        },
        "read_s": round(read_s, 2),
        "records_per_s": round(records / read_s) if read_s > 0 else None,
    }
