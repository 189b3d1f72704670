"""Primary models that misbehave for real, in a models folder the workers load at start.

Each faulty folder is a copy of the committed models with only the primary replaced. A NaN,
raising or slow primary is re-signed in the manifest, so the loader accepts it and the fault
shows at scoring time; a tampered primary keeps its old hash, so the loader refuses it. (The
same builders as ``tests/onnx_models.py``; the package must not import from the tests.)
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from worker.models.manifest import load_manifest, save_manifest, sha256_file
from worker.models.primary import INPUT_NAME, OUTPUT_NAME

COMMITTED_MODELS = Path(__file__).resolve().parents[2] / "models"


def _model(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], n: int) -> bytes:
    graph = helper.make_graph(
        nodes,
        "chaos_primary",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def nan_model(n: int) -> bytes:
    """NaN for every row (x·0 / 0): a model that loads and runs but answers nonsense."""
    zeros = numpy_helper.from_array(np.zeros((n, 1), np.float32), "zeros")
    zero = numpy_helper.from_array(np.zeros(1, np.float32), "zero")
    nodes = [
        helper.make_node("MatMul", [INPUT_NAME, "zeros"], ["z"]),
        helper.make_node("Div", ["z", "zero"], [OUTPUT_NAME]),
    ]
    return _model(nodes, [zeros, zero], n)


def raising_model(n: int) -> bytes:
    """Fails inside onnxruntime on every batch: it gathers a column that does not exist."""
    index = numpy_helper.from_array(np.array([n + 1000], np.int64), "missing_column")
    nodes = [helper.make_node("Gather", [INPUT_NAME, "missing_column"], [OUTPUT_NAME], axis=1)]
    return _model(nodes, [index], n)


def slow_model(n: int, width: int = 1024, depth: int = 200) -> bytes:
    """Plausible output after hundreds of matrix products: far past the primary's deadline.
    Tanh between the products leaves the graph optimizer nothing to fold away."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((n, width)).astype(np.float32) * 0.01, "w_in"),
        numpy_helper.from_array((np.eye(width) * 0.5).astype(np.float32), "w_mid"),
        numpy_helper.from_array(np.zeros((width, 1), np.float32), "w_out"),
    ]
    nodes = [helper.make_node("MatMul", [INPUT_NAME, "w_in"], ["h0"])]
    for i in range(depth):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "w_mid"], [f"p{i}"]))
        nodes.append(helper.make_node("Tanh", [f"p{i}"], [f"h{i + 1}"]))
    nodes.append(helper.make_node("MatMul", [f"h{depth}", "w_out"], ["logit"]))
    nodes.append(helper.make_node("Sigmoid", ["logit"], [OUTPUT_NAME]))
    return _model(nodes, inits, n)


def _copy_models(target: Path, source: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("report"))
    return target / load_manifest(target).artifact("primary").file


def signed_primary(target: Path, build: Callable[[int], bytes], source: Path) -> Path:
    """A models folder whose primary is ``build(n_features)``, re-signed in the manifest."""
    path = _copy_models(target, source)
    manifest = load_manifest(target)
    path.write_bytes(build(len(manifest.artifact("primary").features)))
    artifacts = dict(manifest.artifacts)
    artifacts["primary"] = artifacts["primary"].model_copy(update={"sha256": sha256_file(path)})
    save_manifest(target, manifest.model_copy(update={"artifacts": artifacts}))
    return target


def tampered_primary(target: Path, source: Path) -> Path:
    """A models folder whose primary had bytes changed after signing: its hash no longer
    matches the manifest, which is how a corrupted or swapped artifact looks to the loader."""
    path = _copy_models(target, source)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))
    return target


PRIMARY_FAULTS: dict[str, Callable[[int], bytes]] = {
    "nan": nan_model,
    "raising": raising_model,
    "slow": slow_model,
}


def faulty_models(kind: str, target: Path, source: Path = COMMITTED_MODELS) -> Path:
    """The models folder for a primary fault kind: nan, raising, slow or tampered."""
    if kind == "tampered":
        return tampered_primary(target, source)
    return signed_primary(target, PRIMARY_FAULTS[kind], source)
