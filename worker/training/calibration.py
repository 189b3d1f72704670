"""Platt scaling: a model's logit z becomes a·z + b, fitted by maximum likelihood on days the
model was not fitted on. A monotone map: ranking measures (AUC, AP, card precision) do not
move, only what a score means — so that the 0.5 (review) and 0.9 (block) thresholds stand
for the fraud probabilities they name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from worker.models.manifest import Calibration


@dataclass(frozen=True)
class Calibrated:
    """A trained model's test scores before and after its calibration."""

    calibration: Calibration
    before: NDArray[np.float64]
    after: NDArray[np.float64]


def fit_platt(
    logits: NDArray[np.float64], is_fraud: NDArray[np.bool_], in_model: bool
) -> Calibration:
    """The a, b that make sigmoid(a·z + b) fit the outcomes best (unpenalized)."""
    if not 0 < int(is_fraud.sum()) < len(is_fraud):
        raise ValueError("calibration needs frauds and genuine transactions alike")
    model = LogisticRegression(C=np.inf, max_iter=1000)
    model.fit(np.asarray(logits, dtype=np.float64).reshape(-1, 1), is_fraud)
    return Calibration(a=float(model.coef_[0, 0]), b=float(model.intercept_[0]), in_model=in_model)


def sigmoid(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * logits)))
