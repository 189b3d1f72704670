"""The serving loaders answer calibrated probabilities: the fallback applies the manifest's
Platt scaling to LightGBM's raw score, the primary's graph holds its own; the manifest
round-trips the calibration, and a manifest without one still loads."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from worker.models.fallback import FallbackModel
from worker.models.manifest import (
    Artifact,
    ArtifactError,
    Calibration,
    Manifest,
    load_manifest,
    save_manifest,
    sha256_file,
)
from worker.models.primary import PrimaryModel
from worker.training.calibration import sigmoid
from worker.training.primary import MlpWeights, calibrated, logits, to_onnx

MODELS = Path(__file__).resolve().parents[2] / "models"
N_FEATURES = 4
FEATURES = [f"f{i}" for i in range(N_FEATURES)]
PLATT = Calibration(a=0.5, b=-2.0, in_model=False)


def tiny_booster(path: Path) -> lgb.Booster:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, N_FEATURES))
    y = (x[:, 0] + rng.standard_normal(2000) > 1.5).astype(np.float32)
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "deterministic": True}
    booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=10)
    booster.save_model(str(path))
    return booster


def manifest_for(models: Path, name: str, file: str, calibration: Calibration | None) -> Manifest:
    artifact = Artifact(
        file=file,
        sha256=sha256_file(models / file),
        kind="test",
        features=FEATURES,
        calibration=calibration,
    )
    manifest = Manifest(
        model_version="fw-test", artifacts={name: artifact}, training={}, metrics={}
    )
    save_manifest(models, manifest)
    return manifest


def test_the_fallback_applies_platt_to_the_raw_score(tmp_path: Path) -> None:
    booster = tiny_booster(tmp_path / "fallback.txt")
    x = np.random.default_rng(1).standard_normal((64, N_FEATURES)).astype(np.float32)
    plain = FallbackModel.load(tmp_path, manifest_for(tmp_path, "fallback", "fallback.txt", None))
    np.testing.assert_allclose(plain.predict(x), booster.predict(x))

    model = FallbackModel.load(tmp_path, manifest_for(tmp_path, "fallback", "fallback.txt", PLATT))
    raw = np.asarray(booster.predict(x, raw_score=True), dtype=np.float64)
    np.testing.assert_allclose(model.predict(x), sigmoid(0.5 * raw - 2.0), rtol=1e-12)
    assert model.predict(x).shape == (64,)


def test_the_fallback_refuses_a_calibration_said_to_be_in_its_file(tmp_path: Path) -> None:
    tiny_booster(tmp_path / "fallback.txt")
    inside = PLATT.model_copy(update={"in_model": True})
    manifest = manifest_for(tmp_path, "fallback", "fallback.txt", inside)
    with pytest.raises(ArtifactError, match="cannot hold its calibration"):
        FallbackModel.load(tmp_path, manifest)


def test_the_primary_answers_platt_of_its_logit(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    mlp = MlpWeights(
        mean=np.zeros(N_FEATURES, np.float32),
        scale=np.ones(N_FEATURES, np.float32),
        weights=[
            rng.standard_normal((N_FEATURES, 3)).astype(np.float32),
            rng.standard_normal((3, 1)).astype(np.float32),
        ],
        biases=[np.zeros(3, np.float32), np.zeros(1, np.float32)],
    )
    cal = Calibration(a=1.7, b=0.4, in_model=True)
    (tmp_path / "primary.onnx").write_bytes(to_onnx(calibrated(mlp, cal), FEATURES))
    manifest = manifest_for(tmp_path, "primary", "primary.onnx", cal)
    x = rng.standard_normal((32, N_FEATURES)).astype(np.float32)
    model = PrimaryModel.load(tmp_path, manifest, prefer_gpu=False)
    np.testing.assert_allclose(model.predict(x), cal.apply(logits(mlp, x)), rtol=1e-5, atol=1e-6)

    outside = manifest_for(tmp_path, "primary", "primary.onnx", PLATT)
    with pytest.raises(ArtifactError, match="folded into its graph"):
        PrimaryModel.load(tmp_path, outside, prefer_gpu=False)


def test_the_manifest_round_trips_the_calibration(tmp_path: Path) -> None:
    tiny_booster(tmp_path / "fallback.txt")
    manifest = manifest_for(tmp_path, "fallback", "fallback.txt", PLATT)
    loaded = load_manifest(tmp_path)
    assert loaded == manifest
    assert loaded.artifact("fallback").calibration == PLATT


def test_a_manifest_without_calibration_still_loads(tmp_path: Path) -> None:
    tiny_booster(tmp_path / "fallback.txt")
    manifest_for(tmp_path, "fallback", "fallback.txt", None)
    body = json.loads((tmp_path / "manifest.json").read_text())
    del body["artifacts"]["fallback"]["calibration"]  # as written before calibration existed
    (tmp_path / "manifest.json").write_text(json.dumps(body))
    assert load_manifest(tmp_path).artifact("fallback").calibration is None


def test_the_committed_models_are_calibrated() -> None:
    manifest = load_manifest(MODELS)
    primary = manifest.artifact("primary").calibration
    fallback = manifest.artifact("fallback").calibration
    assert primary is not None and primary.in_model
    assert fallback is not None and not fallback.in_model
    assert manifest.training["labels"] == {"delay_days": 7.0, "coverage": 0.9}
