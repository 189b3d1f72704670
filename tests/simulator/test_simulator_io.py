"""csv.gz training files: exact round trip, labels included."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from worker.simulator import (
    CSV_COLUMNS,
    SimulationConfig,
    Transactions,
    read_csv_gz,
    simulate,
    write_csv_gz,
)


@pytest.fixture(scope="module")
def tx() -> Transactions:
    return simulate(SimulationConfig(n_customers=200, n_terminals=400, n_days=40, seed=11))


def test_round_trip_is_exact(tx: Transactions, tmp_path: Path) -> None:
    path = tmp_path / "train.csv.gz"
    write_csv_gz(tx, path)
    back = read_csv_gz(path)
    assert back.equals(tx)
    for name, column in tx.columns().items():
        assert getattr(back, name).dtype == column.dtype, name
        assert np.array_equal(getattr(back, name), column), name
    assert np.array_equal(back.labels.fraud_scenario, tx.labels.fraud_scenario)
    assert back.labels.is_fraud.any()
    # The extension fields come back as strings and booleans, with all their values.
    assert {"entry_mode", "cardholder_verified"} <= set(CSV_COLUMNS)
    assert set(back.entry_mode.tolist()) == set(tx.entry_mode.tolist()) >= {"chip", "keyed"}
    assert back.cardholder_verified.dtype == np.bool_
    assert back.cardholder_verified.any() and not back.cardholder_verified.all()


def test_file_layout_and_determinism(tx: Transactions, tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv.gz", tmp_path / "b.csv.gz"
    write_csv_gz(tx, a)
    write_csv_gz(tx, str(b))
    assert a.read_bytes() == b.read_bytes()
    with gzip.open(a, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0].split(",") == list(CSV_COLUMNS)
    assert CSV_COLUMNS[-2:] == ("is_fraud", "fraud_scenario")
    assert len(lines) == len(tx) + 1


def test_empty_round_trip(tx: Transactions, tmp_path: Path) -> None:
    empty = tx.slice(np.zeros(len(tx), dtype=bool))
    path = tmp_path / "empty.csv.gz"
    write_csv_gz(empty, path)
    back = read_csv_gz(path)
    assert len(back) == 0
    assert back.equals(empty)


def test_bad_files_are_rejected(tx: Transactions, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("a,b\n1,2\n")
    with pytest.raises(ValueError, match="header"):
        read_csv_gz(path)
    good = tmp_path / "good.csv.gz"
    write_csv_gz(tx.slice(slice(0, 3)), good)
    with gzip.open(good, "rt", encoding="utf-8") as f:
        text = f.read()
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text + "x,y\n")
    with pytest.raises(ValueError, match="line 5"):
        read_csv_gz(path)
