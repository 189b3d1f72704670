"""``fraud-worker train``: simulate, build features, train both models and calibrate them,
tune the rules, evaluate every ladder level on held-out weeks, and write artifacts, manifest
and report. Deterministic: the same seed gives the same artifacts and metrics.

The shipped models are trained on terminal risk as the chargeback feed delivers it (what
the worker is served live); a second primary, trained and tested with every label known
(the handbook's setting), is measured for the report only.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from worker.features.event import EVENT_FEATURES
from worker.features.stateful import STATEFUL_FEATURES
from worker.models.fallback import FallbackModel
from worker.models.manifest import (
    Artifact,
    Calibration,
    Manifest,
    save_manifest,
    sha256_file,
)
from worker.models.primary import PrimaryModel
from worker.rules.engine import RuleSet, load_rules
from worker.simulator import SimulationConfig
from worker.simulator.labels import ChargebackConfig
from worker.training.calibration import Calibrated, fit_platt, sigmoid
from worker.training.dataset import Dataset, Features, SplitConfig, build_dataset
from worker.training.fallback import predict_timings_ms, train_lightgbm
from worker.training.primary import MlpWeights, calibrated, logits, to_onnx, train_mlp
from worker.training.report import write_report
from worker.training.rules_tuning import tune_weights, write_rules
from worker.training.summary import calibration_summary, data_summary, level_measures, span

PRIMARY_FILE = "primary.onnx"
FALLBACK_FILE = "fallback.lgb.txt"
PRIMARY_FEATURES = [*EVENT_FEATURES, *STATEFUL_FEATURES]
PRIMARY = "primary (ONNX MLP)"
FALLBACK = "fallback (LightGBM)"
OFFLINE_PRIMARY = "primary (MLP trained on all labels known, report only)"
REFERENCE = "reference: logistic regression, handbook features"


@dataclass(frozen=True)
class TrainConfig:
    models_dir: Path
    rules_path: Path
    simulation: SimulationConfig
    split: SplitConfig
    progress: bool = True
    labels: ChargebackConfig = field(default_factory=ChargebackConfig)


def _artifact(
    models_dir: Path, file: str, kind: str, features: list[str], calibration: Calibration
) -> Artifact:
    return Artifact(
        file=file,
        sha256=sha256_file(models_dir / file),
        kind=kind,
        features=features,
        calibration=calibration,
    )


def _fit_primary(data: Dataset, features: Features, seed: int) -> tuple[MlpWeights, Calibration]:
    """The MLP fitted on the fit days, its Platt scaling on the calibration days."""
    x = data.primary_x(features)
    mlp = train_mlp(x[data.fit], data.is_fraud[data.fit], seed)
    z = logits(mlp, x[data.calibrate])
    return mlp, fit_platt(z, data.is_fraud[data.calibrate], in_model=True)


def _test_scores(
    data: Dataset, features: Features, mlp: MlpWeights, cal: Calibration
) -> Calibrated:
    z = logits(mlp, data.primary_x(features)[data.test])
    return Calibrated(cal, sigmoid(z), cal.apply(z))


def _reference_scores(data: Dataset, features: Features, seed: int) -> NDArray[np.float64]:
    """The handbook's logistic regression on its 15 features, as a reference row."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    model.fit(features.handbook_x[data.train], data.is_fraud[data.train])
    return np.asarray(model.predict_proba(features.handbook_x[data.test])[:, 1], dtype=np.float64)


def _train_fallback(data: Dataset, models_dir: Path, seed: int) -> tuple[Calibrated, lgb.Booster]:
    """LightGBM fitted on the fit days and saved; Platt scaling of its raw score fitted on the
    calibration days, applied by the loader (``in_model=False``)."""
    x, y = data.event_x, data.is_fraud
    booster = train_lightgbm(x[data.fit], y[data.fit], list(EVENT_FEATURES), seed)
    booster.save_model(str(models_dir / FALLBACK_FILE))

    def raw(rows: NDArray[np.bool_]) -> NDArray[np.float64]:
        return np.asarray(booster.predict(x[rows], raw_score=True), dtype=np.float64)

    cal = fit_platt(raw(data.calibrate), y[data.calibrate], in_model=False)
    test_raw = raw(data.test)
    return Calibrated(cal, sigmoid(test_raw), cal.apply(test_raw)), booster


def _draft_manifest(models_dir: Path, primary: Calibration, fallback: Calibration) -> Manifest:
    artifacts = {
        "primary": _artifact(models_dir, PRIMARY_FILE, "onnx-mlp", PRIMARY_FEATURES, primary),
        "fallback": _artifact(
            models_dir, FALLBACK_FILE, "lightgbm", list(EVENT_FEATURES), fallback
        ),
    }
    digest = hashlib.sha256("".join(a.sha256 for a in artifacts.values()).encode())
    return Manifest(
        model_version=f"fw-{digest.hexdigest()[:12]}", artifacts=artifacts, training={}, metrics={}
    )


