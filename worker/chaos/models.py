"""Primary models that misbehave for real, in a models folder the workers load at start.

Each faulty folder is a copy of the committed models with only the primary replaced. A NaN,
raising or slow primary is re-signed in the manifest, so the loader accepts it and the fault
shows at scoring time; a tampered primary keeps its old hash, so the loader refuses it. (The
graphs come from ``worker.models.faulty``, which the tests use too.)
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from pathlib import Path

from worker.models.faulty import nan_model, raising_model, slow_model
from worker.models.manifest import load_manifest, save_manifest, sha256_file

COMMITTED_MODELS = Path(__file__).resolve().parents[2] / "models"


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
    # Far past the primary's deadline, yet quick to build: a smaller graph than the tests'.
    "slow": functools.partial(slow_model, width=1024, depth=200),
}


def faulty_models(kind: str, target: Path, source: Path = COMMITTED_MODELS) -> Path:
    """The models folder for a primary fault kind: nan, raising, slow or tampered."""
    if kind == "tampered":
        return tampered_primary(target, source)
    return signed_primary(target, PRIMARY_FAULTS[kind], source)
