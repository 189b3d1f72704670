"""The fallback model: LightGBM on event-only features, so it answers when the feature store
is down. Single-threaded on purpose: small batches pay for thread start-up, and the fallback
must not compete with the primary's threads.

Its Platt calibration is stored in the manifest and applied here to LightGBM's raw score,
rather than written into the trees: the model file stays LightGBM's own output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from worker.models.manifest import ArtifactError, Calibration, Manifest, verified_path


@dataclass
class FallbackModel:
    booster: lgb.Booster
    features: tuple[str, ...]
    threads: int = 1
    calibration: Calibration | None = None

    @classmethod
    def load(cls, models_dir: Path, manifest: Manifest, threads: int = 1) -> FallbackModel:
        path = verified_path(models_dir, manifest, "fallback")
        try:
            booster = lgb.Booster(model_file=str(path))
        except lgb.basic.LightGBMError as exc:
            raise ArtifactError(f"{path}: LightGBM cannot load it: {exc}") from exc
        artifact = manifest.artifact("fallback")
        features = tuple(artifact.features)
        if booster.num_feature() != len(features):
            raise ArtifactError(
                f"{path}: {booster.num_feature()} features, the manifest lists {len(features)}"
            )
        calibration = artifact.calibration
        if calibration is not None and calibration.in_model:
            raise ArtifactError(f"{path}: a LightGBM model cannot hold its calibration")
        return cls(booster, features, threads, calibration)

    def predict(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        """Fraud probability per row, calibrated when the manifest says how."""
        if self.calibration is None:
            out = self.booster.predict(features, num_threads=self.threads)
            return np.asarray(out, dtype=np.float64).reshape(-1)
        raw = self.booster.predict(features, num_threads=self.threads, raw_score=True)
        return self.calibration.apply(np.asarray(raw, dtype=np.float64).reshape(-1))
