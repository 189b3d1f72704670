"""Simulated history → feature matrices and a time-based split, the handbook's way: train on
earlier weeks, skip a delay (labels arrive late), test on later weeks.

Terminal risk comes in two variants. **feed**: a fraud counts only once the chargeback feed
reports it (``ChargebackConfig``: its delay, and only the reported share) — what the
worker's feature store holds live, so what the shipped models are trained on. **truth**:
every fraud counts once its day is in the window (the handbook's setting, all labels known
after 7 days) — for the report's offline figures only. Targets are the true labels in both.
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
from worker.simulator.labels import ChargebackConfig, chargebacks


@dataclass(frozen=True)
class SplitConfig:
    """Days of the simulation: burn-in (windows fill up), train, delay, test. The last
    ``calibration_days`` of the training days are held out of fitting the models, to fit
    their calibration on days they have not seen."""

    burn_in_days: int = 35
    train_days: int = 84
    delay_days: int = 7
    test_days: int = 56
    calibration_days: int = 14

    def __post_init__(self) -> None:
        if not 0 < self.calibration_days < self.train_days:
            raise ValueError(
                f"calibration_days must be in [1, train_days), got {self.calibration_days}"
            )

    @property
    def fit_end(self) -> int:
        """First day after the days the models are fitted on (calibration days begin)."""
        return self.burn_in_days + self.train_days - self.calibration_days

    @property
    def train_end(self) -> int:
        return self.burn_in_days + self.train_days

    @property
    def test_start(self) -> int:
        return self.train_end + self.delay_days

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Features:
    """The features that depend on which fraud labels terminal risk may count."""

    stateful_x: NDArray[np.float32]
    handbook_x: NDArray[np.float32]


@dataclass(frozen=True)
class Dataset:
    batch: EventBatch
    is_fraud: NDArray[np.bool_]
    reported: NDArray[np.bool_]
    scenario: NDArray[np.int8]
    day: NDArray[np.int32]
    event_x: NDArray[np.float32]
    feed: Features
    truth: Features
    labels: ChargebackConfig
    train: NDArray[np.bool_]
    fit: NDArray[np.bool_]
    calibrate: NDArray[np.bool_]
    test: NDArray[np.bool_]

    def primary_x(self, features: Features) -> NDArray[np.float32]:
        return np.hstack([self.event_x, features.stateful_x])


def _features(batch: EventBatch, labelled: NDArray[np.bool_], delay_ms: int | None) -> Features:
    cards, terminals = offline_aggregates(batch, labelled, delay_ms)
    return Features(
        stateful_features(batch, cards, terminals), handbook_features(batch, cards, terminals)
    )


def build_dataset(
    config: SimulationConfig, split: SplitConfig, labels: ChargebackConfig | None = None
) -> Dataset:
    """Simulate, compute every feature offline (both variants), and mark the rows of each
    part of the split."""
    if split.test_start + split.test_days > config.n_days:
        raise ValueError(
            f"the split needs {split.test_start + split.test_days} days, the simulation has "
            f"{config.n_days}"
        )
    labels = labels or ChargebackConfig()
    transactions = simulate(config)
    batch = EventBatch.from_columns(transactions.columns())
    is_fraud = transactions.labels.is_fraud
    reported = chargebacks(transactions, config.seed, labels).reported(len(batch))
    day = transactions.day
    train = (day >= split.burn_in_days) & (day < split.train_end)
    return Dataset(
        batch=batch,
        is_fraud=is_fraud,
        reported=reported,
        scenario=transactions.labels.fraud_scenario,
        day=day,
        event_x=event_features(batch),
        feed=_features(batch, reported, labels.delay_ms),
        truth=_features(batch, is_fraud, None),
        labels=labels,
        train=train,
        fit=train & (day < split.fit_end),
        calibrate=train & (day >= split.fit_end),
        test=(day >= split.test_start) & (day < split.test_start + split.test_days),
    )
