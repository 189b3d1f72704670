"""The complete ground truth of a simulation, in one compact file.

The labels topic holds what became known (90 % of frauds, by chargeback, days later); the
simulator knows every fraud. ``write_truth`` stores every transaction id with whether it was
a fraud, so ``fraud-worker evaluate --truth PATH`` can measure against all of them.

Format: a NumPy ``.npz`` archive (zip, deflate-compressed) of

- ``format``: the string ``fraud-worker-truth/1``;
- ``transaction_id``: the ids, UTF-8, as one fixed-width bytes array;
- ``is_fraud``: one bit per id, ``np.packbits`` (big-endian bit order), padded to a byte.

About 4 bytes per transaction compressed for the simulator's ids. Loading needs no pickle.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from worker.errors import FraudWorkerError
from worker.quality.results import as_id_bytes

FORMAT = "fraud-worker-truth/1"


class TruthFileError(FraudWorkerError):
    """A truth file that cannot be read or is not one."""


def write_truth(
    path: Path | str, transaction_ids: Sequence[str] | NDArray[Any], is_fraud: NDArray[Any]
) -> Path:
    """Write the ground truth: ``is_fraud[i]`` says whether ``transaction_ids[i]`` was a
    fraud. Returns the path written (``.npz`` is added when missing, as NumPy does)."""
    ids = as_id_bytes(transaction_ids)
    fraud = np.asarray(is_fraud, dtype=np.bool_).reshape(-1)
    if len(ids) != len(fraud):
        raise ValueError(f"{len(ids)} transaction ids but {len(fraud)} is_fraud values")
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path, format=np.array(FORMAT), transaction_id=ids, is_fraud=np.packbits(fraud)
    )
    return path


def read_truth(path: Path | str) -> tuple[NDArray[np.bytes_], NDArray[np.bool_]]:
    """(transaction ids as UTF-8 bytes, is_fraud) from a file ``write_truth`` wrote."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "format" not in archive or str(archive["format"]) != FORMAT:
                raise TruthFileError(f"{path}: not a truth file (no {FORMAT!r} format tag)")
            ids = archive["transaction_id"]
            packed = archive["is_fraud"]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise TruthFileError(f"{path}: cannot read the truth file ({exc})") from exc
    fraud = np.unpackbits(packed, count=len(ids)).astype(np.bool_)
    return ids, fraud
