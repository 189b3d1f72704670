"""What makes readiness honest: every artifact that failed to load is named (in
``runtime.problems``, a WARNING log and a gauge), and every breaker transition is logged at
WARNING with the rates that caused it."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from worker.breaker import CircuitBreaker
from worker.metrics import WorkerMetrics
from worker.runtime import ARTIFACTS, breaker_config, build_runtime, log_transition
from worker.settings import BreakerSettings, Settings

REPO = Path(__file__).resolve().parents[2]


def settings_with(models_dir: Path, rules_path: Path) -> Settings:
    return Settings.model_validate(
        {"worker": {"models_dir": str(models_dir), "rules_path": str(rules_path)}}
    )


def gauges(metrics: WorkerMetrics) -> dict[str, float | None]:
    value = metrics.registry.get_sample_value
    return {name: value("fraud_artifact_load_failed", {"artifact": name}) for name in ARTIFACTS}


def test_no_models_and_no_rules_name_every_level(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="worker.runtime")
    runtime = build_runtime(settings_with(tmp_path / "models", tmp_path / "rules.yaml"))
    try:
        assert sorted(runtime.load_failures) == sorted(ARTIFACTS)
        assert [p.split(":")[0] for p in runtime.problems] == list(ARTIFACTS)
        warned = {r.getMessage().split()[0] for r in caplog.records if r.levelno == logging.WARNING}
        assert warned == set(ARTIFACTS)
        metrics = WorkerMetrics()
        metrics.observe_load(ARTIFACTS, runtime.load_failures)
        assert gauges(metrics) == dict.fromkeys(ARTIFACTS, 1.0)
    finally:
        runtime.close()


def test_an_invalid_manifest_and_a_broken_fallback_are_named(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(REPO / "models", models, ignore=shutil.ignore_patterns("report"))
    (models / "fallback.lgb.txt").write_text("tampered")
    runtime = build_runtime(settings_with(models, REPO / "rules" / "rules.yaml"))
    try:
        assert list(runtime.load_failures) == ["fallback"]
        assert "fallback.lgb.txt" in runtime.problems[0]
        metrics = WorkerMetrics()
        metrics.observe_load(ARTIFACTS, runtime.load_failures)
        assert gauges(metrics) == {"manifest": 0, "primary": 0, "fallback": 1, "rules": 0}
    finally:
        runtime.close()
    (models / "manifest.json").write_text("{not json")
    runtime = build_runtime(settings_with(models, REPO / "rules" / "rules.yaml"))
    try:
        assert sorted(runtime.load_failures) == ["fallback", "manifest", "primary"]
        assert "not a valid manifest" in runtime.load_failures["manifest"]
    finally:
        runtime.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_transitions_are_logged_with_their_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="worker.runtime")
    config = breaker_config(
        BreakerSettings(window_size=10, minimum_calls=10, open_wait_s=5, half_open_permits=2)
    )
    clock = FakeClock()
    breaker = CircuitBreaker("cache", config, clock)
    breaker.add_listener(log_transition(breaker))
    for failed in [True] * 6 + [False] * 4:
        breaker.try_acquire()
        breaker.record(0.001, failed)
    clock.now = 5.0
    for _ in range(2):
        assert breaker.try_acquire()
        breaker.record(0.001, failed=False)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert lines == [
        "breaker cache closed -> open (failure rate 0.60, slow-call rate 0.00 over 10 calls; "
        "open for 5 s)",
        "breaker cache open -> half_open (open wait of 5 s over; 2 trial calls let through)",
        "breaker cache half_open -> closed (2 trial calls under the failure and slow-call "
        "thresholds)",
    ]


def test_the_runtime_logs_its_breakers(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.WARNING, logger="worker.runtime")
    runtime = build_runtime(settings_with(tmp_path, tmp_path / "rules.yaml"))
    try:
        breaker = runtime.breakers["feature_store"]
        for _ in range(breaker.config.window_size):
            breaker.try_acquire()
            breaker.record(0.001, failed=True)
    finally:
        runtime.close()
    assert any(
        r.getMessage().startswith("breaker feature_store closed -> open (failure rate 1.00")
        for r in caplog.records
    )
