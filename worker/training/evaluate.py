"""The handbook's three measures: ROC AUC, average precision, and card precision@100 (per
day, the share of truly compromised cards among the 100 riskiest; averaged over days)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, roc_auc_score

TOP_CARDS = 100


def card_precision_at_k(
    card_id: NDArray[np.object_],
    day: NDArray[np.int32],
    is_fraud: NDArray[np.bool_],
    scores: NDArray[np.float64],
    k: int = TOP_CARDS,
) -> float:
    """Mean over days of: compromised cards among the k cards with the highest max score."""
    _, card = np.unique(card_id.astype(str), return_inverse=True)
    card = card.reshape(-1)
    precisions = []
    for d in np.unique(day):
        rows = day == d
        n_cards = int(card[rows].max()) + 1
        best = np.full(n_cards, -np.inf)
        np.maximum.at(best, card[rows], scores[rows])
        fraud = np.zeros(n_cards, dtype=np.bool_)
        np.logical_or.at(fraud, card[rows], is_fraud[rows])
        seen = np.isfinite(best)
        top = np.argsort(-best[seen], kind="stable")[:k]
        precisions.append(fraud[seen][top].sum() / k)
    return float(np.mean(precisions))


def measure(
    scores: NDArray[np.float64],
    is_fraud: NDArray[np.bool_],
    card_id: NDArray[np.object_],
    day: NDArray[np.int32],
) -> dict[str, float]:
    constant = bool(np.all(scores == scores[0]))
    return {
        "roc_auc": 0.5 if constant else float(roc_auc_score(is_fraud, scores)),
        "average_precision": float(average_precision_score(is_fraud, scores)),
        "card_precision_at_100": card_precision_at_k(card_id, day, is_fraud, scores),
    }
