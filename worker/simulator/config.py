"""Configuration of the transaction simulator."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import date, datetime

__all__ = ["SimulationConfig"]

# Fields that must be integers >= 1.
_POSITIVE_INTS = (
    "n_customers",
    "n_terminals",
    "n_days",
    "compromised_terminals_per_day",
    "terminal_compromise_days",
    "compromised_customers_per_day",
    "customer_compromise_days",
)
# Fields that must be finite floats > 0.
_POSITIVE_FLOATS = ("radius", "grid_size", "max_daily_rate", "fraud_amount_threshold")
# Fields that must be probabilities in [0, 1].
_FRACTIONS = ("new_account_fraction", "international_history_fraction")


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of one simulated data set.

    The defaults are the reference size of the Fraud Detection Handbook simulator
    (5,000 customers, 10,000 terminals, 183 days, about 1.75M transactions).

    Attributes:
        n_customers: number of simulated customers (one card each).
        n_terminals: number of simulated terminals (one merchant each).
        n_days: length of the simulation window in days.
        start_date: first day of the window; times are UTC.
        seed: master seed; the same seed gives the same data set, column for column.
        radius: a customer uses the terminals within this distance on the grid.
        grid_size: side of the square grid customers and terminals live on.
        max_daily_rate: a customer's mean daily transaction count is U(0, max_daily_rate).
        fraud_amount_threshold: scenario 1, every amount above it is fraud.
        compromised_terminals_per_day: scenario 2, terminals compromised each day.
        terminal_compromise_days: scenario 2, how long a terminal stays compromised.
        compromised_customers_per_day: scenario 3, customers compromised each day.
        customer_compromise_days: scenario 3, how long a customer stays compromised.
        new_account_fraction: share of customers who open their account in the window.
        international_history_fraction: share of customers who travel abroad regularly.
    """

    n_customers: int = 5000
    n_terminals: int = 10000
    n_days: int = 183
    start_date: date = date(2026, 4, 1)
    seed: int = 42
    radius: float = 5.0
    grid_size: float = 100.0
    max_daily_rate: float = 4.0
    fraud_amount_threshold: float = 220.0
    compromised_terminals_per_day: int = 2
    terminal_compromise_days: int = 28
    compromised_customers_per_day: int = 3
    customer_compromise_days: int = 14
    new_account_fraction: float = 0.08
    international_history_fraction: float = 0.15

    def __post_init__(self) -> None:
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        for name in _POSITIVE_FLOATS:
            value = getattr(self, name)
            if not _is_real(value) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in _FRACTIONS:
            value = getattr(self, name)
            if not _is_real(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
        if not isinstance(self.start_date, date) or isinstance(self.start_date, datetime):
            raise ValueError(f"start_date must be a datetime.date, got {self.start_date!r}")
        self._check_cross_field()

    def _check_cross_field(self) -> None:
        if self.compromised_terminals_per_day > self.n_terminals:
            raise ValueError(
                "compromised_terminals_per_day must not exceed n_terminals, got "
                f"{self.compromised_terminals_per_day} > {self.n_terminals}"
            )
        if self.compromised_customers_per_day > self.n_customers:
            raise ValueError(
                "compromised_customers_per_day must not exceed n_customers, got "
                f"{self.compromised_customers_per_day} > {self.n_customers}"
            )

    def as_dict(self) -> dict[str, object]:
        """The configuration as plain values (the date in ISO format)."""
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["start_date"] = self.start_date.isoformat()
        return out


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
