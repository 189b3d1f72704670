"""Gzipped CSV training files of simulated transactions (labels included as columns)."""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from worker.simulator.model import LABEL_COLUMNS, TRANSACTION_COLUMNS, Labels, Transactions

__all__ = ["CSV_COLUMNS", "read_csv_gz", "write_csv_gz"]

CSV_COLUMNS: tuple[str, ...] = (*TRANSACTION_COLUMNS, *LABEL_COLUMNS)
_ALL_DTYPES: dict[str, np.dtype[Any]] = {**TRANSACTION_COLUMNS, **LABEL_COLUMNS}
_CHUNK_ROWS = 100_000
_UNIQUE_COLUMNS = frozenset({"transaction_id"})  # not worth interning


def write_csv_gz(transactions: Transactions, path: str | os.PathLike[str]) -> None:
    """Write every column and the labels to a gzipped CSV with a header row.

    Floats are written with ``repr`` (shortest exact form), booleans as 0/1. The gzip
    header carries no name or time, so the same data gives the same bytes.
    """
    columns: dict[str, NDArray[Any]] = {
        **transactions.columns(),
        "is_fraud": transactions.labels.is_fraud,
        "fraud_scenario": transactions.labels.fraud_scenario,
    }
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=raw, mtime=0) as gz,
        io.TextIOWrapper(gz, encoding="utf-8", newline="") as text,
    ):
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for start in range(0, len(transactions), _CHUNK_ROWS):
            stop = start + _CHUNK_ROWS
            lists = [_to_list(columns[name][start:stop]) for name in CSV_COLUMNS]
            writer.writerows(zip(*lists, strict=True))


def read_csv_gz(path: str | os.PathLike[str]) -> Transactions:
    """Read a file written by ``write_csv_gz`` back into identical columns."""
    parts: dict[str, list[NDArray[Any]]] = {name: [] for name in CSV_COLUMNS}
    interned: dict[str, dict[str, str] | None] = {
        name: None if name in _UNIQUE_COLUMNS else {} for name in CSV_COLUMNS
    }
    with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None or tuple(header) != CSV_COLUMNS:
            raise ValueError(f"{os.fspath(path)}: unexpected header {header!r}")
        for chunk in _chunks(reader, len(CSV_COLUMNS)):
            for name, values in zip(CSV_COLUMNS, zip(*chunk, strict=True), strict=True):
                parts[name].append(_parse(values, _ALL_DTYPES[name], interned[name]))
    columns = {
        name: np.concatenate(arrays) if arrays else np.empty(0, dtype=_ALL_DTYPES[name])
        for name, arrays in parts.items()
    }
    labels = Labels(is_fraud=columns.pop("is_fraud"), fraud_scenario=columns.pop("fraud_scenario"))
    return Transactions(**columns, labels=labels)


def _to_list(column: NDArray[Any]) -> list[Any]:
    if column.dtype == np.bool_:
        return column.astype(np.int8).tolist()  # type: ignore[no-any-return]
    return column.tolist()  # type: ignore[no-any-return]


def _chunks(reader: Iterator[list[str]], width: int) -> Iterator[list[list[str]]]:
    chunk: list[list[str]] = []
    for line_no, row in enumerate(reader, start=2):
        if len(row) != width:
            raise ValueError(f"line {line_no}: expected {width} fields, got {len(row)}")
        chunk.append(row)
        if len(chunk) == _CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _parse_bool(value: str) -> bool:
    if value == "1":
        return True
    if value == "0":
        return False
    raise ValueError(f"expected 0 or 1, got {value!r}")


def _parse(
    values: tuple[str, ...], dtype: np.dtype[Any], interned: dict[str, str] | None
) -> NDArray[Any]:
    """One chunk of a column; repeated strings share one object through ``interned``."""
    if dtype == np.dtype(object):
        out = np.empty(len(values), dtype=object)
        out[:] = values if interned is None else [interned.setdefault(v, v) for v in values]
        return out
    convert: Callable[[str], Any]
    if dtype == np.bool_:
        convert = _parse_bool
    elif dtype.kind == "f":
        convert = float
    else:
        convert = int
    return np.fromiter(map(convert, values), dtype=dtype, count=len(values))
