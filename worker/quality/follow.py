"""``fraud-worker evaluate --follow``: consume the scored, shadow and labels topics for good,
and export the rolling live figures per source as Prometheus gauges.

Labels of the gauges are the level names only (``source``: all, cache, primary, fallback,
rules, safe_default; ``shadow``: "true" for a shadowing level's results, never acted on),
never a card id or anything from an event.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from worker.kafka.config import reader_config
from worker.quality.decode import PrefixDecoder
from worker.quality.live import RollingQuality
from worker.quality.offline import Sources, label_decoder, result_decoder
from worker.quality.read import partitions_of
from worker.quality.results import LABEL_OUTCOMES
from worker.settings import Settings

log = logging.getLogger(__name__)

BATCH_MAX = 5_000
POLL_S = 0.5
FRAUD = LABEL_OUTCOMES.index("fraud")

# gauge name suffix → (help, key in live_figures)
LIVE_GAUGES = {
    "average_precision": "Average precision over the matured window's sampled results",
    "roc_auc": "ROC AUC over the matured window's sampled results",
    "review_precision": "Share of review decisions that were fraud",
    "block_precision": "Share of block decisions that were fraud",
    "recall_at_review": "Share of frauds that got a review or block decision",
    "labelled_results": "Matured sampled results in the window (unlabelled = legitimate)",
    "frauds": "Frauds among them (a fraud label names them)",
}


class LiveMetrics:
    """The gauges, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.gauges = {
            name: Gauge(f"fraud_live_{name}", text, ["source", "shadow"], registry=r)
            for name, text in LIVE_GAUGES.items()
        }
        self.window_start = Gauge(
            "fraud_live_window_start_seconds",
            "Oldest matured event time in the window (Unix seconds)",
            registry=r,
        )
        self.window_end = Gauge(
            "fraud_live_window_end_seconds",
            "Newest matured event time (newest event seen minus the label delay)",
            registry=r,
        )
        self.kept_rows = Gauge(
            "fraud_live_kept_rows", "Sampled rows held in memory", ["stream"], registry=r
        )
        self.records = Counter("fraud_live_records", "Records consumed", ["stream"], registry=r)
        self.refresh_seconds = Gauge(
            "fraud_live_refresh_seconds", "Time the last recomputation took", registry=r
        )
        self._shown: set[tuple[str, bool]] = set()

    def update(self, tracker: RollingQuality) -> dict[tuple[str, bool], dict[str, float]]:
        started = time.monotonic()
        figures = tracker.figures()
        for (source, shadow), values in figures.items():
            for name, gauge in self.gauges.items():
                gauge.labels(source, str(shadow).lower()).set(values[name])
        for source, shadow in self._shown - set(figures):  # a level that answered nothing
            for name, gauge in self.gauges.items():
                empty = 0.0 if name in ("labelled_results", "frauds") else math.nan
                gauge.labels(source, str(shadow).lower()).set(empty)
        self._shown |= set(figures)
        bounds = tracker.window()
        if bounds:
            self.window_start.set(bounds[0] / 1000)
            self.window_end.set(bounds[1] / 1000)
        for stream, rows in tracker.sizes().items():
            self.kept_rows.labels(stream).set(rows)
        self.refresh_seconds.set(time.monotonic() - started)
        return figures


class Follower:
    """One consumer on the three topics from their beginning (no group: partitions assigned
    by hand), feeding a ``RollingQuality``."""

    def __init__(
        self,
        settings: Settings,
        sources: Sources,
        tracker: RollingQuality,
        metrics: LiveMetrics,
    ) -> None:
        self.tracker = tracker
        self.metrics = metrics
        self.consumer = Consumer(reader_config(settings, "fraud-evaluate-live"))
        self.streams: dict[str, tuple[str, PrefixDecoder]] = {
            sources.scored_topic: ("scored", result_decoder(settings)),
            sources.shadow_topic: ("shadow", result_decoder(settings)),
            sources.labels_topic: ("labels", label_decoder(settings)),
        }
        self.missing = self._assign()

    def _assign(self) -> list[str]:
        assignment: list[TopicPartition] = []
        missing = []
        for topic in self.streams:
            partitions = partitions_of(self.consumer, topic)
            if partitions is None:
                missing.append(topic)
                continue
            assignment += [TopicPartition(topic, p.partition, OFFSET_BEGINNING) for p in partitions]
        self.consumer.assign(assignment)
        return missing

    def poll_once(self, timeout_s: float = POLL_S) -> int:
        """Consume what has arrived (up to a batch) into the tracker; records consumed."""
        by_topic: dict[str, list[bytes | None]] = defaultdict(list)
        for message in self.consumer.consume(BATCH_MAX, timeout_s):
            if message.error() is None:
                by_topic[_topic(message)].append(message.value())
        for topic, values in by_topic.items():
            self._feed(topic, values)
        return sum(map(len, by_topic.values()))

    def _feed(self, topic: str, values: list[bytes | None]) -> None:
        stream, decoder = self.streams[topic]
        columns = decoder.decode_many(values).data
        self.metrics.records.labels(stream).inc(len(values))
        if stream == "labels":
            fraud = columns["outcome"] == FRAUD
            self.tracker.add_frauds(
                columns["transaction_id"][fraud], columns["event_time_ms"][fraud]
            )
        else:
            self.tracker.add_results(columns, shadow=stream == "shadow")

    def run(
        self,
        stop: threading.Event,
        refresh_s: float,
        on_refresh: Callable[[dict[tuple[str, bool], dict[str, float]]], Any] = lambda _f: None,
    ) -> None:
        """Consume until ``stop`` is set, recomputing the gauges every ``refresh_s``."""
        next_refresh = time.monotonic()
        try:
            while not stop.is_set():
                self.poll_once()
                if time.monotonic() >= next_refresh:
                    on_refresh(self.metrics.update(self.tracker))
                    next_refresh = time.monotonic() + refresh_s
        finally:
            self.consumer.close()


def _topic(message: Message) -> str:
    return str(message.topic())


def summary_line(figures: dict[tuple[str, bool], dict[str, float]]) -> str:
    """One log line: per level, matured results and AP (level names and numbers only)."""
    parts = []
    for (source, shadow), values in sorted(figures.items()):
        name = f"{source}{' (shadow)' if shadow else ''}"
        results, ap = values["labelled_results"], values["average_precision"]
        parts.append(f"{name}: {results:.0f} results, AP {ap:.3f}")
    return "; ".join(parts) or "no matured results yet"
