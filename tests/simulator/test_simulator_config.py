"""SimulationConfig validation."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from worker.simulator import SimulationConfig


def test_defaults_are_the_reference_size() -> None:
    config = SimulationConfig()
    assert (config.n_customers, config.n_terminals, config.n_days) == (5000, 10000, 183)
    assert config.start_date == date(2026, 4, 1)
    assert config.radius == 5.0
    assert config.as_dict()["start_date"] == "2026-04-01"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_customers", 0),
        ("n_terminals", -1),
        ("n_days", 1.5),
        ("n_days", True),
        ("seed", -1),
        ("radius", 0.0),
        ("radius", float("nan")),
        ("grid_size", float("inf")),
        ("fraud_amount_threshold", "220"),
        ("new_account_fraction", 1.5),
        ("international_history_fraction", -0.1),
        ("start_date", "2026-04-01"),
        ("start_date", datetime(2026, 4, 1)),
        ("compromised_terminals_per_day", 0),
        ("customer_compromise_days", 0),
    ],
)
def test_bad_values_raise_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        SimulationConfig(**{field: value})


def test_cross_field_checks() -> None:
    with pytest.raises(ValueError, match="compromised_terminals_per_day"):
        SimulationConfig(n_terminals=1, compromised_terminals_per_day=2)
    with pytest.raises(ValueError, match="compromised_customers_per_day"):
        SimulationConfig(n_customers=2, compromised_customers_per_day=3)


def test_config_is_frozen() -> None:
    config = SimulationConfig()
    with pytest.raises(AttributeError):
        config.seed = 1  # type: ignore[misc]
