"""Train the LightGBM fallback on event-only features, small and fast to predict."""

from __future__ import annotations

import time
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    # Fine bins: a sharp amount threshold in a rare tail needs a bin edge near it.
    "max_bin": 1023,
    "feature_fraction": 0.9,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "verbose": -1,
}
ROUNDS = 150


def train_lightgbm(
    x: NDArray[np.float32], y: NDArray[np.bool_], features: list[str], seed: int
) -> lgb.Booster:
    params = {**PARAMS, "seed": seed}
    data = lgb.Dataset(x, label=y.astype(np.float32), feature_name=features, free_raw_data=True)
    return lgb.train(params, data, num_boost_round=ROUNDS)


def predict_timings_ms(
    booster: lgb.Booster, x: NDArray[np.float32], sizes: tuple[int, ...] = (1, 64, 512)
) -> dict[str, float]:
    """Median predict time on one thread per batch size (ms) — reported, never asserted."""
    timings = {}
    for size in sizes:
        rows = x[:size]
        samples = []
        for _ in range(30):
            start = time.perf_counter()
            booster.predict(rows, num_threads=1)
            samples.append((time.perf_counter() - start) * 1000)
        timings[str(size)] = round(float(np.median(samples)), 3)
    return timings
