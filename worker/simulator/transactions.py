"""Genuine transactions: the handbook's per-customer, per-day draws, vectorized."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from worker.simulator.config import SimulationConfig
from worker.simulator.extensions import draw_countries, draw_entry_modes, draw_verified
from worker.simulator.profiles import CustomerProfiles, TerminalProfiles

__all__ = ["DAY_MS", "Draft", "draw_genuine"]

DAY_SECONDS = 86_400
DAY_MS = DAY_SECONDS * 1000
TIME_MEAN_S = DAY_SECONDS / 2
TIME_STD_S = 20_000.0


@dataclass(eq=False)
class Draft:
    """Mutable working columns of the transactions being generated (codes, not strings):
    ``channel`` / ``country`` / ``entry_mode`` index the catalog tuples, ``verified`` is
    the cardholder-verified flag."""

    day: NDArray[np.int32]
    ms_in_day: NDArray[np.int64]
    customer: NDArray[np.int32]
    terminal: NDArray[np.int32]
    amount: NDArray[np.float64]
    channel: NDArray[np.int8]
    country: NDArray[np.int8]
    entry_mode: NDArray[np.int8]
    verified: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.day)

    def time_ms(self) -> NDArray[np.int64]:
        """Milliseconds since the start of the window."""
        return self.day.astype(np.int64) * DAY_MS + self.ms_in_day

    def take(self, index: NDArray[np.integer[Any]] | NDArray[np.bool_]) -> Draft:
        """The rows at ``index``."""
        return Draft(
            day=self.day[index],
            ms_in_day=self.ms_in_day[index],
            customer=self.customer[index],
            terminal=self.terminal[index],
            amount=self.amount[index],
            channel=self.channel[index],
            country=self.country[index],
            entry_mode=self.entry_mode[index],
            verified=self.verified[index],
        )

    def sorted_by_time(self) -> Draft:
        """The rows in time order (ties keep generation order)."""
        return self.take(np.argsort(self.time_ms(), kind="stable"))


def draw_genuine(
    config: SimulationConfig,
    customers: CustomerProfiles,
    terminals: TerminalProfiles,
    rng: np.random.Generator,
) -> Draft:
    """Draw every customer's genuine transactions over the window.

    Daily counts are Poisson(mean_daily_tx) over a (customers x days) array; days before
    the account opens and customers without any terminal in reach get no transactions.
    Times of day are N(43200 s, 20000 s), those outside the day dropped; amounts are
    N(mu, mu/2) with negative draws redrawn, rounded to cents; the terminal is uniform
    among those within the radius. The channel is the terminal's; the entry mode and
    whether the cardholder was verified are drawn given the channel and the entry mode.
    """
    n_days = config.n_days
    counts = rng.poisson(customers.mean_daily_tx[:, None], size=(len(customers), n_days))
    active = np.arange(n_days)[None, :] >= customers.account_open_day[:, None]
    active &= (customers.n_available_terminals > 0)[:, None]
    counts[~active] = 0
    cell = np.repeat(np.arange(counts.size, dtype=np.int64), counts.ravel())
    seconds = rng.normal(TIME_MEAN_S, TIME_STD_S, len(cell))
    keep = (seconds >= 0.0) & (seconds < DAY_SECONDS)
    cell, seconds = cell[keep], seconds[keep]
    customer = (cell // n_days).astype(np.int32)
    day = (cell % n_days).astype(np.int32)
    ms_in_day = np.minimum(np.floor(seconds * 1000.0).astype(np.int64), DAY_MS - 1)
    amount = _draw_amounts(rng, customers.mean_amount[customer], customers.std_amount[customer])
    terminal = _pick_terminals(rng, customers, customer)
    country = draw_countries(rng, customers.has_international_history[customer])
    channel = terminals.channel[terminal]
    entry_mode = draw_entry_modes(rng, channel)
    return Draft(
        day=day,
        ms_in_day=ms_in_day,
        customer=customer,
        terminal=terminal,
        amount=amount,
        channel=channel,
        country=country,
        entry_mode=entry_mode,
        verified=draw_verified(rng, entry_mode),
    )


def _draw_amounts(
    rng: np.random.Generator, mean: NDArray[np.float64], std: NDArray[np.float64]
) -> NDArray[np.float64]:
    """N(mean, std) per row, negative values redrawn, rounded to cents."""
    amount = rng.normal(mean, std)
    negative = np.flatnonzero(amount < 0.0)
    while negative.size:
        amount[negative] = rng.normal(mean[negative], std[negative])
        negative = negative[amount[negative] < 0.0]
    return np.round(amount, 2)


def _pick_terminals(
    rng: np.random.Generator, customers: CustomerProfiles, customer: NDArray[np.int32]
) -> NDArray[np.int32]:
    """A terminal uniformly among those in each transaction's customer's reach."""
    available = customers.n_available_terminals[customer]
    pick = np.floor(rng.random(len(customer)) * available).astype(np.int64)
    pick = np.minimum(pick, np.maximum(available - 1, 0))
    rows = customers.terminal_offsets[customer] + pick
    terminal: NDArray[np.int32] = customers.terminal_index[rows]
    return terminal
