"""Model files that misbehave for real (built in ``worker.models.faulty``), put where the
worker loads its primary, with a manifest that vouches for them."""

from __future__ import annotations

import shutil
from pathlib import Path

from worker.models.faulty import (
    graph_model,
    nan_model,
    nan_where_model,
    raising_model,
    slow_model,
    wrong_shape_model,
)
from worker.models.manifest import load_manifest, save_manifest, sha256_file

__all__ = [
    "graph_model",
    "models_dir_with_primary",
    "nan_model",
    "nan_where_model",
    "raising_model",
    "slow_model",
    "wrong_shape_model",
]

MODELS = Path(__file__).resolve().parents[1] / "models"


def models_dir_with_primary(target: Path, primary: bytes | None) -> Path:
    """A copy of the committed models with the primary replaced (None: removed from disk);
    the manifest is re-signed so the loader's hash check passes."""
    shutil.copytree(MODELS, target, ignore=shutil.ignore_patterns("report"))
    manifest = load_manifest(target)
    path = target / manifest.artifact("primary").file
    if primary is None:
        path.unlink()
        return target
    path.write_bytes(primary)
    artifacts = dict(manifest.artifacts)
    artifacts["primary"] = artifacts["primary"].model_copy(update={"sha256": sha256_file(path)})
    save_manifest(target, manifest.model_copy(update={"artifacts": artifacts}))
    return target
