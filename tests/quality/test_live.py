"""The rolling live tracker: matured results only, inside the window, on a bounded sample."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from tests.quality.synthetic import START_MS, results
from worker.events import MS_PER_DAY
from worker.ids import id_hash
from worker.quality.follow import LiveMetrics, summary_line
from worker.quality.live import LiveConfig, RollingQuality
from worker.quality.results import REVIEW, SOURCE_NAMES, Results

DAY = MS_PER_DAY


def _columns(r: Results) -> dict[str, Any]:
    return {
        "transaction_id": r.transaction_id,
        "card_id": r.card_id,
        "event_time_ms": r.event_time_ms,
        "score": r.score,
        "decision": r.decision,
        "source": r.source,
    }


def _feed(tracker: RollingQuality, r: Results, fraud: np.ndarray, batches: int = 7) -> None:
    for part in np.array_split(np.arange(len(r)), batches):
        tracker.add_results(_columns(r.take(part)))
        tracker.add_frauds(r.transaction_id[part][fraud[part]], r.event_time_ms[part][fraud[part]])


def test_only_matured_results_inside_the_window_count() -> None:
    scored, fraud = results(20_000, days=21, seed=1, sources=("primary", "fallback"))
    tracker = RollingQuality(LiveConfig(7 * DAY, 5 * DAY, sample_rate=1.0))
    _feed(tracker, scored, fraud)
    newest = int(scored.event_time_ms.max())
    assert tracker.window() == (newest - 12 * DAY, newest - 7 * DAY)
    figures = tracker.figures()
    inside = (scored.event_time_ms >= newest - 12 * DAY) & (
        scored.event_time_ms <= newest - 7 * DAY
    )
    assert figures[("all", False)]["labelled_results"] == inside.sum()
    expected = average_precision_score(fraud[inside], scored.score[inside])
    assert figures[("all", False)]["average_precision"] == pytest.approx(expected)
    primary = inside & (scored.source == SOURCE_NAMES.index("primary"))
    assert figures[("primary", False)]["labelled_results"] == primary.sum()
    review = primary & (scored.decision == REVIEW)
    assert figures[("primary", False)]["review_precision"] == pytest.approx(fraud[review].mean())
    flagged = primary & (scored.decision > 0)
    recall = fraud[flagged].sum() / fraud[primary].sum()
    assert figures[("primary", False)]["recall_at_review"] == pytest.approx(recall)


def test_results_newer_than_the_label_delay_do_not_count_yet() -> None:
    scored, fraud = results(2000, days=5, seed=2)
    tracker = RollingQuality(LiveConfig(7 * DAY, 7 * DAY, sample_rate=1.0))
    _feed(tracker, scored, fraud)
    nothing = tracker.figures()  # five days of results: none is a week old yet
    assert list(nothing) == [("all", False)]
    assert nothing[("all", False)]["labelled_results"] == 0
    later, _ = results(10, days=1, seed=3)
    moved = Results(
        np.char.add(b"late_", later.transaction_id),
        later.card_id,
        later.event_time_ms + 9 * DAY,
        later.score,
        later.decision,
        later.source,
    )
    tracker.add_results(_columns(moved))
    matured = tracker.figures()[("all", False)]["labelled_results"]
    cut = int(moved.event_time_ms.max()) - 7 * DAY
    assert matured == int((scored.event_time_ms <= cut).sum())


def test_memory_stays_bounded_and_the_oldest_go_first() -> None:
    scored, _ = results(30_000, days=30, seed=4)
    config = LiveConfig(1 * DAY, 60 * DAY, sample_rate=1.0, max_rows=4000)
    tracker = RollingQuality(config)
    for part in np.array_split(np.arange(len(scored)), 60):
        tracker.add_results(_columns(scored.take(part)))
        assert len(tracker.scored) <= config.max_rows + config.max_rows // 4 + len(part)
    tracker.figures()
    assert len(tracker.scored) == config.max_rows
    kept = tracker.scored.columns["event_time_ms"]
    assert kept.min() >= np.sort(scored.event_time_ms)[-config.max_rows]


def test_the_sample_is_deterministic_and_the_same_in_every_stream() -> None:
    scored, fraud = results(40_000, days=20, seed=5)
    config = LiveConfig(2 * DAY, 30 * DAY, sample_rate=0.25)
    kept = config.sampled(id_hash(scored.transaction_id))
    assert 0.23 < kept.mean() < 0.27
    assert (kept == config.sampled(id_hash(scored.transaction_id.astype("S40")))).all()
    tracker = RollingQuality(config)
    _feed(tracker, scored, fraud)
    figures = tracker.figures()[("all", False)]
    matured = scored.event_time_ms <= int(scored.event_time_ms.max()) - 2 * DAY
    rows = kept & matured
    assert figures["labelled_results"] == rows.sum()
    assert figures["frauds"] == fraud[rows].sum()  # every sampled result found its label


def test_a_redelivered_result_counts_once_and_shadow_levels_apart() -> None:
    scored, fraud = results(3000, days=10, seed=6)
    tracker = RollingQuality(LiveConfig(1 * DAY, 30 * DAY, sample_rate=1.0))
    _feed(tracker, scored, fraud)
    _feed(tracker, scored.take(np.arange(500)), fraud[:500])  # redelivered
    rules = SOURCE_NAMES.index("rules")
    shadow = Results(
        scored.transaction_id[:800],
        scored.card_id[:800],
        scored.event_time_ms[:800],
        1 - scored.score[:800],
        scored.decision[:800],
        np.full(800, rules, dtype=np.int8),
    )
    tracker.add_results(_columns(shadow), shadow=True)
    tracker.add_results(_columns(shadow), shadow=True)
    figures = tracker.figures()
    cut = int(scored.event_time_ms.max()) - DAY
    assert figures[("all", False)]["labelled_results"] == (scored.event_time_ms <= cut).sum()
    assert figures[("rules", True)]["labelled_results"] == 800
    assert (
        figures[("rules", True)]["average_precision"] < figures[("all", False)]["average_precision"]
    )


def test_gauges_per_source_and_a_level_that_stops_answering() -> None:
    scored, fraud = results(6000, days=12, seed=7, sources=("primary", "fallback"))
    tracker = RollingQuality(LiveConfig(2 * DAY, 5 * DAY, sample_rate=1.0))
    _feed(tracker, scored, fraud)
    metrics = LiveMetrics()
    figures = metrics.update(tracker)
    value = metrics.registry.get_sample_value
    ap = value("fraud_live_average_precision", {"source": "fallback", "shadow": "false"})
    assert ap == pytest.approx(figures[("fallback", False)]["average_precision"])
    count = value("fraud_live_labelled_results", {"source": "all", "shadow": "false"})
    assert count == figures[("all", False)]["labelled_results"] > 0
    assert value("fraud_live_window_end_seconds") == pytest.approx(
        (int(scored.event_time_ms.max()) - 2 * DAY) / 1000
    )
    low = int(scored.event_time_ms.max()) - 7 * DAY  # older than the window: evicted
    kept = (scored.event_time_ms >= low).sum()
    assert value("fraud_live_kept_rows", {"stream": "scored"}) == kept
    # Ten days on, only the primary answers: the fallback's gauges empty out.
    later = Results(
        np.char.add(b"n", scored.transaction_id),
        scored.card_id,
        scored.event_time_ms + 10 * DAY,
        scored.score,
        scored.decision,
        np.full(len(scored), SOURCE_NAMES.index("primary"), dtype=np.int8),
    )
    _feed(tracker, later, fraud)
    metrics.update(tracker)
    labels = {"source": "fallback", "shadow": "false"}
    assert value("fraud_live_labelled_results", labels) == 0
    assert math.isnan(value("fraud_live_average_precision", labels) or 0.0)
    assert "primary: " in summary_line(tracker.figures())


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError):
        LiveConfig(sample_rate=0)
    with pytest.raises(ValueError):
        LiveConfig(window_ms=0)
    assert START_MS > 0
