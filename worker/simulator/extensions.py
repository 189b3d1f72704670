"""Draws of the extension fields that differ between genuine and fraudulent transactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from worker.simulator.catalog import (
    CATEGORIES,
    COUNTRIES,
    ECOMMERCE,
    FOREIGN_TRAVEL_WEIGHTS,
    HIGH_RISK_CATEGORIES,
    HOME,
)

if TYPE_CHECKING:
    from worker.simulator.profiles import TerminalProfiles
    from worker.simulator.transactions import Draft

__all__ = [
    "CNP_ECOMMERCE_P",
    "CNP_HIGH_RISK_P",
    "CNP_INTERNATIONAL_P",
    "INTERNATIONAL_P",
    "INTERNATIONAL_P_WITH_HISTORY",
    "NEW_ACCOUNT_DAYS",
    "NEW_ACCOUNT_WEIGHT",
    "draw_countries",
    "high_risk_terminals",
    "shape_card_not_present",
]

INTERNATIONAL_P = 0.02  # genuine transaction abroad, customer without international history
INTERNATIONAL_P_WITH_HISTORY = 0.15  # ... customer with international history
CNP_ECOMMERCE_P = 0.75  # scenario 3: channel forced to ecommerce
CNP_HIGH_RISK_P = 0.30  # scenario 3: routed to a random high-risk merchant
CNP_INTERNATIONAL_P = 0.40  # scenario 3: made in a random foreign country
NEW_ACCOUNT_DAYS = 30  # scenario 3: an account younger than this is "new" ...
NEW_ACCOUNT_WEIGHT = 5.0  # ... and this many times more likely to be compromised

_N_FOREIGN = len(COUNTRIES) - 1


def draw_countries(rng: np.random.Generator, history: NDArray[np.bool_]) -> NDArray[np.int8]:
    """Country codes of genuine transactions: mostly home, abroad with a small probability
    (larger with international history), foreign countries weighted by travel share."""
    p = np.where(history, INTERNATIONAL_P_WITH_HISTORY, INTERNATIONAL_P)
    abroad = rng.random(len(history)) < p
    country = np.full(len(history), HOME, dtype=np.int8)
    n_abroad = int(abroad.sum())
    country[abroad] = 1 + rng.choice(_N_FOREIGN, size=n_abroad, p=FOREIGN_TRAVEL_WEIGHTS)
    return country


def high_risk_terminals(terminals: TerminalProfiles) -> NDArray[np.int64]:
    """Indices of the terminals whose merchant category is high-risk."""
    codes = [CATEGORIES.index(name) for name in sorted(HIGH_RISK_CATEGORIES)]
    return np.flatnonzero(np.isin(terminals.category, codes))


def shape_card_not_present(
    draft: Draft,
    index: NDArray[np.integer[Any]],
    terminals: TerminalProfiles,
    rng: np.random.Generator,
) -> None:
    """Turn the rows at ``index`` into scenario-3 (compromised card) frauds, in place.

    The amount is multiplied by 5 (the handbook's rule). Unlike genuine transactions,
    which use the customer's nearby terminals and home country, a compromised card is
    used at a random high-risk merchant with probability CNP_HIGH_RISK_P, online with
    probability CNP_ECOMMERCE_P (otherwise the terminal's own channel) and in a uniformly
    random foreign country with probability CNP_INTERNATIONAL_P.
    """
    k = len(index)
    draft.amount[index] = np.round(draft.amount[index] * 5.0, 2)
    candidates = high_risk_terminals(terminals)
    reroute = rng.random(k) < CNP_HIGH_RISK_P
    if candidates.size:
        targets = candidates[rng.integers(0, candidates.size, k)]
        draft.terminal[index[reroute]] = targets[reroute].astype(np.int32)
    channel = terminals.channel[draft.terminal[index]]
    draft.channel[index] = np.where(rng.random(k) < CNP_ECOMMERCE_P, ECOMMERCE, channel)
    abroad = rng.random(k) < CNP_INTERNATIONAL_P
    foreign = 1 + rng.integers(0, _N_FOREIGN, k)
    draft.country[index] = np.where(abroad, foreign, HOME)
