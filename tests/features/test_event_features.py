"""Event-only features: order, encodings, flags."""

from __future__ import annotations

import numpy as np

from tests.factories import make_batch
from worker.features.event import EVENT_FEATURES, event_features
from worker.features.vocabulary import CATEGORIES, CHANNELS, ENTRY_MODES


def feature(matrix: np.ndarray, name: str) -> float:
    return float(matrix[0, EVENT_FEATURES.index(name)])


def test_flags_and_one_hot_encodings() -> None:
    x = event_features(make_batch())
    assert x.shape == (1, len(EVENT_FEATURES)) and x.dtype == np.float32
    assert feature(x, "hour") == 3.0
    assert feature(x, "is_weekend") == 1.0
    assert feature(x, "is_night") == 1.0
    assert feature(x, "international_without_history") == 1.0
    assert feature(x, "is_new_account") == 1.0
    assert feature(x, "category_crypto") == 1.0
    assert sum(feature(x, f"category_{c}") for c in CATEGORIES) == 1.0
    assert sum(feature(x, f"channel_{c}") for c in CHANNELS) == 1.0
    assert sum(feature(x, f"entry_{m}") for m in ENTRY_MODES) == 1.0


def test_unknown_category_encodes_as_zeros_instead_of_failing() -> None:
    x = event_features(make_batch({"merchant_category": "space_tourism"}))
    assert sum(feature(x, f"category_{c}") for c in CATEGORIES) == 0.0
    assert np.isfinite(x).all()


def test_vocabularies_match_the_simulator() -> None:
    from worker.simulator import catalog

    assert tuple(catalog.CATEGORIES) == CATEGORIES
    assert tuple(catalog.CHANNELS) == CHANNELS
    assert tuple(catalog.ENTRY_MODES) == ENTRY_MODES
