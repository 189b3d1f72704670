"""``fraud-worker train``: simulate, build features, train both models, tune the rules,
evaluate every ladder level on held-out weeks, and write artifacts, manifest and report.
Deterministic: the same seed gives the same artifacts and metrics.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from worker.features.event import EVENT_FEATURES
from worker.features.stateful import STATEFUL_FEATURES
from worker.models.fallback import FallbackModel
from worker.models.manifest import Artifact, Manifest, save_manifest, sha256_file
from worker.models.primary import PrimaryModel
from worker.rules.engine import load_rules
from worker.simulator import SimulationConfig
from worker.training.dataset import Dataset, SplitConfig, build_dataset
from worker.training.evaluate import measure
from worker.training.fallback import predict_timings_ms, train_lightgbm
from worker.training.primary import to_onnx, train_mlp
from worker.training.report import write_report
from worker.training.rules_tuning import tune_weights, write_rules

PRIMARY_FILE = "primary.onnx"
FALLBACK_FILE = "fallback.lgb.txt"
PRIMARY_FEATURES = [*EVENT_FEATURES, *STATEFUL_FEATURES]


@dataclass(frozen=True)
class TrainConfig:
    models_dir: Path
    rules_path: Path
    simulation: SimulationConfig
    split: SplitConfig
    progress: bool = True


def _artifact(models_dir: Path, file: str, kind: str, features: list[str]) -> Artifact:
    return Artifact(file=file, sha256=sha256_file(models_dir / file), kind=kind, features=features)


def _reference_scores(data: Dataset, seed: int) -> NDArray[np.float64]:
    """The handbook's logistic regression on its 15 features, as a reference row."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    model.fit(data.handbook_x[data.train], data.is_fraud[data.train])
    return np.asarray(model.predict_proba(data.handbook_x[data.test])[:, 1], dtype=np.float64)


def _data_summary(data: Dataset, split: SplitConfig) -> dict[str, Any]:
    test_scenarios = np.bincount(data.scenario[data.test & data.is_fraud], minlength=4)[1:]
    train_end = split.burn_in_days + split.train_days
    return {
        "transactions": len(data.batch),
        "frauds": int(data.is_fraud.sum()),
        "train_days": [split.burn_in_days, train_end - 1],
        "test_days": [split.test_start, split.test_start + split.test_days - 1],
        "train_transactions": int(data.train.sum()),
        "test_transactions": int(data.test.sum()),
        "test_frauds": int(data.is_fraud[data.test].sum()),
        "test_frauds_by_scenario": [int(n) for n in test_scenarios],
    }


def train(config: TrainConfig) -> Manifest:
    seed = config.simulation.seed
    models_dir = config.models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    steps = tqdm(total=7, desc="train", unit="step", disable=not config.progress)

    def step(name: str) -> None:
        steps.set_postfix_str(name)
        steps.update(1)

    data = build_dataset(config.simulation, config.split)
    step("data and features")
    tr, te = data.train, data.test

    booster = train_lightgbm(data.event_x[tr], data.is_fraud[tr], list(EVENT_FEATURES), seed)
    booster.save_model(str(models_dir / FALLBACK_FILE))
    timings = predict_timings_ms(booster, data.event_x[te])
    step("fallback")

    mlp = train_mlp(data.primary_x[tr], data.is_fraud[tr], seed)
    (models_dir / PRIMARY_FILE).write_bytes(to_onnx(mlp, PRIMARY_FEATURES))
    step("primary")

    rules = tune_weights(load_rules(config.rules_path), data.batch.take(tr), data.is_fraud[tr])
    write_rules(rules, config.rules_path)
    step("rules")

    artifacts = {
        "primary": _artifact(models_dir, PRIMARY_FILE, "onnx-mlp", PRIMARY_FEATURES),
        "fallback": _artifact(models_dir, FALLBACK_FILE, "lightgbm", list(EVENT_FEATURES)),
    }
    digest = hashlib.sha256("".join(a.sha256 for a in artifacts.values()).encode())
    draft = Manifest(
        model_version=f"fw-{digest.hexdigest()[:12]}",
        artifacts=artifacts,
        training={},
        metrics={},
    )
    # Evaluate the saved artifacts through the serving loaders, not the training objects.
    primary = PrimaryModel.load(models_dir, draft, prefer_gpu=False, threads=2)
    fallback = FallbackModel.load(models_dir, draft, threads=2)
    scores = {
        "primary (ONNX MLP)": primary.predict(data.primary_x[te]).astype(np.float64),
        "fallback (LightGBM)": fallback.predict(data.event_x[te]),
        "rules": rules.score(data.batch.take(te)).scores,
        "safe default": np.zeros(int(te.sum()), dtype=np.float64),
    }
    step("evaluate levels")
    scores["reference: logistic regression, handbook features"] = _reference_scores(data, seed)
    step("reference")

    test_batch = data.batch.take(te)
    levels = {
        name: {
            k: round(v, 4)
            for k, v in measure(s, data.is_fraud[te], test_batch.card_id, data.day[te]).items()
        }
        for name, s in scores.items()
    }
    summary = {
        "model_version": draft.model_version,
        "levels": levels,
        "fallback_predict_ms_one_thread": timings,
        "data": _data_summary(data, config.split),
    }
    write_report(models_dir / "report", summary, data.is_fraud[te], scores)
    manifest = draft.model_copy(
        update={
            "training": {
                "simulation": config.simulation.as_dict(),
                "split": config.split.as_dict(),
                "seed": seed,
                "rules_file": config.rules_path.name,
            },
            # Timings vary from run to run: they live in the report, not in the manifest.
            "metrics": {"levels": levels},
        }
    )
    save_manifest(models_dir, manifest)
    step("write")
    steps.close()
    return manifest
