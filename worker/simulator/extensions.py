"""Draws of the extension fields that differ between genuine and fraudulent transactions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from worker.simulator.catalog import (
    CATEGORIES,
    CHANNELS,
    COUNTRIES,
    ECOMMERCE,
    ENTRY_MODES,
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
    "CNP_VERIFIED_P",
    "ENTRY_MODE_P_BY_CHANNEL",
    "INTERNATIONAL_P",
    "INTERNATIONAL_P_WITH_HISTORY",
    "NEW_ACCOUNT_DAYS",
    "NEW_ACCOUNT_WEIGHT",
    "PHISHED_ENTRY_MODE_P",
    "PHISHED_INTERNATIONAL_P",
    "PHISHED_VERIFIED_P",
    "VERIFIED_P_BY_ENTRY_MODE",
    "draw_countries",
    "draw_entry_modes",
    "draw_verified",
    "high_risk_terminals",
    "shape_card_not_present",
    "shape_phished_terminal",
]

INTERNATIONAL_P = 0.02  # genuine transaction abroad, customer without international history
INTERNATIONAL_P_WITH_HISTORY = 0.15  # ... customer with international history
CNP_ECOMMERCE_P = 0.75  # scenario 3: channel forced to ecommerce
CNP_HIGH_RISK_P = 0.30  # scenario 3: routed to a random high-risk merchant
CNP_INTERNATIONAL_P = 0.40  # scenario 3: made in a random foreign country
NEW_ACCOUNT_DAYS = 30  # scenario 3: an account younger than this is "new" ...
NEW_ACCOUNT_WEIGHT = 5.0  # ... and this many times more likely to be compromised
CNP_VERIFIED_P = 0.30  # scenario 3: cardholder verified, whatever the entry mode

# Genuine transactions: P(entry mode | channel). Modes left out have probability 0.
ENTRY_MODE_P_BY_CHANNEL: Mapping[str, Mapping[str, float]] = {
    "pos": {"chip": 0.55, "contactless": 0.43, "magstripe": 0.015, "keyed": 0.005},
    "ecommerce": {"ecommerce": 1.0},
    "atm": {"chip": 0.97, "magstripe": 0.03},
}
# Genuine transactions: P(cardholder verified | entry mode): PIN or chip+PIN, 3-D Secure.
VERIFIED_P_BY_ENTRY_MODE: Mapping[str, float] = {
    "chip": 0.97,
    "contactless": 0.35,  # no PIN under the contactless limit
    "magstripe": 0.50,
    "keyed": 0.10,
    "ecommerce": 0.85,  # 3-D Secure is common under PSD2
}
# Scenario 2 (phished card data used at a compromised terminal).
PHISHED_ENTRY_MODE_P: Mapping[str, float] = {"keyed": 0.45, "ecommerce": 0.40, "magstripe": 0.15}
PHISHED_VERIFIED_P = 0.08  # cardholder verified (e.g. a phished 3-D Secure code)
PHISHED_INTERNATIONAL_P = 0.30  # made in a uniformly random foreign country

_N_FOREIGN = len(COUNTRIES) - 1
_ATM = CHANNELS.index("atm")
_MODE_ECOMMERCE = ENTRY_MODES.index("ecommerce")
_MODE_MAGSTRIPE = ENTRY_MODES.index("magstripe")


def draw_countries(rng: np.random.Generator, history: NDArray[np.bool_]) -> NDArray[np.int8]:
    """Country codes of genuine transactions: mostly home, abroad with a small probability
    (larger with international history), foreign countries weighted by travel share."""
    p = np.where(history, INTERNATIONAL_P_WITH_HISTORY, INTERNATIONAL_P)
    abroad = rng.random(len(history)) < p
    country = np.full(len(history), HOME, dtype=np.int8)
    n_abroad = int(abroad.sum())
    country[abroad] = 1 + rng.choice(_N_FOREIGN, size=n_abroad, p=FOREIGN_TRAVEL_WEIGHTS)
    return country


def _mode_probabilities(probs: Mapping[str, float]) -> NDArray[np.float64]:
    """``probs`` (entry mode name -> probability) as a row in ENTRY_MODES order."""
    row = np.zeros(len(ENTRY_MODES), dtype=np.float64)
    for name, p in probs.items():
        if name not in ENTRY_MODES:
            raise ValueError(f"unknown entry mode {name!r}")
        row[ENTRY_MODES.index(name)] = p
    if np.any(row < 0.0) or not np.isclose(row.sum(), 1.0):
        raise ValueError(f"entry mode probabilities must be >= 0 and sum to 1: {dict(probs)}")
    return row


def _categorical(row: NDArray[np.float64], u: NDArray[np.float64]) -> NDArray[np.int8]:
    """Entry mode codes drawn from ``row`` with the uniform draws ``u`` in [0, 1)."""
    cumulative = np.cumsum(row)
    cumulative[np.flatnonzero(row)[-1] :] = 1.0  # rounding never picks a zero-probability mode
    return np.searchsorted(cumulative, u, side="right").astype(np.int8)


def draw_entry_modes(rng: np.random.Generator, channel: NDArray[np.int8]) -> NDArray[np.int8]:
    """Entry mode codes given the channel codes, drawn from ENTRY_MODE_P_BY_CHANNEL."""
    u = rng.random(len(channel))
    mode = np.empty(len(channel), dtype=np.int8)
    for code, name in enumerate(CHANNELS):
        rows = channel == code
        mode[rows] = _categorical(_mode_probabilities(ENTRY_MODE_P_BY_CHANNEL[name]), u[rows])
    return mode


def draw_verified(rng: np.random.Generator, mode: NDArray[np.int8]) -> NDArray[np.bool_]:
    """Whether the cardholder was verified, given the entry mode codes (genuine rates)."""
    p = np.array([VERIFIED_P_BY_ENTRY_MODE[name] for name in ENTRY_MODES], dtype=np.float64)
    verified: NDArray[np.bool_] = rng.random(len(mode)) < p[mode]
    return verified


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
    random foreign country with probability CNP_INTERNATIONAL_P. The entry mode follows
    the final channel as for genuine transactions, but the cardholder is verified with
    probability CNP_VERIFIED_P only, whatever the mode.
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
    draft.entry_mode[index] = draw_entry_modes(rng, draft.channel[index])
    draft.verified[index] = rng.random(k) < CNP_VERIFIED_P


def shape_phished_terminal(
    draft: Draft, index: NDArray[np.integer[Any]], rng: np.random.Generator
) -> None:
    """Turn the rows at ``index`` into scenario-2 (compromised terminal) frauds, in place.

    The handbook's scenario 2 is a criminal use of a terminal with phished card data: the
    amount, time, customer and terminal stay those of the customer's own draw, but the
    card data is keyed in, used online (the channel becomes ecommerce) or read from a
    cloned magnetic stripe, with the probabilities PHISHED_ENTRY_MODE_P. The terminal's
    own channel constrains this as it does for genuine transactions, so the pair never
    takes a value genuine data cannot: at an online merchant the data is always used
    online, at an ATM always through a cloned stripe. The cardholder is verified with
    probability PHISHED_VERIFIED_P, and the transaction is made in a uniformly random
    foreign country with probability PHISHED_INTERNATIONAL_P (else at home).
    """
    k = len(index)
    mode = _categorical(_mode_probabilities(PHISHED_ENTRY_MODE_P), rng.random(k))
    channel = draft.channel[index]
    mode[channel == ECOMMERCE] = _MODE_ECOMMERCE
    mode[channel == _ATM] = _MODE_MAGSTRIPE
    draft.entry_mode[index] = mode
    draft.channel[index] = np.where(mode == _MODE_ECOMMERCE, ECOMMERCE, channel)
    draft.verified[index] = rng.random(k) < PHISHED_VERIFIED_P
    abroad = rng.random(k) < PHISHED_INTERNATIONAL_P
    foreign = 1 + rng.integers(0, _N_FOREIGN, k)
    draft.country[index] = np.where(abroad, foreign, HOME)
