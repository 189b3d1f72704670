"""Fixed vocabularies and weights of the simulator's extension fields.

Categorical columns are generated as small integer codes indexing the tuples below and
turned into strings only at the end.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# The vocabularies are the event schema's (the worker's features encode them); the simulator
# adds only how often each value occurs.
from worker.features.vocabulary import CATEGORIES, CHANNELS, ENTRY_MODES, HIGH_RISK

__all__ = [
    "CATEGORIES",
    "CATEGORY_CHANNEL_PROBS",
    "CATEGORY_WEIGHTS",
    "CHANNELS",
    "COUNTRIES",
    "CURRENCIES",
    "ECOMMERCE",
    "ENTRY_MODES",
    "FOREIGN_TRAVEL_WEIGHTS",
    "HIGH_RISK_CATEGORIES",
    "HOME",
    "HOME_COUNTRY",
    "HOME_CURRENCY",
]

# Merchant categories and the share of terminals in each. The three high-risk ones
# (gambling, crypto, wire_transfer) make up 5% of the terminals.
CATEGORY_WEIGHTS: tuple[float, ...] = (0.28, 0.22, 0.20, 0.10, 0.06, 0.09, 0.02, 0.015, 0.015)
HIGH_RISK_CATEGORIES: frozenset[str] = frozenset(HIGH_RISK)

ECOMMERCE = CHANNELS.index("ecommerce")

# P(channel | category), rows in CATEGORIES order, columns in CHANNELS order. Overall about
# 80% of terminals are point-of-sale.
CATEGORY_CHANNEL_PROBS: NDArray[np.float64] = np.array(
    [
        [0.92, 0.06, 0.02],  # grocery
        [0.93, 0.07, 0.00],  # restaurant
        [0.78, 0.20, 0.02],  # retail
        [0.97, 0.00, 0.03],  # fuel
        [0.40, 0.60, 0.00],  # travel
        [0.55, 0.45, 0.00],  # electronics
        [0.30, 0.70, 0.00],  # gambling
        [0.00, 0.95, 0.05],  # crypto (crypto ATMs exist)
        [0.35, 0.55, 0.10],  # wire_transfer
    ],
    dtype=np.float64,
)

# Countries (ISO 3166-1 alpha-2) and their currencies (ISO 4217). Index 0 is the home
# country of every customer; the others are foreign.
HOME_COUNTRY = "FR"
HOME_CURRENCY = "EUR"
HOME = 0
_FOREIGN: tuple[tuple[str, str, float], ...] = (
    # country, currency, share of legitimate trips abroad
    ("DE", "EUR", 0.160),
    ("ES", "EUR", 0.160),
    ("IT", "EUR", 0.140),
    ("BE", "EUR", 0.080),
    ("GB", "GBP", 0.120),
    ("CH", "CHF", 0.080),
    ("US", "USD", 0.100),
    ("CA", "CAD", 0.030),
    ("JP", "JPY", 0.020),
    ("MA", "MAD", 0.040),
    ("TR", "TRY", 0.020),
    ("AE", "AED", 0.020),
    ("TH", "THB", 0.010),
    ("BR", "BRL", 0.010),
    ("NG", "NGN", 0.005),
    ("CN", "CNY", 0.005),
)
COUNTRIES: tuple[str, ...] = (HOME_COUNTRY, *(c for c, _, _ in _FOREIGN))
CURRENCIES: tuple[str, ...] = (HOME_CURRENCY, *(cur for _, cur, _ in _FOREIGN))
FOREIGN_TRAVEL_WEIGHTS: NDArray[np.float64] = np.array([w for _, _, w in _FOREIGN])
FOREIGN_TRAVEL_WEIGHTS /= FOREIGN_TRAVEL_WEIGHTS.sum()
