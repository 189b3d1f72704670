"""The triage app's Prometheus metrics, on a registry of its own (``/metrics``).

The queue's depth and its oldest open item are asked of the database at each scrape (a
custom collector), so they are right whichever replica decided what. A database that fails
during a scrape leaves those samples out and says ``fraud_triage_store_up 0``: a scrape never
fails because of it. Labels are low-cardinality: no card id, no event content.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from worker.triage.types import PRIORITY_BANDS

log = logging.getLogger(__name__)


class QueueGauges(Protocol):
    """What the collector asks the store (``QueueStore``) at each scrape."""

    def depth_by_band(self) -> dict[str, int]: ...

    def oldest_open_age_s(self) -> float | None: ...


class QueueCollector(Collector):
    """Queue depth by priority band and the oldest open item's age, read on scrape."""

    def __init__(self, store: QueueGauges) -> None:
        self.store = store
        self._up = True

    def describe(self) -> Iterator[Metric]:
        """The families without samples: registering must not query the database."""
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        depth, age, up = self._families()
        try:
            by_band = self.store.depth_by_band()
            oldest_s = self.store.oldest_open_age_s()
        except SQLAlchemyError as exc:
            self._went(False, exc)
            up.add_metric([], 0)
            yield up
            return
        self._went(True)
        for band, _low, _high in PRIORITY_BANDS:
            depth.add_metric([band], by_band.get(band, 0))
        age.add_metric([], 0.0 if oldest_s is None else oldest_s)  # empty queue: none waits
        up.add_metric([], 1)
        yield from (depth, age, up)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "fraud_triage_queue_depth",
                "Open review items by priority band (expected loss, score x amount)",
                labels=["band"],
            ),
            GaugeMetricFamily(
                "fraud_triage_oldest_open_age_seconds",
                "Age of the oldest open review item since it was scored (0: none open)",
            ),
            GaugeMetricFamily(
                "fraud_triage_store_up", "1 when the queue's database answered this scrape"
            ),
        )

    def _went(self, up: bool, error: SQLAlchemyError | None = None) -> None:
        """Log the change only, not every scrape of an outage."""
        if up != self._up:
            if up:
                log.info("the queue's database answers the metrics scrape again")
            else:  # the class only: a statement's parameters can hold card data
                log.warning(
                    "the queue's database failed a metrics scrape (%s)", type(error).__name__
                )
        self._up = up


class TriageMetrics:
    """Everything the consumer, the publisher and the pages count."""

    def __init__(
        self, store: QueueGauges | None = None, registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        if store is not None:
            r.register(QueueCollector(store))
        self.decisions = Counter(
            "fraud_triage_decisions", "Decisions taken, by outcome", ["outcome"], registry=r
        )
        self.items_stored = Counter(
            "fraud_triage_items_stored",
            "Items consumed into the queue, by kind (new, superseding, or already there)",
            ["kind"],
            registry=r,
        )
        self.items_repeated = Counter(
            "fraud_triage_items_repeated",
            "Items already in the queue: redelivered, or a second item of a transaction",
            registry=r,
        )
        self.items_superseded = Counter(
            "fraud_triage_items_superseded",
            "Queued degraded answers a re-score replaced",
            registry=r,
        )
        self.dead_letters = Counter(
            "fraud_triage_dead_letters",
            "Items sent to the dead-letter topic instead of the queue",
            ["error_code"],
            registry=r,
        )
        self.store_retries = Counter(
            "fraud_triage_store_retries",
            "Attempts to store a batch again after the database (or the registry) failed",
            registry=r,
        )
        self.labels_published = Counter(
            "fraud_triage_labels_published",
            "Decisions published to the labels topic",
            registry=r,
        )
        self.labels_recovered = Counter(
            "fraud_triage_labels_recovered",
            "Labels of an interrupted publish, settled by reading the labels topic: found "
            "there (published) or not (sent again)",
            ["result"],
            registry=r,
        )
        self.lag = Gauge(
            "fraud_triage_consumer_lag",
            "Items behind the partition's end",
            ["topic", "partition"],
            registry=r,
        )
        self.waiting = Gauge(
            "fraud_triage_waiting_for_database",
            "1 while a batch of items waits for the database (or the registry) to come back",
            registry=r,
        )

    def decided(self, outcome: str) -> None:
        """A decision was taken (the pages call this)."""
        self.decisions.labels(outcome).inc()
