"""The committed artifacts: they match the manifest, the primary is GPU-ready ONNX, and an
altered or corrupted artifact is refused with a clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from worker.models.fallback import FallbackModel
from worker.models.manifest import (
    ArtifactError,
    load_manifest,
    save_manifest,
    sha256_file,
    verified_path,
)
from worker.models.primary import CPU, PrimaryModel

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture
def models_copy(tmp_path: Path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(MODELS, target)
    return target


def test_committed_artifacts_match_the_manifest() -> None:
    manifest = load_manifest(MODELS)
    assert set(manifest.artifacts) == {"primary", "fallback"}
    for name in manifest.artifacts:
        assert verified_path(MODELS, manifest, name).is_file()
    assert manifest.model_version.startswith("fw-")


def test_the_primary_graph_uses_no_ai_onnx_ml_ops() -> None:
    model = onnx.load(str(MODELS / load_manifest(MODELS).artifact("primary").file))
    domains = {node.domain for node in model.graph.node}
    assert domains <= {"", "ai.onnx"}, domains
    assert all(op.domain in ("", "ai.onnx") for op in model.opset_import)
    assert {node.op_type for node in model.graph.node} <= {
        "Sub",
        "Div",
        "MatMul",
        "Add",
        "Relu",
        "Sigmoid",
    }


def test_the_models_load_and_answer_probabilities() -> None:
    manifest = load_manifest(MODELS)
    primary = PrimaryModel.load(MODELS, manifest, prefer_gpu=False)
    fallback = FallbackModel.load(MODELS, manifest)
    rng = np.random.default_rng(0)
    assert primary.provider == CPU
    p = primary.predict(rng.random((64, len(primary.features)), dtype=np.float32))
    f = fallback.predict(rng.random((64, len(fallback.features)), dtype=np.float32))
    assert p.shape == f.shape == (64,)
    assert ((p >= 0) & (p <= 1)).all() and ((f >= 0) & (f <= 1)).all()


def test_a_tampered_artifact_is_refused(models_copy: Path) -> None:
    manifest = load_manifest(models_copy)
    path = models_copy / manifest.artifact("primary").file
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="does not match the manifest"):
        PrimaryModel.load(models_copy, manifest, prefer_gpu=False)


def test_a_corrupted_artifact_with_a_matching_hash_fails_to_load_clearly(
    models_copy: Path,
) -> None:
    manifest = load_manifest(models_copy)
    for name in ("primary", "fallback"):
        (models_copy / manifest.artifact(name).file).write_bytes(b"\x00garbage\xff" * 10)
    rehashed = manifest.model_copy(
        update={
            "artifacts": {
                name: a.model_copy(update={"sha256": sha256_file(models_copy / a.file)})
                for name, a in manifest.artifacts.items()
            }
        }
    )
    save_manifest(models_copy, rehashed)
    with pytest.raises(ArtifactError, match="onnxruntime cannot load it"):
        PrimaryModel.load(models_copy, rehashed, prefer_gpu=False)
    with pytest.raises(ArtifactError, match="LightGBM cannot load it"):
        FallbackModel.load(models_copy, rehashed)


def test_a_missing_manifest_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="fraud-worker train"):
        load_manifest(tmp_path)
