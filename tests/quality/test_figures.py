"""The evaluation over columns: per level, per day, analyst load, on synthetic results."""

from __future__ import annotations

import numpy as np
import pytest

from tests.quality.synthetic import START, code, results
from worker.events import MS_PER_DAY
from worker.quality.days import DayRange
from worker.quality.figures import (
    analyst_load,
    daily_handbook_card_precision,
    evaluate_columns,
)
from worker.quality.results import SOURCE_NAMES, Results
from worker.training.evaluate import card_precision_at_k, measure

FIGURES = ("roc_auc", "average_precision", "card_precision_at_100", "brier")
FIGURES_HB = (*FIGURES, "card_precision_at_100_handbook")


def _measure(r: Results, fraud: np.ndarray) -> dict[str, float]:
    day = (r.event_time_ms // MS_PER_DAY).astype(np.int32)
    return measure(r.score, fraud, r.card_id.astype(object), day)


def _concat(*parts: Results) -> Results:
    return Results(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Results.__dataclass_fields__)
    )


def test_each_level_is_measured_on_its_own_results_with_the_labels_joined() -> None:
    scored, fraud = results(4000, sources=("cache", "primary", "fallback"), seed=3)
    report = evaluate_columns(scored, Results.empty(), scored.transaction_id[fraud])
    levels = report["levels"]
    assert list(levels) == ["all", "cache", "primary", "fallback"]
    assert report["events"] == 4000 and report["frauds"] == int(fraud.sum())
    for name, figures in levels.items():
        rows = np.ones(4000, bool) if name == "all" else scored.source == SOURCE_NAMES.index(name)
        expected = _measure(scored.take(rows), fraud[rows])
        for key in FIGURES_HB:
            assert figures[key] == pytest.approx(expected[key]), (name, key)
        assert figures["events"] == int(rows.sum())
        assert figures["frauds"] == int(fraud[rows].sum())
        assert sum(b["transactions"] for b in figures["reliability"]) == figures["events"]
    assert sum(levels[s]["events"] for s in ("cache", "primary", "fallback")) == 4000


def test_a_redelivered_result_counts_once() -> None:
    scored, fraud = results(2000, seed=4)
    frauds = scored.transaction_id[fraud]
    # The first 300 were delivered twice; the earlier delivery had another score.
    earlier = scored.take(np.arange(300))
    earlier = Results(
        earlier.transaction_id,
        earlier.card_id,
        earlier.event_time_ms,
        1 - earlier.score,
        earlier.decision,
        earlier.source,
    )
    once = evaluate_columns(scored, Results.empty(), frauds, daily=False)
    twice = evaluate_columns(_concat(earlier, scored), Results.empty(), frauds, daily=False)
    assert twice["events"] == 2000
    for key in FIGURES_HB:
        assert twice["levels"]["all"][key] == once["levels"]["all"][key]


def test_shadow_levels_are_measured_on_the_events_they_shadowed() -> None:
    scored, fraud = results(5000, seed=5, fraud_rate=0.08)
    frauds = scored.transaction_id[fraud]
    sampled = np.flatnonzero(np.random.default_rng(0).random(5000) < 0.3)
    base = scored.take(sampled)
    shadows = []
    for source, noise in (("fallback", 0.1), ("rules", 0.3)):
        jitter = np.random.default_rng(len(source)).random(len(base)) * noise
        codes = np.full(len(base), SOURCE_NAMES.index(source), dtype=np.int8)
        shadows.append(
            Results(
                base.transaction_id,
                base.card_id,
                base.event_time_ms,
                np.clip(base.score + jitter, 0, 1),
                base.decision,
                codes,
            )
        )
    report = evaluate_columns(scored, _concat(*shadows), frauds)
    for source, shadow in zip(("fallback", "rules"), shadows, strict=True):
        figures = report["levels"][f"{source} (shadow)"]
        assert figures["kind"] == "shadow"
        assert figures["events"] == len(sampled)
        expected = _measure(shadow, fraud[sampled])
        for key in FIGURES_HB:
            assert figures[key] == pytest.approx(expected[key])
        same = figures["real_on_same_events"]
        assert same["events"] == len(sampled) and same["sources"] == {"primary": len(sampled)}
        real = _measure(base, fraud[sampled])
        assert same["average_precision"] == pytest.approx(real["average_precision"])
    # The real levels are unchanged by the shadow results.
    assert report["levels"]["primary"]["events"] == 5000


