"""``models/manifest.json``: what each artifact is, its sha256, its ordered features, how it was
trained and how well it scored. An artifact whose hash does not match is refused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, ValidationError

from worker.errors import FraudWorkerError

MANIFEST_NAME = "manifest.json"


class ArtifactError(FraudWorkerError):
    """A model artifact is missing, altered or unreadable; the level that needs it is skipped."""


class Calibration(BaseModel):
    """Platt scaling of a model's logit z: probability = sigmoid(a·z + b), fitted on days the
    model was not fitted on, so that a score of 0.5 means one fraud in two.

    ``in_model``: already folded into the artifact (the loader applies nothing); otherwise
    the loader applies it to the model's raw logit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["platt"] = "platt"
    a: float
    b: float
    in_model: bool

    def apply(self, logits: NDArray[np.float64]) -> NDArray[np.float64]:
        # tanh form of the sigmoid: no overflow warning for large |z|
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * (self.a * logits + self.b))))


class Artifact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    sha256: str
    kind: str
    features: list[str]
    calibration: Calibration | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model_version: str
    artifacts: dict[str, Artifact]
    training: dict[str, Any]
    metrics: dict[str, Any]

    def artifact(self, name: str) -> Artifact:
        if name not in self.artifacts:
            raise ArtifactError(f"the manifest lists no artifact {name!r}")
        return self.artifacts[name]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(models_dir: Path) -> Manifest:
    path = models_dir / MANIFEST_NAME
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except OSError as exc:
        hint = "run `fraud-worker train`"
        raise ArtifactError(f"{path}: cannot read: {exc.strerror}; {hint}") from exc
    except ValidationError as exc:
        raise ArtifactError(f"{path}: not a valid manifest: {exc.errors()[0]['msg']}") from exc


def save_manifest(models_dir: Path, manifest: Manifest) -> Path:
    path = models_dir / MANIFEST_NAME
    path.write_text(json.dumps(manifest.model_dump(), indent=2, sort_keys=True) + "\n")
    return path


def verified_path(models_dir: Path, manifest: Manifest, name: str) -> Path:
    """The artifact's path, after checking that its bytes are the ones the manifest names."""
    artifact = manifest.artifact(name)
    path = models_dir / artifact.file
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (artifact {name!r})")
    actual = sha256_file(path)
    if actual != artifact.sha256:
        raise ArtifactError(
            f"{path}: sha256 {actual[:12]}… does not match the manifest's "
            f"{artifact.sha256[:12]}…; refusing a tampered or stale artifact"
        )
    return path
