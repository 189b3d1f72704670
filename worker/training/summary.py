"""The figures of the training report: per level measures on the test days, calibration
before and after, what the data was."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from worker.training.calibration import Calibrated
from worker.training.dataset import Dataset
from worker.training.evaluate import brier, measure, reliability_table


def span(days: NDArray[np.int32]) -> list[int]:
    return [int(days.min()), int(days.max())] if len(days) else []


def data_summary(data: Dataset) -> dict[str, Any]:
    test_scenarios = np.bincount(data.scenario[data.test & data.is_fraud], minlength=4)[1:]
    return {
        "transactions": len(data.batch),
        "frauds": int(data.is_fraud.sum()),
        "reported_frauds": int(data.reported.sum()),
        "train_days": span(data.day[data.train]),
        "fit_days": span(data.day[data.fit]),
        "calibration_days": span(data.day[data.calibrate]),
        "test_days": span(data.day[data.test]),
        "train_transactions": int(data.train.sum()),
        "test_transactions": int(data.test.sum()),
        "test_frauds": int(data.is_fraud[data.test].sum()),
        "test_frauds_by_scenario": [int(n) for n in test_scenarios],
    }


def level_measures(
    data: Dataset, scores: dict[str, NDArray[np.float64]]
) -> dict[str, dict[str, float]]:
    """Every level's measures on the test days, against the true labels."""
    y, cards, days = data.is_fraud[data.test], data.batch.card_id[data.test], data.day[data.test]
    return {
        name: {k: round(v, 6 if k == "brier" else 4) for k, v in measure(s, y, cards, days).items()}
        for name, s in scores.items()
    }


def calibration_summary(data: Dataset, models: dict[str, Calibrated]) -> dict[str, Any]:
    """Per calibrated level, on the test days: Platt's a and b, Brier score and reliability
    table before and after."""
    y = data.is_fraud[data.test]
    return {
        name: {
            "platt": {"a": round(m.calibration.a, 6), "b": round(m.calibration.b, 6)},
            "brier_before": round(brier(m.before, y), 6),
            "brier_after": round(brier(m.after, y), 6),
            "reliability_before": reliability_table(m.before, y),
            "reliability_after": reliability_table(m.after, y),
        }
        for name, m in models.items()
    }
