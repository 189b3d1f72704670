"""The handbook's three fraud scenarios, vectorized, with our scenario-3 extension."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from worker.simulator.config import SimulationConfig
from worker.simulator.extensions import (
    NEW_ACCOUNT_DAYS,
    NEW_ACCOUNT_WEIGHT,
    shape_card_not_present,
    shape_phished_terminal,
)
from worker.simulator.profiles import CustomerProfiles, TerminalProfiles
from worker.simulator.transactions import Draft

__all__ = ["SCENARIO_3_SHARE", "FraudOutcome", "apply_fraud", "compromise_windows"]

SCENARIO_3_SHARE = 1.0 / 3.0  # share of a compromised customer's transactions made fraudulent


@dataclass(frozen=True, eq=False)
class FraudOutcome:
    """Per-transaction scenario (0 genuine) and the ground-truth compromise windows:
    ``compromised_terminals[t, d]`` / ``compromised_customers[c, d]`` is True when the
    terminal / customer is compromised on day ``d``."""

    scenario: NDArray[np.int8]
    compromised_terminals: NDArray[np.bool_]
    compromised_customers: NDArray[np.bool_]


def compromise_windows(
    rng: np.random.Generator,
    n_entities: int,
    n_days: int,
    per_day: int,
    duration: int,
    weights: Callable[[int], NDArray[np.float64]] | None = None,
) -> NDArray[np.bool_]:
    """Each day ``d`` compromise ``per_day`` distinct random entities for days
    ``d .. d + duration - 1``; ``weights(d)`` (optional) gives the entities' relative
    chances of being picked on day ``d`` (zero weight: never picked)."""
    out = np.zeros((n_entities, n_days), dtype=np.bool_)
    for d in range(n_days):
        if weights is None:
            picked = rng.choice(n_entities, size=per_day, replace=False)
        else:
            w = weights(d)
            k = min(per_day, int(np.count_nonzero(w)))
            if k == 0:
                continue
            picked = rng.choice(n_entities, size=k, replace=False, p=w / w.sum())
        out[picked, d : d + duration] = True
    return out


def apply_fraud(
    draft: Draft,
    config: SimulationConfig,
    customers: CustomerProfiles,
    terminals: TerminalProfiles,
    rng: np.random.Generator,
) -> FraudOutcome:
    """Label ``draft`` (sorted by time) with the fraud scenarios, first one wins:

    1. every amount above ``fraud_amount_threshold``;
    2. every transaction at a compromised terminal during its compromise window:
       phished-card traits (entry mode, verification, country; changes ``draft``);
    3. each transaction of a compromised customer in the window, not already fraud,
       with probability 1/3: amount x5 and card-not-present traits (changes ``draft``).

    The scenario-2 traits are drawn last, so the compromise windows and the labels are
    those the same seed gave before they were added.
    """
    scenario = np.zeros(len(draft), dtype=np.int8)
    scenario[draft.amount > config.fraud_amount_threshold] = 1

    terminal_windows = compromise_windows(
        rng,
        config.n_terminals,
        config.n_days,
        config.compromised_terminals_per_day,
        config.terminal_compromise_days,
    )
    scenario[terminal_windows[draft.terminal, draft.day] & (scenario == 0)] = 2

    open_day = customers.account_open_day

    def customer_weights(day: int) -> NDArray[np.float64]:
        age = day - open_day
        return np.where(age < 0, 0.0, np.where(age < NEW_ACCOUNT_DAYS, NEW_ACCOUNT_WEIGHT, 1.0))

    customer_windows = compromise_windows(
        rng,
        config.n_customers,
        config.n_days,
        config.compromised_customers_per_day,
        config.customer_compromise_days,
        customer_weights,
    )
    candidate = customer_windows[draft.customer, draft.day] & (scenario == 0)
    picked = np.flatnonzero(candidate & (rng.random(len(draft)) < SCENARIO_3_SHARE))
    scenario[picked] = 3
    shape_card_not_present(draft, picked, terminals, rng)
    shape_phished_terminal(draft, np.flatnonzero(scenario == 2), rng)
    return FraudOutcome(scenario, terminal_windows, customer_windows)