def _served_scores(
    models_dir: Path, draft: Manifest, data: Dataset
) -> dict[str, NDArray[np.float64]]:
    """The saved artifacts scored through the serving loaders, not the training objects."""
    primary = PrimaryModel.load(models_dir, draft, prefer_gpu=False, threads=2)
    fallback = FallbackModel.load(models_dir, draft, threads=2)
    te = data.test
    return {
        PRIMARY: primary.predict(data.primary_x(data.feed)[te]).astype(np.float64),
        FALLBACK: fallback.predict(data.event_x[te]),
    }


def _labels_record(labels: ChargebackConfig) -> dict[str, float]:
    return {"delay_days": labels.delay_days, "coverage": labels.coverage}


def _training_record(config: TrainConfig, data: Dataset) -> dict[str, Any]:
    return {
        "simulation": config.simulation.as_dict(),
        "split": config.split.as_dict(),
        "seed": config.simulation.seed,
        "rules_file": config.rules_path.name,
        "labels": _labels_record(config.labels),
        "calibration": {"method": "platt", "days": span(data.day[data.calibrate])},
    }


def _tuned_rules(config: TrainConfig, data: Dataset) -> RuleSet:
    rules = tune_weights(
        load_rules(config.rules_path), data.batch.take(data.train), data.is_fraud[data.train]
    )
    write_rules(rules, config.rules_path)
    return rules


def _level_scores(
    data: Dataset,
    served: dict[str, NDArray[np.float64]],
    rules: RuleSet,
    offline: Calibrated,
    seed: int,
) -> tuple[dict[str, NDArray[np.float64]], dict[str, NDArray[np.float64]]]:
    """Test scores per level: expected live (features from the feed: the shipped models) and
    offline (all labels known: the report-only primary). Levels that use no terminal risk
    score the same in both."""
    others = {
        FALLBACK: served[FALLBACK],
        "rules": rules.score(data.batch.take(data.test)).scores,
        "safe default": np.zeros(int(data.test.sum()), dtype=np.float64),
    }
    live = {PRIMARY: served[PRIMARY], **others}
    live[REFERENCE] = _reference_scores(data, data.feed, seed)
    truth = {OFFLINE_PRIMARY: offline.after, **others}
    truth[REFERENCE] = _reference_scores(data, data.truth, seed)
    return live, truth


def train(config: TrainConfig) -> Manifest:
    started = time.perf_counter()
    seed = config.simulation.seed
    models_dir = config.models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    steps = tqdm(total=8, desc="train", unit="step", disable=not config.progress)

    def step(name: str) -> None:
        steps.set_postfix_str(name)
        steps.update(1)

    data = build_dataset(config.simulation, config.split, config.labels)
    step("data and features")

    fallback, booster = _train_fallback(data, models_dir, seed)
    timings = predict_timings_ms(booster, data.event_x[data.test])
    step("fallback")

    mlp, primary_cal = _fit_primary(data, data.feed, seed)
    (models_dir / PRIMARY_FILE).write_bytes(to_onnx(calibrated(mlp, primary_cal), PRIMARY_FEATURES))
    primary = _test_scores(data, data.feed, mlp, primary_cal)
    step("primary")

    offline = _test_scores(data, data.truth, *_fit_primary(data, data.truth, seed))
    step("offline primary")

    rules = _tuned_rules(config, data)
    step("rules")

    draft = _draft_manifest(models_dir, primary_cal, fallback.calibration)
    served = _served_scores(models_dir, draft, data)
    live, truth = _level_scores(data, served, rules, offline, seed)
    step("evaluate levels")

    levels = {
        "expected_live": level_measures(data, live),
        "offline_all_labels_known": level_measures(data, truth),
    }
    # The "after" scores are the served artifacts' own: the same figures as the levels'.
    calibrated_levels = {
        PRIMARY: Calibrated(primary_cal, primary.before, served[PRIMARY]),
        FALLBACK: Calibrated(fallback.calibration, fallback.before, served[FALLBACK]),
    }
    summary = {
        "model_version": draft.model_version,
        **levels,
        "calibration": calibration_summary(data, calibrated_levels),
        "labels": _labels_record(config.labels),
        "fallback_predict_ms_one_thread": timings,
        "train_seconds": round(time.perf_counter() - started, 1),
        "data": data_summary(data),
    }
    curves = {**live, OFFLINE_PRIMARY: offline.after}
    write_report(models_dir / "report", summary, data.is_fraud[data.test], curves)
    # Timings vary from run to run: they live in the report, not in the manifest.
    manifest = draft.model_copy(
        update={"training": _training_record(config, data), "metrics": levels}
    )
    save_manifest(models_dir, manifest)
    step("write")
    steps.close()
    return manifest
