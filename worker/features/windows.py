"""Windowed sums per entity (card or terminal) over day buckets — the one definition that
both training (over a whole history) and serving (within a batch, on top of the feature
store's totals) use, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from worker.columns import factorize
from worker.events import MS_PER_DAY

# Day offsets are added to keys; this margin keeps ``day + lo`` inside the entity's key band.
_DAY_MARGIN = 1024


@dataclass(frozen=True)
class Window:
    """Days ``[day + lo, day + hi]`` relative to the event's day. ``hi == 0`` means: up to and
    including the event itself (earlier events of the same day count, later ones do not)."""

    name: str
    lo: int
    hi: int


# The handbook's windows. A card's windows end at the event itself. A terminal's end 7 days
# before it, because fraud labels arrive late (its risk is only known after a delay).
CARD_WINDOWS: tuple[Window, ...] = (Window("1d", 0, 0), Window("7d", -6, 0), Window("30d", -29, 0))
TERMINAL_DELAY_DAYS = 7
TERMINAL_WINDOWS: tuple[Window, ...] = tuple(
    Window(f"{w}d", -TERMINAL_DELAY_DAYS - w, -TERMINAL_DELAY_DAYS - 1) for w in (1, 7, 30)
)


def span(windows: tuple[Window, ...]) -> tuple[int, int]:
    """The smallest ``(lo, hi)`` covering every window."""
    return min(w.lo for w in windows), max(w.hi for w in windows)


def entity_codes(ids: NDArray[np.object_]) -> NDArray[np.int64]:
    """Small integer codes for entity ids (equal ids, equal codes)."""
    return factorize(ids)[0]


def window_sums(
    entity: NDArray[np.int64],
    day: NDArray[np.int64],
    values: NDArray[np.int64],
    windows: tuple[Window, ...],
) -> NDArray[np.int64]:
    """For each row i and window w: the sum of ``values[j]`` over rows j of the same entity
    whose day lies in w (for ``hi == 0``: rows up to and including i on the event's day).

    Rows are taken in their given order (time order). Returns shape (n, len(windows), k).
    """
    n, k = values.shape
    out = np.zeros((n, len(windows), k), dtype=np.int64)
    if n == 0:
        return out
    shifted = day - day.min() + _DAY_MARGIN
    # Each entity's band is as wide as the batch's own day span (plus margins), so no day,
    # however far, reaches into the next entity's band and unsorts the keys. The widest span
    # int64 milliseconds give (about 2**38 days) times up to 2**24 entities fits an int64.
    band = int(shifted.max()) + _DAY_MARGIN + 1
    order = np.lexsort((np.arange(n), shifted, entity))
    keys = entity[order] * band + shifted[order]
    prefix = np.vstack([np.zeros((1, k), dtype=np.int64), np.cumsum(values[order], axis=0)])
    position = np.arange(n)
    for index, window in enumerate(windows):
        lower = np.searchsorted(keys, keys + window.lo, side="left")
        if window.hi == 0:
            upper = position + 1
        else:
            upper = np.searchsorted(keys, keys + window.hi, side="right")
        upper = np.maximum(upper, lower)
        out[order, index, :] = prefix[upper] - prefix[lower]
    return out


def known_window_sums(
    entity: NDArray[np.int64],
    time_ms: NDArray[np.int64],
    weights: NDArray[np.int64],
    windows: tuple[Window, ...],
    delay_ms: int,
) -> NDArray[np.int64]:
    """For each row i and window w (all with ``hi < 0``): the sum of ``weights[j]`` over
    rows j of the same entity whose day lies in w and whose weight was known by row i's
    time, i.e. ``time_ms[j] + delay_ms <= time_ms[i]`` — a label known ``delay_ms`` after
    its transaction. Returns shape (n, len(windows)).

    This is what the feature store holds when each label is applied as it arrives: a label
    that comes after the window would have used it counts only for later events.
    """
    n = len(time_ms)
    out = np.zeros((n, len(windows)), dtype=np.int64)
    if n == 0:
        return out
    if any(w.hi >= 0 for w in windows):
        raise ValueError("known_window_sums is for windows that end before the event's day")
    day = time_ms // MS_PER_DAY
    base = (int(day.min()) + min(w.lo for w in windows) - 1) * MS_PER_DAY
    shifted = time_ms - base
    band = int(shifted.max()) + 2 * MS_PER_DAY
    order = np.lexsort((time_ms, entity))
    keys = entity[order] * band + shifted[order]
    prefix = np.concatenate([[0], np.cumsum(weights[order])])
    row_entity, row_day, row_time = entity[order] * band, day[order], shifted[order]
    for index, window in enumerate(windows):
        lower = row_entity + (row_day + window.lo) * MS_PER_DAY - base
        window_end = (row_day + window.hi + 1) * MS_PER_DAY - base - 1
        upper = row_entity + np.minimum(window_end, row_time - delay_ms)
        lo = np.searchsorted(keys, lower, side="left")
        hi = np.maximum(np.searchsorted(keys, upper, side="right"), lo)
        out[order, index] = prefix[hi] - prefix[lo]
    return out
