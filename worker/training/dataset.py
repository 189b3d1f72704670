"""Simulated history → feature matrices and a time-based split, the handbook's way: train on
earlier weeks, skip a delay (labels arrive late), test on later weeks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from worker.events import EventBatch
from worker.features.event import event_features
from worker.features.stateful import handbook_features, offline_aggregates, stateful_features
from worker.simulator import SimulationConfig, simulate


@dataclass(frozen=True)
class SplitConfig:
    """Days of the simulation: burn-in (windows fill up), train, delay, test."""

    burn_in_days: int = 35
    train_days: int = 84
    delay_days: int = 7
    test_days: int = 56

    @property
    def test_start(self) -> int:
        return self.burn_in_days + self.train_days + self.delay_days

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Dataset:
    batch: EventBatch
    is_fraud: NDArray[np.bool_]
    scenario: NDArray[np.int8]
    day: NDArray[np.int32]
    event_x: NDArray[np.float32]
    stateful_x: NDArray[np.float32]
    handbook_x: NDArray[np.float32]
    train: NDArray[np.bool_]
    test: NDArray[np.bool_]

    @property
    def primary_x(self) -> NDArray[np.float32]:
        return np.hstack([self.event_x, self.stateful_x])


def build_dataset(config: SimulationConfig, split: SplitConfig) -> Dataset:
    """Simulate, compute every feature offline, and mark the train and test rows."""
    if split.test_start + split.test_days > config.n_days:
        raise ValueError(
            f"the split needs {split.test_start + split.test_days} days, the simulation has "
            f"{config.n_days}"
        )
    transactions = simulate(config)
    batch = EventBatch.from_columns(transactions.columns())
    is_fraud = transactions.labels.is_fraud
    cards, terminals = offline_aggregates(batch, is_fraud)
    day = transactions.day
    train_end = split.burn_in_days + split.train_days
    return Dataset(
        batch=batch,
        is_fraud=is_fraud,
        scenario=transactions.labels.fraud_scenario,
        day=day,
        event_x=event_features(batch),
        stateful_x=stateful_features(batch, cards, terminals),
        handbook_x=handbook_features(batch, cards, terminals),
        train=(day >= split.burn_in_days) & (day < train_end),
        test=(day >= split.test_start) & (day < split.test_start + split.test_days),
    )
