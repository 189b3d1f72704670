"""The last result per transaction, the join with the labels, the range of days."""

from __future__ import annotations

import numpy as np

from tests.quality.synthetic import START, START_MS
from worker.events import MS_PER_DAY
from worker.quality.results import (
    LABEL_OUTCOMES,
    SOURCE_NAMES,
    Results,
    as_id_bytes,
    fraud_ids,
    is_fraud,
    last_rows,
)


def _results(ids: list[str], scores: list[float], sources: list[str] | None = None) -> Results:
    n = len(ids)
    return Results.from_columns(
        {
            "transaction_id": ids,
            "card_id": ["c"] * n,
            "event_time_ms": [START_MS + i for i in range(n)],
            "score": scores,
            "decision": [0] * n,
            "source": [SOURCE_NAMES.index(s) for s in sources or ["primary"] * n],
        }
    )


def test_a_redelivered_result_counts_once_and_the_later_one_wins() -> None:
    got = _results(["a", "b", "a", "c", "b"], [0.1, 0.2, 0.3, 0.4, 0.5]).last_per_transaction()
    assert got.transaction_id.tolist() == [b"a", b"c", b"b"]
    assert got.score.tolist() == [0.3, 0.4, 0.5]


def test_shadow_results_are_kept_per_transaction_and_source() -> None:
    shadow = _results(
        ["a", "a", "a", "b"], [0.1, 0.2, 0.3, 0.4], ["fallback", "rules", "fallback", "rules"]
    )
    got = shadow.last_per_transaction(per_source=True)
    pairs = list(zip(got.transaction_id.tolist(), got.score.tolist(), strict=True))
    assert pairs == [(b"a", 0.2), (b"a", 0.3), (b"b", 0.4)]


def test_last_rows_on_ids_of_different_widths_and_many_rows() -> None:
    ids = np.array([b"x", b"longer-id", b"x", b"longer-id"], dtype="S12")
    assert last_rows(ids).tolist() == [2, 3]
    rng = np.random.default_rng(1)
    many = as_id_bytes([f"tx_{i}" for i in rng.integers(0, 500, 5000)])
    rows = last_rows(many)
    assert len(rows) == len(np.unique(many))
    expected = {value: index for index, value in enumerate(many.tolist())}
    assert sorted(expected.values()) == rows.tolist()


def test_any_fraud_label_makes_a_transaction_fraud_and_unlabelled_is_legitimate() -> None:
    fraud, legit = LABEL_OUTCOMES.index("fraud"), LABEL_OUTCOMES.index("legitimate")
    labels = as_id_bytes(["a", "b", "a", "d"])
    frauds = fraud_ids(labels, np.array([fraud, legit, legit, fraud], dtype=np.int8))
    assert frauds.tolist() == [b"a", b"d"]
    assert is_fraud(as_id_bytes(["a", "b", "c", "d"]), frauds).tolist() == [
        True,
        False,
        False,
        True,
    ]
    assert is_fraud(as_id_bytes(["a"]), frauds[:0]).tolist() == [False]


def test_days_in_range_are_inclusive_at_both_ends() -> None:
    times = [START_MS + d * MS_PER_DAY + 5 for d in range(6)]
    results = Results.from_columns(
        {
            "transaction_id": [str(d) for d in range(6)],
            "card_id": ["c"] * 6,
            "event_time_ms": times,
            "score": [0.0] * 6,
            "decision": [0] * 6,
            "source": [1] * 6,
        }
    )
    assert results.in_days(START + 1, START + 3).transaction_id.tolist() == [b"1", b"2", b"3"]
    assert len(results.in_days(None, START)) == 1
    assert len(results.in_days(START + 4, None)) == 2


def test_ids_as_str_become_utf8_bytes() -> None:
    assert as_id_bytes(["é", "a"]).tolist() == ["é".encode(), b"a"]
    assert as_id_bytes([]).dtype.kind == "S"
