"""Operations on string (object) columns that numpy does by sorting or comparing Python
objects many times over: one pass through a dict or a set is several times cheaper."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


def factorize(values: NDArray[Any]) -> tuple[NDArray[np.int64], list[Any]]:
    """Codes in order of first appearance (equal values, equal codes) and the distinct values."""
    index: dict[Any, int] = {}
    codes = np.fromiter(
        (index.setdefault(v, len(index)) for v in values.tolist()),
        dtype=np.int64,
        count=len(values),
    )
    return codes, list(index)


def is_in(values: NDArray[Any], allowed: Collection[Any]) -> NDArray[np.bool_]:
    """``np.isin`` for object columns, by set membership."""
    members = frozenset(allowed)
    return np.fromiter((v in members for v in values.tolist()), dtype=np.bool_, count=len(values))


def one_hot(values: NDArray[Any], vocabulary: Sequence[Any]) -> NDArray[np.float32]:
    """One column per known value; an unknown value gets a row of zeros."""
    position = {name: j for j, name in enumerate(vocabulary)}
    columns = np.fromiter(
        (position.get(v, -1) for v in values.tolist()), dtype=np.int64, count=len(values)
    )
    out = np.zeros((len(values), len(vocabulary)), dtype=np.float32)
    known = np.flatnonzero(columns >= 0)
    out[known, columns[known]] = 1.0
    return out
