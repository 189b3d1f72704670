"""Platt scaling: fitted from logits and outcomes, and folded into the primary's ONNX graph
so that the graph answers exactly Platt's probability of its own logit."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import onnxruntime as ort
import pytest
from numpy.typing import NDArray

from worker.models.manifest import Calibration
from worker.models.primary import INPUT_NAME, OUTPUT_NAME
from worker.training.calibration import fit_platt, sigmoid
from worker.training.primary import MlpWeights, calibrated, logits, to_onnx

N_FEATURES = 6


def random_mlp(seed: int = 0) -> MlpWeights:
    rng = np.random.default_rng(seed)
    sizes = (N_FEATURES, 8, 4, 1)
    return MlpWeights(
        mean=rng.standard_normal(N_FEATURES).astype(np.float32),
        scale=rng.uniform(0.5, 2.0, N_FEATURES).astype(np.float32),
        weights=[rng.standard_normal((a, b)).astype(np.float32) for a, b in pairwise(sizes)],
        biases=[rng.standard_normal(b).astype(np.float32) for b in sizes[1:]],
    )


def run_onnx(model: bytes, x: NDArray[np.float32]) -> NDArray[np.float64]:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    (out,) = session.run([OUTPUT_NAME], {INPUT_NAME: x})
    return np.asarray(out, dtype=np.float64).reshape(-1)


def test_platt_recovers_the_scaling_that_made_the_outcomes() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(-2.0, 2.0, 200_000)
    y = rng.random(len(z)) < sigmoid(0.6 * z - 1.0)
    cal = fit_platt(z, y, in_model=False)
    assert cal.a == pytest.approx(0.6, abs=0.02)
    assert cal.b == pytest.approx(-1.0, abs=0.03)
    assert not cal.in_model


def test_platt_needs_both_outcomes() -> None:
    with pytest.raises(ValueError, match="frauds and genuine"):
        fit_platt(np.zeros(10), np.zeros(10, dtype=np.bool_), in_model=True)


def test_the_uncalibrated_graph_is_the_sigmoid_of_the_logit() -> None:
    mlp = random_mlp()
    x = np.random.default_rng(2).standard_normal((256, N_FEATURES)).astype(np.float32)
    names = [f"f{i}" for i in range(N_FEATURES)]
    np.testing.assert_allclose(run_onnx(to_onnx(mlp, names), x), sigmoid(logits(mlp, x)), atol=1e-6)


def test_calibration_folded_into_the_graph_equals_platt_on_the_logit() -> None:
    mlp = random_mlp()
    x = np.random.default_rng(3).standard_normal((256, N_FEATURES)).astype(np.float32)
    cal = Calibration(a=0.7, b=-1.3, in_model=True)
    folded = to_onnx(calibrated(mlp, cal), [f"f{i}" for i in range(N_FEATURES)])
    expected = cal.apply(logits(mlp, x))
    np.testing.assert_allclose(run_onnx(folded, x), expected, rtol=1e-5, atol=1e-6)
    # Folding touches only the last layer.
    folded_mlp = calibrated(mlp, cal)
    for before, after in zip(mlp.weights[:-1], folded_mlp.weights[:-1], strict=True):
        np.testing.assert_array_equal(before, after)
