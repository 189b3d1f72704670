"""Customer and terminal profiles, and which terminals each customer can use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from worker.simulator.catalog import CATEGORIES, CATEGORY_CHANNEL_PROBS, CATEGORY_WEIGHTS
from worker.simulator.config import SimulationConfig
from worker.simulator.tokens import opaque_tokens

__all__ = [
    "CustomerProfiles",
    "TerminalProfiles",
    "generate_customers",
    "generate_terminals",
    "terminals_within_radius",
]

MIN_MEAN_AMOUNT = 5.0
MAX_MEAN_AMOUNT = 100.0
MIN_ACCOUNT_AGE_AT_START = 30  # days, for accounts opened before the window
MAX_ACCOUNT_AGE_AT_START = 3650
_CHUNK = 256  # customers per block of the distance computation


@dataclass(frozen=True, eq=False)
class CustomerProfiles:
    """One row per customer (and card).

    ``account_open_day`` is relative to the start date (negative: opened before it).
    The terminals customer ``c`` uses are
    ``terminal_index[terminal_offsets[c]:terminal_offsets[c + 1]]``.
    """

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    mean_amount: NDArray[np.float64]
    std_amount: NDArray[np.float64]
    mean_daily_tx: NDArray[np.float64]
    account_open_day: NDArray[np.int32]
    has_international_history: NDArray[np.bool_]
    card_id: NDArray[np.object_]
    terminal_offsets: NDArray[np.int64]
    terminal_index: NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.x)

    @property
    def n_available_terminals(self) -> NDArray[np.int64]:
        """How many terminals each customer can use."""
        return np.diff(self.terminal_offsets)


@dataclass(frozen=True, eq=False)
class TerminalProfiles:
    """One row per terminal; ``category`` and ``channel`` index the catalog tuples."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    category: NDArray[np.int8]
    channel: NDArray[np.int8]
    terminal_id: NDArray[np.object_]

    def __len__(self) -> int:
        return len(self.x)


def generate_terminals(
    config: SimulationConfig, rng: np.random.Generator, key: bytes
) -> TerminalProfiles:
    """Terminals at uniform grid points, each a merchant of a fixed category and channel."""
    n = config.n_terminals
    x = rng.uniform(0.0, config.grid_size, n)
    y = rng.uniform(0.0, config.grid_size, n)
    category = rng.choice(len(CATEGORIES), size=n, p=np.asarray(CATEGORY_WEIGHTS))
    channel = _draw_rows(rng, CATEGORY_CHANNEL_PROBS[category])
    return TerminalProfiles(
        x=x,
        y=y,
        category=category.astype(np.int8),
        channel=channel.astype(np.int8),
        terminal_id=opaque_tokens("t_", n, key, b"terminal"),
    )


def generate_customers(
    config: SimulationConfig,
    rng: np.random.Generator,
    key: bytes,
    terminals: TerminalProfiles,
) -> CustomerProfiles:
    """Customers at uniform grid points with the handbook's spending habits, plus
    an account open date and an international-history flag."""
    n = config.n_customers
    x = rng.uniform(0.0, config.grid_size, n)
    y = rng.uniform(0.0, config.grid_size, n)
    mean_amount = rng.uniform(MIN_MEAN_AMOUNT, MAX_MEAN_AMOUNT, n)
    mean_daily_tx = rng.uniform(0.0, config.max_daily_rate, n)
    is_new = rng.random(n) < config.new_account_fraction
    opened_in_window = rng.integers(0, config.n_days, n)
    opened_before = -rng.integers(MIN_ACCOUNT_AGE_AT_START, MAX_ACCOUNT_AGE_AT_START + 1, n)
    open_day = np.where(is_new, opened_in_window, opened_before).astype(np.int32)
    history = rng.random(n) < config.international_history_fraction
    offsets, index = terminals_within_radius(x, y, terminals.x, terminals.y, config.radius)
    return CustomerProfiles(
        x=x,
        y=y,
        mean_amount=mean_amount,
        std_amount=mean_amount / 2.0,
        mean_daily_tx=mean_daily_tx,
        account_open_day=open_day,
        has_international_history=history,
        card_id=opaque_tokens("c_", n, key, b"card"),
        terminal_offsets=offsets,
        terminal_index=index,
    )


def terminals_within_radius(
    cx: NDArray[np.float64],
    cy: NDArray[np.float64],
    tx: NDArray[np.float64],
    ty: NDArray[np.float64],
    radius: float,
) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
    """CSR lists (offsets, terminal indices ascending) of terminals within ``radius``."""
    counts = np.zeros(len(cx), dtype=np.int64)
    parts: list[NDArray[np.int32]] = []
    r2 = radius * radius
    for start in range(0, len(cx), _CHUNK):
        stop = min(start + _CHUNK, len(cx))
        d2 = (cx[start:stop, None] - tx[None, :]) ** 2 + (cy[start:stop, None] - ty[None, :]) ** 2
        rows, cols = np.nonzero(d2 < r2)
        counts[start:stop] = np.bincount(rows, minlength=stop - start)
        parts.append(cols.astype(np.int32))
    offsets = np.zeros(len(cx) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    index = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    return offsets, index


def _draw_rows(rng: np.random.Generator, probs: NDArray[np.float64]) -> NDArray[np.int64]:
    """One categorical draw per row of ``probs`` (rows sum to 1)."""
    cumulative = np.cumsum(probs, axis=1)
    cumulative[:, -1] = 1.0  # guard against rounding: u < 1 always lands in a column
    u = rng.random(len(probs))[:, None]
    drawn: NDArray[np.int64] = np.count_nonzero(u >= cumulative, axis=1).astype(np.int64)
    return drawn
