"""Holding a batch back while a dependency is down, and exporting consumer lag — for the
consumers beside the worker (labels, re-score), whose batch must wait rather than be skipped.

A held batch is neither sent nor committed. The member pauses every partition it owns and keeps
polling, so it stays in its group (max.poll.interval) and serves rebalances; a record of a
partition assigned meanwhile joins the batch (and its partition is paused too), and records
of partitions given up leave it — their new owner reads them from the committed offset.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import Message
from prometheus_client import Gauge

from worker.kafka.consumer import BatchSource
from worker.kafka.offsets import OffsetPolicy

log = logging.getLogger(__name__)

# How long one poll of a held member may take: a stop is noticed within it.
POLL_SLICE_S = 0.2
LAG_EVERY_S = 1.0


class Hold:
    """The member's partitions paused while a batch waits; ``waiting`` names what for."""

    def __init__(
        self,
        source: BatchSource,
        policy: OffsetPolicy,
        batch_max: int,
        on_waiting: Callable[[str | None], None],
        beat: Callable[[], None] = lambda: None,
    ) -> None:
        self.source = source
        self.policy = policy
        self.batch_max = batch_max
        self.on_waiting = on_waiting  # readiness and a gauge: what the batch waits for
        self.beat = beat  # liveness: the member is polling
        self.waiting: str | None = None

    def wait(
        self,
        pending: list[Message],
        reason: str,
        wait_s: float,
        stopping: Callable[[], bool],
        between: Callable[[], None] = lambda: None,
    ) -> list[Message]:
        """Paused, polling, for ``wait_s`` (or until ``stopping()``); the batch as it stands
        after the wait. ``between`` runs every poll (lag reports)."""
        self._pause(reason)
        until = time.monotonic() + wait_s
        while not stopping() and (left := until - time.monotonic()) > 0:
            more = self.source.next_batch(self.batch_max, min(POLL_SLICE_S, left))
            self.beat()
            if more:  # of a partition assigned while paused: it is paused too, now
                self._pause(reason)
                pending = [*pending, *more]
            self.policy.settle()
            between()
        return self._still_ours(pending)

    def release(self) -> None:
        """The batch went through (or the member stops): resume the partitions."""
        if self.waiting is None:
            return
        consumer = self.source.consumer
        assignment = consumer.assignment()
        if assignment:
            consumer.resume(assignment)
        log.info("%s: answers again, partitions resumed", self.waiting)
        self.waiting = None
        self.on_waiting(None)

    def _pause(self, reason: str) -> None:
        consumer = self.source.consumer
        assignment = consumer.assignment()
        if assignment:
            consumer.pause(assignment)
        if self.waiting != reason:
            self.waiting = reason
            self.on_waiting(reason)

    def _still_ours(self, pending: list[Message]) -> list[Message]:
        """The batch without records of partitions given up, each record once (a partition
        given up and assigned again may serve a record again)."""
        owned, seen = self.source.owned, set()
        kept = []
        for message in pending:
            key = (message.topic(), message.partition(), message.offset())
            if key[:2] in owned and key not in seen:
                seen.add(key)
                kept.append(message)
        return kept


class LagExport:
    """Consumer lag per owned partition into a gauge labelled (topic, partition), at most
    once a second; partitions given up leave the gauge."""

    def __init__(self, source: BatchSource, gauge: Gauge) -> None:
        self.source = source
        self.gauge = gauge
        self._labels: set[tuple[str, str]] = set()
        self._last = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last < LAG_EVERY_S:
            return
        self._last = now
        lags = self.source.lag()
        for (topic, partition), lag in lags.items():
            labels = (topic, str(partition))
            self.gauge.labels(*labels).set(lag)
            self._labels.add(labels)
        for labels in self._labels - {(t, str(p)) for t, p in lags}:
            self.gauge.remove(*labels)
            self._labels.discard(labels)
