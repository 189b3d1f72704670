"""Prometheus metrics of the worker. Labels are low-cardinality names — never a card id,
transaction id or anything from the event's content."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from worker.breaker import BreakerState
from worker.ladder.types import DECISIONS, SOURCES, ScoredBatch

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096)
BREAKER_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.results = Counter(
            "fraud_results",
            "Scored results by answering level and decision",
            ["source", "decision"],
            registry=r,
        )
        self.degraded = Counter(
            "fraud_failed_dependency",
            "Rows that fell past a level, by what failed",
            ["failure"],
            registry=r,
        )
        self.input_flags = Counter(
            "fraud_input_flags", "Events scored with a flagged input field", ["flag"], registry=r
        )
        self.review = Counter(
            "fraud_review_items",
            "Items sent to the review topic: decided review or block, or a flagged input",
            registry=r,
        )
        self.kept_apart = Counter(
            "fraud_degraded_kept_apart",
            "Degraded answers no human needs now, sent to the degraded topic (not to review)",
            ["source"],
            registry=r,
        )
        self.rule_raised = Counter(
            "fraud_rule_raised_decisions",
            "Results whose decision a decisive rule raised above the score's, by answering level",
            ["source"],
            registry=r,
        )
        self.shadow_results = Counter(
            "fraud_shadow_results",
            "Shadow results sent to the shadow topic, by shadow level",
            ["source"],
            registry=r,
        )
        self.shadow_failures = Counter(
            "fraud_shadow_failures",
            "Shadow scoring that did not answer (the batch's results stand), by what failed",
            ["failure"],
            registry=r,
        )
        self.dead_letters = Counter(
            "fraud_dead_letters",
            "Undecodable events sent to the dead-letter topic",
            ["error_code"],
            registry=r,
        )
        self.stage_seconds = Histogram(
            "fraud_stage_seconds",
            "Time per ladder level and loop stage per batch",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "fraud_batch_size", "Events per consumed batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.breaker_state = Gauge(
            "fraud_breaker_state",
            "Circuit breaker state (0 closed, 1 half-open, 2 open)",
            ["dependency"],
            registry=r,
        )
        self.lag = Gauge(
            "fraud_consumer_lag",
            "Messages behind the partition's end",
            ["topic", "partition"],
            registry=r,
        )
        self.skipped_writes = Counter(
            "fraud_writes_skipped",
            "Redis write commands skipped because the dependency's breaker was open",
            ["dependency"],
            registry=r,
        )
        self.aborted_transactions = Counter(
            "fraud_transactions_aborted",
            "Batches whose transaction was aborted and read again (exactly-once)",
            registry=r,
        )
        self.model = Info("fraud_model", "Model version and execution provider", registry=r)
        self.artifact_load_failed = Gauge(
            "fraud_artifact_load_failed",
            "1 when the artifact failed to load at start (its ladder level is skipped), else 0",
            ["artifact"],
            registry=r,
        )

    def observe_batch(self, scored: ScoredBatch) -> None:
        """Count one scored batch; per-row work is done with numpy counts, not loops."""
        pairs = scored.source.astype(np.int64) * len(DECISIONS) + scored.decision
        counts = np.bincount(pairs, minlength=len(SOURCES) * len(DECISIONS))
        for index in np.flatnonzero(counts):
            source, decision = divmod(int(index), len(DECISIONS))
            self.results.labels(SOURCES[source].value, DECISIONS[decision].value).inc(
                int(counts[index])
            )
        raised = np.bincount(scored.source[scored.raised_by_rule], minlength=len(SOURCES))
        for source in np.flatnonzero(raised).tolist():
            self.rule_raised.labels(SOURCES[source].value).inc(int(raised[source]))
        self._count_bits(scored.failures, scored, self.degraded)
        self._count_bits(scored.flags, scored, self.input_flags)
        for stage, ms in scored.stage_ms.items():
            self.stage_seconds.labels(stage).observe(ms / 1000)
        self.stage_seconds.labels("scoring").observe(scored.scoring_latency_ms / 1000)

    def observe_outputs(
        self,
        review: int,
        kept_apart: Mapping[str, int],
        shadow: Mapping[str, int],
        shadow_failures: Iterable[str],
    ) -> None:
        """What one batch sent to the review, degraded and shadow topics."""
        self.review.inc(review)
        for source, count in kept_apart.items():
            self.kept_apart.labels(source).inc(count)
        for source, count in shadow.items():
            self.shadow_results.labels(source).inc(count)
        for failure in shadow_failures:
            self.shadow_failures.labels(failure).inc()

    @staticmethod
    def _count_bits(bits: np.ndarray, scored: ScoredBatch, counter: Counter) -> None:
        values, counts = np.unique(bits[bits != 0], return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            for name in scored.tags.names(value):
                counter.labels(name).inc(count)

    def observe_edge(self, skipped_writes: Mapping[str, int], aborted_transactions: int) -> None:
        """Totals kept by the write-behind and the offset policy, as counters."""
        for dependency, total in skipped_writes.items():
            _advance(self.skipped_writes.labels(dependency), total)
        _advance(self.aborted_transactions, aborted_transactions)

    def observe_load(self, artifacts: Iterable[str], failures: Mapping[str, str]) -> None:
        """One gauge per artifact, 0 included, so that an alert can test for 1."""
        for artifact in artifacts:
            self.artifact_load_failed.labels(artifact).set(1 if artifact in failures else 0)

    def breaker_changed(self, dependency: str, _old: BreakerState, new: BreakerState) -> None:
        self.breaker_state.labels(dependency).set(BREAKER_VALUES[new])


def _advance(counter: Counter, total: float) -> None:
    """Move a counter up to a running total kept elsewhere."""
    delta = total - counter._value.get()
    if delta > 0:
        counter.inc(delta)
