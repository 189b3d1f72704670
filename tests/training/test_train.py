"""`fraud-worker train` on a small simulation: deterministic, its artifacts load and answer
calibrated probabilities, and its report names both card precision@100 definitions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from worker.cli import app
from worker.cli_train import short_split
from worker.models.fallback import FallbackModel
from worker.models.manifest import Manifest, load_manifest
from worker.models.primary import PrimaryModel
from worker.simulator import SimulationConfig
from worker.simulator.labels import ChargebackConfig
from worker.training import pipeline
from worker.training.pipeline import TrainConfig, train

RULES = Path(__file__).resolve().parents[2] / "rules" / "rules.yaml"
SMALL = SimulationConfig(n_customers=400, n_terminals=800, n_days=90, seed=5)
LEVEL_MEASURES = {
    "roc_auc",
    "average_precision",
    "card_precision_at_100",
    "card_precision_at_100_handbook",
    "brier",
}


def run_train(root: Path) -> Path:
    root.mkdir()
    shutil.copy(RULES, root / "rules.yaml")
    config = TrainConfig(root / "models", root / "rules.yaml", SMALL, short_split(90), False)
    train(config)
    return root


def check_report(report: Path) -> None:
    metrics = json.loads((report / "metrics.json").read_text())
    for setting in ("expected_live", "offline_all_labels_known"):
        for name, measures in metrics[setting].items():
            assert set(measures) == LEVEL_MEASURES, (setting, name)
    for name in ("primary (ONNX MLP)", "fallback (LightGBM)"):
        calibration = metrics["calibration"][name]
        assert {"brier_before", "brier_after", "platt"} <= set(calibration)
        assert len(calibration["reliability_before"]) == len(calibration["reliability_after"])
    text = (report / "README.md").read_text()
    assert "card precision@100, ours" in text and "card precision@100, handbook's" in text
    assert "## Expected live" in text and "## Offline: all labels known" in text
    assert "Reliability, primary (ONNX MLP)" in text
    assert (report / "pr_curves.png").stat().st_size > 10_000


def test_the_same_seed_gives_the_same_artifacts_and_metrics(tmp_path: Path) -> None:
    first, second = run_train(tmp_path / "a"), run_train(tmp_path / "b")
    for name in ("models/manifest.json", "models/primary.onnx", "models/fallback.lgb.txt"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "rules.yaml").read_text() == (second / "rules.yaml").read_text()

    manifest = load_manifest(first / "models")
    live = manifest.metrics["expected_live"]
    assert set(live) >= {"primary (ONNX MLP)", "fallback (LightGBM)", "rules", "safe default"}
    assert set(manifest.metrics["offline_all_labels_known"]) >= {"fallback (LightGBM)"}
    assert manifest.training["seed"] == 5
    assert manifest.training["labels"] == {"delay_days": 7.0, "coverage": 0.9}
    check_report(first / "models" / "report")

    primary_cal = manifest.artifact("primary").calibration
    fallback_cal = manifest.artifact("fallback").calibration
    assert primary_cal is not None and primary_cal.in_model
    assert fallback_cal is not None and not fallback_cal.in_model
    PrimaryModel.load(first / "models", manifest, prefer_gpu=False)
    FallbackModel.load(first / "models", manifest)


def test_the_cli_passes_the_chargeback_feed_to_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[TrainConfig] = []

    def fake_train(config: TrainConfig) -> Manifest:
        seen.append(config)
        (config.models_dir / "report").mkdir(parents=True)
        (config.models_dir / "report" / "README.md").write_text("report\n")
        return Manifest(model_version="fw-test", artifacts={}, training={}, metrics={})

    monkeypatch.setattr(pipeline, "train", fake_train)
    args = ["train", "--models-dir", str(tmp_path / "m"), "--rules", str(tmp_path / "r.yaml")]
    args += ["--label-delay-days", "3.5", "--label-coverage", "0.5", "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen[0].labels == ChargebackConfig(delay_days=3.5, coverage=0.5)
    assert CliRunner().invoke(app, [*args[:-2], "1.5"]).exit_code != 0  # coverage > 1
