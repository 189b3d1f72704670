"""Replay simulated transactions as batches of event records, optionally rate-paced."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from worker.simulator.labels import LabelFeed, label_records
from worker.simulator.model import Transactions

__all__ = ["DEFAULT_BATCH_SIZE", "stream_events", "stream_with_labels"]

DEFAULT_BATCH_SIZE = 500


def stream_events(
    transactions: Transactions,
    rate_per_s: float | None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    start: int = 0,
    stop: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[list[dict[str, Any]]]:
    """Yield the event records of rows ``start:stop`` in time order, ``batch_size`` at a time.

    With ``rate_per_s`` set, event ``i`` (counted from ``start``) is due at
    ``t0 + i / rate_per_s`` on ``clock`` (``t0``: when the first batch is requested) and a
    batch is yielded once its first event is due, sleeping with ``sleep`` until then.
    Deadlines are absolute, so time the consumer spends between batches counts and
    pacing does not drift; a consumer that falls behind gets the next batches at once.
    With ``rate_per_s=None`` batches come as fast as they are consumed.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if rate_per_s is not None and not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise ValueError(f"rate_per_s must be a finite number > 0 or None, got {rate_per_s!r}")
    first, last, _ = slice(start, stop).indices(len(transactions))
    t0: float | None = None
    for begin in range(first, last, batch_size):
        if rate_per_s is not None:
            if t0 is None:
                t0 = clock()
            wait = t0 + (begin - first) / rate_per_s - clock()
            if wait > 0:
                sleep(wait)
        yield transactions.event_dicts(begin, min(begin + batch_size, last))


def stream_with_labels(
    transactions: Transactions,
    feed: LabelFeed,
    rate_per_s: float | None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    stop: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Like ``stream_events``, with the feed's labels in simulated time: each batch of events
    comes with the labels known by the time of its last event (sent before the events), so a
    consumer that keeps up sees each label about when it became known. Labels known after the
    last streamed event are not sent (they are still in the future)."""
    first, last, _ = slice(0, stop).indices(len(transactions))
    times = transactions.event_time_ms
    sent = 0
    batches = stream_events(
        transactions, rate_per_s, batch_size, stop=last, clock=clock, sleep=sleep
    )
    for begin, events in zip(range(first, last, batch_size), batches, strict=True):
        end = min(begin + batch_size, last)
        due = int(np.searchsorted(feed.known_at_ms, times[end - 1], side="right"))
        labels = label_records(transactions, feed, sent, due) if due > sent else []
        sent = max(sent, due)
        yield events, labels
