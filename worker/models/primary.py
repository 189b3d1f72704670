"""The primary model: an MLP in ONNX, run by onnxruntime on the GPU when there is one.

A session asked for CUDA silently falls back to the CPU when CUDA libraries are missing, so the
provider actually in use is read back from the session and exported, never assumed.

The graph answers calibrated probabilities itself (Platt scaling folded into its last layer
by training): the file is self-contained and runs the same on any provider.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from worker.models.manifest import ArtifactError, Manifest, verified_path

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
INPUT_NAME = "features"
OUTPUT_NAME = "fraud_probability"


def _session_options(intra_op_threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.log_severity_level = 3  # errors only: a missing CUDA library is reported by us
    return options


def gpu_present() -> bool:
    """An NVIDIA driver is loaded. Without one, asking for CUDA only produces loader noise."""
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidia0").exists()


def _cuda_wanted(prefer_gpu: bool) -> bool:
    if not prefer_gpu or CUDA not in ort.get_available_providers() or not gpu_present():
        return False
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        try:
            preload()  # finds CUDA libraries installed from PyPI (e.g. by torch)
        except Exception as exc:  # best effort: the session check below decides
            log.debug("onnxruntime.preload_dlls failed: %s", exc)
    return True


@dataclass
class PrimaryModel:
    """An ONNX session plus the feature order it expects."""

    session: ort.InferenceSession
    features: tuple[str, ...]
    provider: str

    @classmethod
    def load(
        cls, models_dir: Path, manifest: Manifest, prefer_gpu: bool = True, threads: int = 1
    ) -> PrimaryModel:
        path = verified_path(models_dir, manifest, "primary")
        artifact = manifest.artifact("primary")
        if artifact.calibration is not None and not artifact.calibration.in_model:
            raise ArtifactError(f"{path}: the primary's calibration must be folded into its graph")
        providers = [CUDA, CPU] if _cuda_wanted(prefer_gpu) else [CPU]
        ort.set_default_logger_severity(3)
        try:
            session = ort.InferenceSession(
                str(path), sess_options=_session_options(threads), providers=providers
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ArtifactError(f"{path}: onnxruntime cannot load it: {exc}") from exc
        provider = session.get_providers()[0]
        if providers[0] == CUDA and provider != CUDA:
            log.warning("CUDA was requested but onnxruntime runs on %s", provider)
        return cls(session, tuple(artifact.features), provider)

    def predict(
        self, features: NDArray[np.float32], options: ort.RunOptions | None = None
    ) -> NDArray[np.float32]:
        """Fraud probability per row; may contain NaN if the model misbehaves (callers check).

        ``options`` lets another thread stop the run (``options.terminate = True``).
        """
        (out,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: features}, options)
        return np.asarray(out, dtype=np.float32).reshape(-1)
