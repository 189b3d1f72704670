"""``fraud-worker evaluate`` on the real broker: scored, shadow and labels topics written with
the real encoders, read back, joined and measured; and the live gauges of ``--follow``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from tests.integration.harness import REGISTRY
from worker.cli import app
from worker.codec import RecordEncoder
from worker.events import MS_PER_DAY
from worker.kafka.config import client_config
from worker.quality.days import epoch_day
from worker.quality.follow import Follower, LiveMetrics
from worker.quality.live import LiveConfig, RollingQuality
from worker.quality.offline import Sources
from worker.quality.truth import write_truth
from worker.settings import Settings
from worker.training.evaluate import measure

START = epoch_day(date(2026, 8, 1))  # day 0
EVENTS = 400
DAYS = 8


def _history(seed: int = 5) -> dict[str, Any]:
    """Events over days 0..7: score, source, decision per event; which are fraud; which of
    the frauds got a chargeback (the rest are never reported)."""
    rng = np.random.default_rng(seed)
    fraud = rng.random(EVENTS) < 0.12
    score = np.clip(rng.random(EVENTS) * 0.6 + fraud * rng.random(EVENTS) * 0.5, 0, 1)
    return {
        "tx": [f"tx_it_{seed}_{i:05d}" for i in range(EVENTS)],
        "card": [f"card_{i % 90:03d}" for i in range(EVENTS)],
        "time": START * MS_PER_DAY + np.sort(rng.integers(0, DAYS * MS_PER_DAY, EVENTS)),
        "score": score,
        "source": rng.choice(
            ["primary", "cache", "fallback", "rules"], EVENTS, p=[0.7, 0.1, 0.1, 0.1]
        ),
        "decision": np.where(score >= 0.85, "block", np.where(score >= 0.5, "review", "allow")),
        "fraud": fraud,
        "reported": fraud & (rng.random(EVENTS) < 0.9),
        "shadowed": rng.random(EVENTS) < 0.4,
    }


def _result(h: dict[str, Any], i: int, **overrides: Any) -> dict[str, Any]:
    source = overrides.pop("source", str(h["source"][i]))
    return {
        "transaction_id": h["tx"][i],
        "card_id": h["card"][i],
        "event_time_ms": int(h["time"][i]),
        "score": float(overrides.pop("score", h["score"][i])),
        "decision": str(h["decision"][i]),
        "source": source,
        "model_version": "mlp-test",
        "confidence": 1.0,
        "reasons": [],
        "degraded": source != "primary",
        "failed_dependencies": [],
        "input_flags": [],
        "scoring_latency_ms": 1.0,
        "scored_at_ms": int(h["time"][i]),
    }


def _label(h: dict[str, Any], i: int, outcome: str, source: str) -> dict[str, Any]:
    return {
        "transaction_id": h["tx"][i],
        "card_id": h["card"][i],
        "terminal_id": "term_1",
        "event_time_ms": int(h["time"][i]),
        "outcome": outcome,
        "label_source": source,
        "known_at_ms": int(h["time"][i]) + 7 * MS_PER_DAY,
        "decided_by": None,
        "note": None,
    }


def _shadow_score(h: dict[str, Any], i: int, source: str) -> float:
    return float(np.clip(h["score"][i] * (0.8 if source == "fallback" else 0.5) + 0.05, 0, 1))


def _produce(settings: Settings, topics: dict[str, str], h: dict[str, Any]) -> None:
    scored = RecordEncoder(REGISTRY, settings.schemas.scored_subject)
    shadow = RecordEncoder(REGISTRY, settings.schemas.shadow_subject)
    labels = RecordEncoder(REGISTRY, settings.schemas.labels_subject)
    producer = Producer(client_config(settings))
    for i in range(EVENTS):
        key = h["card"][i].encode()
        if i % 10 == 0:  # delivered twice: first with another score, the later one counts
            producer.produce(topics["scored"], scored.encode(_result(h, i, score=0.0)), key)
        producer.produce(topics["scored"], scored.encode(_result(h, i)), key)
        if h["shadowed"][i] and h["source"][i] == "primary":
            for level in ("fallback", "rules"):
                value = _result(h, i, source=level, score=_shadow_score(h, i, level))
                producer.produce(topics["shadow"], shadow.encode(value), key)
        if h["reported"][i]:
            producer.produce(
                topics["labels"], labels.encode(_label(h, i, "fraud", "chargeback")), key
            )
        elif i % 7 == 0:  # an analyst cleared it: legitimate, as unlabelled would be
            producer.produce(
                topics["labels"], labels.encode(_label(h, i, "legitimate", "analyst")), key
            )
    assert producer.flush(30) == 0


def _expected(
    h: dict[str, Any], fraud: np.ndarray, rows: np.ndarray, score: np.ndarray
) -> dict[str, float]:
    day = (h["time"][rows] // MS_PER_DAY).astype(np.int32)
    return measure(score[rows], fraud[rows], np.array(h["card"], dtype=object)[rows], day)


@pytest.fixture
def history(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> tuple[dict[str, str], dict[str, Any]]:
    topics = {"scored": make_topic(3), "shadow": make_topic(3), "labels": make_topic(2)}
    h = _history()
    _produce(live_stack, topics, h)
    return topics, h


def _evaluate(topics: dict[str, str], out: Path, *extra: str) -> dict[str, Any]:
    args = [
        "evaluate",
        "--scored-topic", topics["scored"],
        "--shadow-topic", topics["shadow"],
        "--labels-topic", topics["labels"],
        "--out", str(out),
        "--no-progress",
        *extra,
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "fallback (shadow)" in result.output
    for name in ("evaluation.json", "pr_curves.png", "daily_average_precision.png"):
        assert (out / name).stat().st_size > 0
    data: dict[str, Any] = json.loads((out / "evaluation.json").read_text())
    return data


def test_evaluate_joins_the_topics_and_measures_each_level(
    history: tuple[dict[str, str], dict[str, Any]], tmp_path: Path
) -> None:
    topics, h = history
    report = _evaluate(
        topics, tmp_path, "--start-date", "2026-08-01", "--first-day", "2", "--last-day", "6"
    )
    day = h["time"] // MS_PER_DAY - START
    in_range = (day >= 2) & (day <= 6)
    known = h["reported"]  # the labels topic knows the reported frauds only
    assert report["range"]["first_date"] == "2026-08-03" and report["range"]["last_day"] == 6
    assert report["events"] == in_range.sum()  # each redelivered event once
    assert report["frauds"] == (known & in_range).sum()
    inputs = report["inputs"]["topics"]
    assert inputs[topics["scored"]]["records"] == EVENTS + EVENTS // 10
    assert inputs[topics["scored"]]["undecodable"] == 0

    levels = report["levels"]
    expected = _expected(h, known, in_range, h["score"])
    for key, value in expected.items():
        assert levels["all"][key] == pytest.approx(value), key
    primary = in_range & (h["source"] == "primary")
    assert levels["primary"]["events"] == primary.sum()
    assert levels["primary"]["average_precision"] == pytest.approx(
        _expected(h, known, primary, h["score"])["average_precision"]
    )
    review = in_range & (h["decision"] == "review")
    load = levels["all"]["analyst_load"]
    assert load["review_per_1000"] == pytest.approx(1000 * review.sum() / in_range.sum())
    assert load["review_precision"] == pytest.approx(known[review].mean())

    shadowed = primary & h["shadowed"]
    for level in ("fallback", "rules"):
        figures = levels[f"{level} (shadow)"]
        assert figures["events"] == shadowed.sum()
        score = np.array([_shadow_score(h, i, level) for i in range(EVENTS)])
        ap = _expected(h, known, shadowed, score)["average_precision"]
        assert figures["average_precision"] == pytest.approx(ap)
        assert figures["real_on_same_events"]["events"] == shadowed.sum()
    assert [d["day"] for d in levels["all"]["daily"]] == [2, 3, 4, 5, 6]


def test_a_truth_file_counts_every_fraud(
    history: tuple[dict[str, str], dict[str, Any]], tmp_path: Path
) -> None:
    topics, h = history
    truth = write_truth(tmp_path / "truth.npz", h["tx"], h["fraud"])
    report = _evaluate(topics, tmp_path / "out", "--truth", str(truth))
    assert report["events"] == EVENTS
    assert report["frauds"] == h["fraud"].sum() > h["reported"].sum()
    expected = _expected(h, h["fraud"], np.ones(EVENTS, bool), h["score"])
    assert report["levels"]["all"]["average_precision"] == pytest.approx(
        expected["average_precision"]
    )
    assert report["inputs"]["labels"] == str(truth)


def test_follow_exports_live_figures_per_source(
    live_stack: Settings, history: tuple[dict[str, str], dict[str, Any]]
) -> None:
    topics, h = history
    sources = Sources(topics["scored"], topics["shadow"], topics["labels"])
    config = LiveConfig(label_delay_ms=2 * MS_PER_DAY, window_ms=30 * MS_PER_DAY, sample_rate=1.0)
    metrics = LiveMetrics()
    follower = Follower(live_stack, sources, RollingQuality(config), metrics)
    shadow = 2 * int((h["shadowed"] & (h["source"] == "primary")).sum())
    cleared = ~h["reported"] & (np.arange(EVENTS) % 7 == 0)
    records = EVENTS + EVENTS // 10 + shadow + int(h["reported"].sum() + cleared.sum())
    deadline = time.monotonic() + 60
    seen = 0
    try:
        while seen < records and time.monotonic() < deadline:
            seen += follower.poll_once(0.5)
    finally:
        follower.consumer.close()
    assert seen == records
    metrics.update(follower.tracker)
    value = metrics.registry.get_sample_value
    matured = h["time"] <= int(h["time"].max()) - 2 * MS_PER_DAY
    count = value("fraud_live_labelled_results", {"source": "all", "shadow": "false"})
    assert count == matured.sum()
    ap = value("fraud_live_average_precision", {"source": "all", "shadow": "false"})
    assert ap == pytest.approx(
        _expected(h, h["reported"], matured, h["score"])["average_precision"]
    )
    rules = value("fraud_live_labelled_results", {"source": "rules", "shadow": "true"})
    assert rules == (matured & h["shadowed"] & (h["source"] == "primary")).sum()
