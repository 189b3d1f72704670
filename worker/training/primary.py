"""Train the primary MLP and export it to ONNX from tensor ops only (MatMul, Add, Relu,
Sigmoid), which onnxruntime runs on CUDA — unlike ``ai.onnx.ml`` tree ops (CPU kernels only).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from worker.models.manifest import Calibration
from worker.models.primary import INPUT_NAME, OUTPUT_NAME

HIDDEN = (64, 32)
NEGATIVE_RATE = 0.25  # negatives kept for training: 4x faster; the bias is corrected below
OPSET = 17
# An epoch budget keeps `train` within minutes on 2 cores; early stopping usually ends sooner.
MAX_EPOCHS = 20


@dataclass(frozen=True)
class MlpWeights:
    mean: NDArray[np.float32]
    scale: NDArray[np.float32]
    weights: list[NDArray[np.float32]]
    biases: list[NDArray[np.float32]]


def _subsample(y: NDArray[np.bool_], seed: int) -> NDArray[np.bool_]:
    keep = np.random.default_rng(seed).random(len(y)) < NEGATIVE_RATE
    return y | keep


def train_mlp(x: NDArray[np.float32], y: NDArray[np.bool_], seed: int) -> MlpWeights:
    """Standardize, fit, and correct the output bias for the negative subsampling."""
    rows = _subsample(y, seed)
    x, y = x[rows], y[rows]
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    mlp = MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        alpha=1e-4,
        batch_size=512,
        learning_rate_init=1e-3,
        max_iter=MAX_EPOCHS,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=3,
        random_state=seed,
    )
    with warnings.catch_warnings():
        # Reaching the epoch budget is a choice made above, not a problem to report.
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit((x - mean) / scale, y)
    biases = [b.astype(np.float32) for b in mlp.intercepts_]
    # Keeping a fraction r of negatives multiplies the odds by 1/r: add log(r) to the logit.
    biases[-1] = biases[-1] + np.float32(math.log(NEGATIVE_RATE))
    return MlpWeights(
        mean.astype(np.float32),
        scale.astype(np.float32),
        [w.astype(np.float32) for w in mlp.coefs_],
        biases,
    )


def logits(model: MlpWeights, x: NDArray[np.float32]) -> NDArray[np.float64]:
    """The MLP's output logit per row, computed as the ONNX graph does (float32)."""
    h = (x - model.mean) / model.scale
    last = len(model.weights) - 1
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        h = h @ w + b
        if i != last:
            h = np.maximum(h, 0)
    return h.reshape(-1).astype(np.float64)


def calibrated(model: MlpWeights, calibration: Calibration) -> MlpWeights:
    """The MLP with Platt scaling folded into its last layer: a·(h·W + c) + b is
    h·(a·W) + (a·c + b), so the graph answers calibrated probabilities with no extra op."""
    a, b = np.float32(calibration.a), np.float32(calibration.b)
    return replace(
        model,
        weights=[*model.weights[:-1], model.weights[-1] * a],
        biases=[*model.biases[:-1], model.biases[-1] * a + b],
    )


def to_onnx(model: MlpWeights, feature_names: list[str]) -> bytes:
    """The MLP as an ONNX graph: standardize → (MatMul, Add, Relu)* → MatMul, Add → Sigmoid."""
    inits = [
        numpy_helper.from_array(model.mean, "mean"),
        numpy_helper.from_array(model.scale, "scale"),
    ]
    nodes = [helper.make_node("Sub", [INPUT_NAME, "mean"], ["centered"])]
    nodes.append(helper.make_node("Div", ["centered", "scale"], ["h0"]))
    last = len(model.weights) - 1
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"m{i}"]))
        out = "logit" if i == last else f"a{i}"
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], [out]))
        if i != last:
            nodes.append(helper.make_node("Relu", [out], [f"h{i + 1}"]))
    nodes.append(helper.make_node("Sigmoid", ["logit"], [OUTPUT_NAME]))
    n = len(feature_names)
    graph = helper.make_graph(
        nodes,
        "fraud_primary_mlp",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", 1])],
        inits,
        doc_string="features: " + ",".join(feature_names),
    )
    model_proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="fraud-worker"
    )
    model_proto.ir_version = 8
    onnx.checker.check_model(model_proto)
    return bytes(model_proto.SerializeToString())
