"""BreakerConfig rejects bad values at once, naming the field."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from worker.breaker import BreakerConfig


def test_defaults_are_valid() -> None:
    config = BreakerConfig()
    assert config.window_size == 20
    assert config.minimum_calls == 10


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("window_size", 0),
        ("window_size", True),
        ("minimum_calls", 0),
        ("minimum_calls", 21),
        ("failure_rate_threshold", 0.0),
        ("failure_rate_threshold", 1.5),
        ("failure_rate_threshold", math.nan),
        ("slow_call_rate_threshold", 0.0),
        ("slow_call_rate_threshold", 1.01),
        ("slow_call_duration_s", 0.0),
        ("slow_call_duration_s", math.inf),
        ("half_open_permits", 0),
        ("open_wait_s", -1.0),
        ("max_open_wait_s", 4.0),
        ("max_open_wait_s", math.nan),
        ("open_wait_multiplier", 0.5),
        ("open_wait_multiplier", math.inf),
    ],
)
def test_config_errors_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        BreakerConfig(**{field: value})


def test_config_is_frozen() -> None:
    config = BreakerConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.window_size = 5  # type: ignore[misc]


def test_grown_wait_is_multiplied_and_capped() -> None:
    config = BreakerConfig(open_wait_s=5.0, max_open_wait_s=12.0, open_wait_multiplier=2.0)
    assert config.grown_wait_s(5.0) == 10.0
    assert config.grown_wait_s(10.0) == 12.0
