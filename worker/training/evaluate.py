"""Quality measures, one definition for the training report and the live evaluation.

- ROC AUC and average precision over transactions;
- card precision@100, two ways. **Ours** (``card_precision_at_100``): per day, the share of
  compromised cards among the 100 cards with the highest score that day, averaged over
  days. **The handbook's** (``card_precision_at_100_handbook``, Fraud Detection Handbook
  §4.2): the same, except that a card found compromised on an earlier day (a fraudulent card
  among an earlier day's 100) is left out of the later days — an investigator does not look
  at a card already blocked. Only the handbook's is comparable with the handbook's figures;
  it is lower, as the easy cards count once;
- calibration: the Brier score and a reliability table (mean score against fraud rate per
  score bin), which say whether a score of 0.5 means one fraud in two.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, roc_auc_score

TOP_CARDS = 100
# Score bins of the reliability table: finer where the thresholds and most frauds are.
RELIABILITY_EDGES = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)


def _daily_card_maxima(
    card: NDArray[np.intp],
    rows: NDArray[np.bool_],
    is_fraud: NDArray[np.bool_],
    scores: NDArray[np.float64],
    n_cards: int,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Per card, its highest score among ``rows`` (-inf when absent) and whether any of its
    rows is a fraud."""
    best = np.full(n_cards, -np.inf)
    np.maximum.at(best, card[rows], scores[rows])
    fraud = np.zeros(n_cards, dtype=np.bool_)
    np.logical_or.at(fraud, card[rows], is_fraud[rows])
    return best, fraud


def card_precision_at_k(
    card_id: NDArray[np.object_],
    day: NDArray[np.int32],
    is_fraud: NDArray[np.bool_],
    scores: NDArray[np.float64],
    k: int = TOP_CARDS,
    remove_detected: bool = False,
) -> float:
    """Mean over days of: compromised cards among the k cards with the highest max score.

    ``remove_detected``: the handbook's definition — cards found compromised among an
    earlier day's top k are left out of the later days."""
    _, card = np.unique(card_id.astype(str), return_inverse=True)
    card = card.reshape(-1)
    n_cards = int(card.max()) + 1 if len(card) else 0
    detected = np.zeros(n_cards, dtype=np.bool_)
    precisions = []
    for d in np.unique(day):
        best, fraud = _daily_card_maxima(card, day == d, is_fraud, scores, n_cards)
        seen = np.flatnonzero(np.isfinite(best) & ~detected)
        top = seen[np.argsort(-best[seen], kind="stable")[:k]]
        precisions.append(fraud[top].sum() / k)
        if remove_detected:
            detected[top[fraud[top]]] = True
    return float(np.mean(precisions)) if precisions else 0.0


def brier(scores: NDArray[np.float64], is_fraud: NDArray[np.bool_]) -> float:
    """Mean squared distance between score and outcome (0 is perfect)."""
    return float(np.mean((scores - is_fraud.astype(np.float64)) ** 2)) if len(scores) else 0.0


def reliability_table(
    scores: NDArray[np.float64],
    is_fraud: NDArray[np.bool_],
    edges: tuple[float, ...] = RELIABILITY_EDGES,
) -> list[dict[str, Any]]:
    """Per score bin ``[lo, hi)`` (the last one closed): transactions, frauds, mean score and
    fraud rate. A calibrated model has mean score ≈ fraud rate in every bin."""
    bins = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, len(edges) - 2)
    table = []
    for index in range(len(edges) - 1):
        rows = bins == index
        n = int(rows.sum())
        table.append(
            {
                "bin": [edges[index], edges[index + 1]],
                "transactions": n,
                "frauds": int(is_fraud[rows].sum()),
                "mean_score": float(scores[rows].mean()) if n else None,
                "fraud_rate": float(is_fraud[rows].mean()) if n else None,
            }
        )
    return table


def measure(
    scores: NDArray[np.float64],
    is_fraud: NDArray[np.bool_],
    card_id: NDArray[np.object_],
    day: NDArray[np.int32],
) -> dict[str, float]:
    """The report's figures for one level's scores."""
    constant = len(scores) == 0 or bool(np.all(scores == scores[0]))
    both_classes = 0 < int(is_fraud.sum()) < len(is_fraud)
    return {
        "roc_auc": 0.5 if constant or not both_classes else float(roc_auc_score(is_fraud, scores)),
        "average_precision": (
            float(average_precision_score(is_fraud, scores)) if both_classes else 0.0
        ),
        "card_precision_at_100": card_precision_at_k(card_id, day, is_fraud, scores),
        "card_precision_at_100_handbook": card_precision_at_k(
            card_id, day, is_fraud, scores, remove_detected=True
        ),
        "brier": brier(scores, is_fraud),
    }
