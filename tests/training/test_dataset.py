"""The dataset computes terminal risk from the chargeback feed, as the live feature store
will hold it: only reported frauds count, and only once their label is known."""

from __future__ import annotations

import numpy as np
import pytest

from worker.cli_train import short_split
from worker.features.stateful import STATEFUL_FEATURES, offline_aggregates, stateful_features
from worker.simulator import SimulationConfig
from worker.simulator.labels import ChargebackConfig
from worker.training.dataset import Dataset, SplitConfig, build_dataset

SMALL = SimulationConfig(n_customers=300, n_terminals=600, n_days=90, seed=5)
SPLIT = short_split(90)
RISK = [i for i, name in enumerate(STATEFUL_FEATURES) if name.startswith("terminal_risk_")]


@pytest.fixture(scope="module")
def default() -> Dataset:
    return build_dataset(SMALL, SPLIT)


def test_the_truth_variant_is_the_old_computation(default: Dataset) -> None:
    cards, terminals = offline_aggregates(default.batch, default.is_fraud)
    expected = stateful_features(default.batch, cards, terminals)
    np.testing.assert_array_equal(default.truth.stateful_x, expected)


def test_full_coverage_with_the_handbook_delay_equals_the_truth_features() -> None:
    data = build_dataset(SMALL, SPLIT, ChargebackConfig(delay_days=7.0, coverage=1.0))
    assert data.reported.sum() == data.is_fraud.sum()
    np.testing.assert_array_equal(data.feed.stateful_x, data.truth.stateful_x)
    np.testing.assert_array_equal(data.feed.handbook_x, data.truth.handbook_x)


def test_a_fraud_that_was_not_reported_never_raises_terminal_risk(default: Dataset) -> None:
    unreported = default.is_fraud & ~default.reported
    assert unreported.any() and not (default.reported & ~default.is_fraud).any()
    # Terminal risk from the reported frauds alone: the unreported ones add nothing.
    cards, terminals = offline_aggregates(default.batch, default.reported)
    only_reported = stateful_features(default.batch, cards, terminals)
    np.testing.assert_array_equal(default.feed.stateful_x, only_reported)
    assert (default.feed.stateful_x[:, RISK] <= default.truth.stateful_x[:, RISK]).all()
    assert (default.feed.stateful_x[:, RISK] < default.truth.stateful_x[:, RISK]).any()

    nothing = build_dataset(SMALL, SPLIT, ChargebackConfig(coverage=0.0))
    assert not nothing.reported.any()
    assert (nothing.feed.stateful_x[:, RISK] == 0).all()
    assert (nothing.truth.stateful_x[:, RISK] > 0).any()


def test_a_label_counts_only_once_the_feed_has_delivered_it(default: Dataset) -> None:
    late = build_dataset(SMALL, SPLIT, ChargebackConfig(delay_days=10.0, coverage=0.9))
    np.testing.assert_array_equal(late.reported, default.reported)
    assert (late.feed.stateful_x[:, RISK] <= default.feed.stateful_x[:, RISK]).all()
    assert (late.feed.stateful_x[:, RISK] < default.feed.stateful_x[:, RISK]).any()
    # Card features and counts do not depend on labels.
    others = [i for i in range(len(STATEFUL_FEATURES)) if i not in RISK]
    np.testing.assert_array_equal(
        late.feed.stateful_x[:, others], default.truth.stateful_x[:, others]
    )


def test_the_split_holds_the_last_training_days_out_for_calibration(default: Dataset) -> None:
    assert not (default.fit & default.calibrate).any()
    np.testing.assert_array_equal(default.fit | default.calibrate, default.train)
    calibration_days = np.unique(default.day[default.calibrate])
    assert calibration_days.tolist() == list(range(SPLIT.fit_end, SPLIT.train_end))
    assert default.day[default.fit].max() < calibration_days.min()
    assert default.day[default.test].min() >= SPLIT.test_start
    width = default.event_x.shape[1] + len(STATEFUL_FEATURES)
    assert default.primary_x(default.feed).shape == (len(default.batch), width)


def test_a_split_needs_calibration_days_inside_the_training_days() -> None:
    with pytest.raises(ValueError, match="calibration_days"):
        SplitConfig(train_days=10, calibration_days=10)
