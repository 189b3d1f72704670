"""What the re-scorer exports: its own registry, served on its own port.

Labels are outcome and failure names, topics and partitions — never a card, a transaction
or anything from an event.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from worker.rescore.items import Outcome

# How old degraded answers are when re-scored: minutes (a blip) to the 6 h default limit.
AGE_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200)


class RescoreMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.items = Counter(
            "fraud_rescore_items", "Degraded items handled, by outcome", ["outcome"], registry=r
        )
        for outcome in Outcome:
            self.items.labels(outcome.value)
        self.waiting = Gauge(
            "fraud_rescore_waiting_for_primary",
            "1 while a batch waits, paused, for the primary or the feature store to answer",
            registry=r,
        )
        self.retries = Counter(
            "fraud_rescore_retries",
            "Attempts that found the primary not back, by what failed",
            ["failure"],
            registry=r,
        )
        self.lag = Gauge(
            "fraud_rescore_lag",
            "Degraded items behind the partition's end",
            ["topic", "partition"],
            registry=r,
        )
        self.age_seconds = Histogram(
            "fraud_rescore_item_age_seconds",
            "Age of a degraded answer when it is re-scored",
            buckets=AGE_BUCKETS,
            registry=r,
        )

    def observe(self, counts: Mapping[Outcome, int], ages_s: list[float]) -> None:
        for outcome, count in counts.items():
            if count:
                self.items.labels(outcome.value).inc(count)
        for age in ages_s:
            self.age_seconds.observe(age)
