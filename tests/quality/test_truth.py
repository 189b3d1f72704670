"""The truth file: written by the simulator command, read by ``evaluate --truth``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worker.quality.truth import TruthFileError, read_truth, write_truth


def test_round_trip_of_str_ids(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ids = np.array([f"tx_{i:09d}" for i in range(100_003)], dtype=object)
    fraud = rng.random(len(ids)) < 0.01
    path = write_truth(tmp_path / "truth.npz", ids, fraud)
    got_ids, got_fraud = read_truth(path)
    assert got_ids.tolist() == [i.encode() for i in ids]
    assert got_fraud.tolist() == fraud.tolist()
    assert path.stat().st_size < 8 * len(ids)  # compact: a few bytes per transaction


def test_the_suffix_is_added_and_bytes_or_utf8_ids_work(tmp_path: Path) -> None:
    path = write_truth(tmp_path / "sub" / "truth", ["é1", "b"], np.array([True, False]))
    assert path.name == "truth.npz"
    ids, fraud = read_truth(path)
    assert ids.tolist() == ["é1".encode(), b"b"] and fraud.tolist() == [True, False]
    path = write_truth(tmp_path / "b.npz", np.array([b"x"]), [1])
    assert read_truth(path)[1].tolist() == [True]


def test_empty_truth(tmp_path: Path) -> None:
    ids, fraud = read_truth(write_truth(tmp_path / "e.npz", [], np.array([], dtype=bool)))
    assert len(ids) == 0 and len(fraud) == 0


def test_mismatched_lengths_and_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 transaction ids but 1"):
        write_truth(tmp_path / "x.npz", ["a", "b"], [True])
    other = tmp_path / "other.npz"
    np.savez(other, something=np.arange(3))
    with pytest.raises(TruthFileError, match="not a truth file"):
        read_truth(other)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(TruthFileError, match="cannot read"):
        read_truth(garbage)
    with pytest.raises(TruthFileError, match="cannot read"):
        read_truth(tmp_path / "missing.npz")