def test_analyst_load_counts_per_1000_events_and_precision() -> None:
    n = 2000
    decision = np.zeros(n, dtype=np.int8)
    decision[:40] = code("review")  # 40 reviews, 10 of them fraud
    decision[40:46] = code("block")  # 6 blocks, 4 of them fraud
    fraud = np.zeros(n, dtype=bool)
    fraud[:10] = True
    fraud[40:44] = True
    fraud[100:106] = True  # 6 frauds allowed
    scored = Results(
        np.array([f"t{i}".encode() for i in range(n)]),
        np.array([b"c"] * n),
        np.zeros(n, dtype=np.int64),
        np.zeros(n),
        decision,
        np.ones(n, dtype=np.int8),
    )
    load = analyst_load(scored, fraud)
    assert load["review_per_1000"] == pytest.approx(20.0)
    assert load["block_per_1000"] == pytest.approx(3.0)
    assert load["flagged_per_1000"] == pytest.approx(23.0)
    assert load["review_precision"] == pytest.approx(0.25)
    assert load["block_precision"] == pytest.approx(4 / 6)
    assert load["flagged_precision"] == pytest.approx(14 / 46)
    assert load["flagged_recall"] == pytest.approx(14 / 20)
    empty = analyst_load(scored.take(np.zeros(n, bool)), fraud[:0])
    assert empty["review_per_1000"] is None and empty["review_precision"] is None
    report = evaluate_columns(scored, Results.empty(), scored.transaction_id[fraud], daily=False)
    assert report["analyst_load"] == load == report["levels"]["primary"]["analyst_load"]


def test_only_the_days_in_range_count_and_days_are_numbered_from_the_start() -> None:
    scored, fraud = results(6000, days=10, seed=6)
    frauds = scored.transaction_id[fraud]
    days = DayRange(START + 3, START + 5, START)
    report = evaluate_columns(scored, Results.empty(), frauds, days)
    day = scored.event_time_ms // MS_PER_DAY
    rows = (day >= START + 3) & (day <= START + 5)
    assert report["events"] == int(rows.sum())
    assert report["range"] == {
        "first_date": "2026-04-04",
        "last_date": "2026-04-06",
        "days": 3,
        "start_date": "2026-04-01",
        "first_day": 3,
        "last_day": 5,
    }
    daily = report["levels"]["all"]["daily"]
    assert [(d["date"], d["day"]) for d in daily] == [
        ("2026-04-04", 3),
        ("2026-04-05", 4),
        ("2026-04-06", 5),
    ]
    assert sum(d["events"] for d in daily) == int(rows.sum())
    first = scored.take(rows & (day == START + 3))
    expected = _measure(first, fraud[rows & (day == START + 3)])
    for key in FIGURES:
        assert daily[0][key] == pytest.approx(expected[key])


def test_the_daily_handbook_figures_average_to_the_ranges() -> None:
    scored, _ = results(8000, days=8, seed=7)
    # A compromised card stays compromised: ours counts it again each day, the handbook once.
    card = np.char.decode(scored.card_id).astype(str)
    compromised = np.char.endswith(card, "37")  # 20 of the 2,000 cards
    fraud = compromised & (np.random.default_rng(7).random(8000) < 0.7)
    scored = Results(
        scored.transaction_id,
        scored.card_id,
        scored.event_time_ms,
        np.clip(scored.score + 0.3 * fraud, 0, 1),
        scored.decision,
        scored.source,
    )
    day = (scored.event_time_ms // MS_PER_DAY).astype(np.int32)
    daily = daily_handbook_card_precision(scored.card_id, day, fraud, scored.score, k=20)
    cards = scored.card_id.astype(object)
    whole = card_precision_at_k(cards, day, fraud, scored.score, 20, True)
    ours = card_precision_at_k(cards, day, fraud, scored.score, 20)
    assert np.mean(daily) == pytest.approx(whole)
    assert whole < ours  # cards caught earlier are left out of later days
    report = evaluate_columns(scored, Results.empty(), scored.transaction_id[fraud])
    rows = report["levels"]["all"]["daily"]
    assert np.mean([r["card_precision_at_100_handbook"] for r in rows]) == pytest.approx(
        report["levels"]["all"]["card_precision_at_100_handbook"]
    )


def test_a_level_with_one_class_only_still_reports() -> None:
    scored, _ = results(300, seed=8)
    report = evaluate_columns(scored, Results.empty(), scored.transaction_id[:0])
    figures = report["levels"]["all"]
    assert figures["frauds"] == 0 and figures["roc_auc"] == 0.5
    assert figures["pr_curve"] is None
    assert figures["analyst_load"]["flagged_recall"] is None


def test_card_ids_beyond_ascii_are_measured_like_the_others() -> None:
    scored, fraud = results(2000, days=4, seed=10)
    accented = Results(
        scored.transaction_id,
        np.char.add("é".encode(), scored.card_id),
        scored.event_time_ms,
        scored.score,
        scored.decision,
        scored.source,
    )
    frauds = scored.transaction_id[fraud]
    plain = evaluate_columns(scored, Results.empty(), frauds)["levels"]["all"]
    other = evaluate_columns(accented, Results.empty(), frauds)["levels"]["all"]
    for key in FIGURES_HB:
        assert other[key] == plain[key]
    day = (accented.event_time_ms // MS_PER_DAY).astype(np.int32)
    daily = daily_handbook_card_precision(accented.card_id, day, fraud, accented.score, k=30)
    text = np.char.decode(accented.card_id, "utf-8").astype(object)
    assert np.mean(daily) == pytest.approx(
        card_precision_at_k(text, day, fraud, accented.score, 30, True)
    )
