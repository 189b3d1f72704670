"""Replay simulated transactions as batches of event records, optionally rate-paced."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from worker.simulator.model import Transactions

__all__ = ["DEFAULT_BATCH_SIZE", "stream_events"]

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
