"""`fraud-worker train` on a small simulation: deterministic, and its artifacts load."""

from __future__ import annotations

import shutil
from pathlib import Path

from worker.cli_train import short_split
from worker.models.fallback import FallbackModel
from worker.models.manifest import load_manifest
from worker.models.primary import PrimaryModel
from worker.simulator import SimulationConfig
from worker.training.pipeline import TrainConfig, train

RULES = Path(__file__).resolve().parents[2] / "rules" / "rules.yaml"
SMALL = SimulationConfig(n_customers=400, n_terminals=800, n_days=90, seed=5)


def run_train(root: Path) -> Path:
    root.mkdir()
    shutil.copy(RULES, root / "rules.yaml")
    config = TrainConfig(root / "models", root / "rules.yaml", SMALL, short_split(90), False)
    train(config)
    return root


def test_the_same_seed_gives_the_same_artifacts_and_metrics(tmp_path: Path) -> None:
    first, second = run_train(tmp_path / "a"), run_train(tmp_path / "b")
    for name in ("models/manifest.json", "models/primary.onnx", "models/fallback.lgb.txt"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "rules.yaml").read_text() == (second / "rules.yaml").read_text()

    manifest = load_manifest(first / "models")
    levels = manifest.metrics["levels"]
    assert set(levels) >= {"primary (ONNX MLP)", "fallback (LightGBM)", "rules", "safe default"}
    assert manifest.training["seed"] == 5
    assert (first / "models" / "report" / "pr_curves.png").stat().st_size > 10_000
    PrimaryModel.load(first / "models", manifest, prefer_gpu=False)
    FallbackModel.load(first / "models", manifest)
