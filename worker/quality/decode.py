"""Framed Avro values → numpy columns of the few leading fields an evaluation needs.

An evaluation reads millions of results; fastavro with the strict walk decodes ~26k a second,
and the columnar decoder of ``worker.codec`` takes only schemas without enums and arrays. A
result's fields that matter here (id, card, event time, score, decision, source) all come
*before* its first array, so each batch is read field by field with numpy up to the last
field wanted, and the rest of each value is not looked at. A row that does not parse that way
(a value cut short, an enum index out of range, a writer schema whose wanted fields come
after a field of another kind) goes through the per-record ``EventDecoder``, which decodes it
or names its error. Strings come out as fixed-width bytes (``S`` arrays): no ``str`` per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastavro.types import Schema
from numpy.typing import NDArray

from worker.codec import HEADER_SIZE, DecodeError, EventDecoder, SchemaRegistry
from worker.codec.wire import FramedBatch

# What a wanted field becomes: "string" → S bytes, "long" → int64, "double" → float64, or an
# enum's vocabulary → int8 codes in that vocabulary's order.
Want = str | tuple[str, ...]

_VARINT_BYTES = 10
_BYTE_INDEX = np.arange(_VARINT_BYTES)
_SHIFTS = (7 * _BYTE_INDEX).astype(np.uint64)
_FIXED = {"double": 8, "float": 4, "boolean": 1}
_ACCEPTS = {"string": {"string"}, "long": {"long", "int"}, "double": {"double", "float"}}


@dataclass(frozen=True)
class _Step:
    name: str | None  # None: a field read past, not kept
    kind: str  # an Avro primitive, or "enum"
    enum_codes: NDArray[np.int8] | None = None  # writer symbol index → code in the want


@dataclass
class Columns:
    """Decoded columns (each of the same length) and how many values did not decode."""

    data: dict[str, NDArray[Any]]
    failed: int = 0
    first_error: str | None = None

    def __len__(self) -> int:
        return len(next(iter(self.data.values()))) if self.data else 0


@dataclass
class _Cursor:
    buf: NDArray[np.uint8]
    pos: NDArray[np.int64]
    end: NDArray[np.int64]
    ok: NDArray[np.bool_] = field(init=False)

    def __post_init__(self) -> None:
        self.ok = np.ones(len(self.pos), dtype=np.bool_)

    def advance(self, size: NDArray[np.int64] | int) -> None:
        self.pos = self.pos + size
        self.ok &= self.pos <= self.end
        np.minimum(self.pos, self.end, out=self.pos)

    def varint(self) -> NDArray[np.int64]:
        first = self.buf[self.pos].astype(np.int64)
        if (first < 0x80).all():
            self.advance(1)
            return (first >> 1) ^ -(first & 1)
        window = self.buf[self.pos[:, None] + _BYTE_INDEX]
        more = window >= 0x80
        size = more.argmin(axis=1) + 1
        payload = (window & 0x7F).astype(np.uint64) << _SHIFTS
        payload[size[:, None] <= _BYTE_INDEX] = 0
        unsigned = payload.sum(axis=1, dtype=np.uint64)
        self.ok &= ~more.all(axis=1)
        self.advance(size.astype(np.int64))
        magnitude = (unsigned >> np.uint64(1)).astype(np.int64)
        return np.asarray(magnitude ^ -(unsigned & np.uint64(1)).astype(np.int64))

    def span(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        length = self.varint()
        self.ok &= length >= 0
        length = np.maximum(length, 0)
        start = self.pos
        self.advance(length)
        return start, length

    def fixed(self, width: int) -> NDArray[np.uint8]:
        window = self.buf[self.pos[:, None] + np.arange(width)]
        self.advance(width)
        return np.ascontiguousarray(window)


def fixed_bytes(
    buf: NDArray[np.uint8], start: NDArray[np.int64], length: NDArray[np.int64]
) -> NDArray[np.bytes_]:
    """The spans ``buf[start:start+length]`` as one fixed-width bytes array."""
    width = max(int(length.max()) if len(length) else 0, 1)
    offsets = np.arange(width)
    index = np.minimum(start[:, None] + offsets, len(buf) - 1)
    chars = np.where(offsets < length[:, None], buf[index], 0).astype(np.uint8)
    return np.ascontiguousarray(chars).view(f"S{width}").reshape(-1)


def _writer_kind(avro_type: Any) -> str | None:
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "enum":
            return "enum"
        return _writer_kind(avro_type["type"]) if set(avro_type) == {"type"} else None
    if isinstance(avro_type, str) and avro_type in {"string", "bytes", "long", "int", *_FIXED}:
        return avro_type
    return None


def compile_steps(writer: Schema, wanted: Mapping[str, Want]) -> list[_Step] | None:
    """Steps reading ``wanted`` from the leading fields of ``writer``, or None when some
    wanted field is missing or sits after a field the steps cannot read past."""
    if not isinstance(writer, dict) or writer.get("type") != "record":
        return None
    steps: list[_Step] = []
    left = set(wanted)
    for writer_field in writer["fields"]:
        if not left:
            return steps
        kind = _writer_kind(writer_field["type"])
        if kind is None:
            return None
        name = writer_field["name"]
        want = wanted.get(name)
        if want is None:
            steps.append(_Step(None, kind))
            continue
        if isinstance(want, tuple):
            if kind != "enum":
                return None
            symbols = writer_field["type"]["symbols"]
            codes = np.array([want.index(s) if s in want else -1 for s in symbols], np.int8)
            steps.append(_Step(name, kind, codes))
        elif kind in _ACCEPTS[want]:
            steps.append(_Step(name, kind))
        else:
            return None
        left.discard(name)
    return steps if not left else None


class PrefixDecoder:
    """Decode framed values into columns of ``wanted`` (see the module's docstring)."""

    def __init__(
        self, registry: SchemaRegistry, reader_schema: Schema, wanted: Mapping[str, Want]
    ) -> None:
        self.registry = registry
        self.wanted = dict(wanted)
        self.per_record = EventDecoder(registry, reader_schema)
        self._steps: dict[int, list[_Step] | None] = {}

    def empty(self) -> dict[str, NDArray[Any]]:
        return {name: _empty(want) for name, want in self.wanted.items()}

    def decode_many(self, values: Sequence[bytes | None]) -> Columns:
        batch = FramedBatch.of(values)
        parts: list[tuple[NDArray[np.intp], dict[str, NDArray[Any]]]] = []
        left = ~batch.framed
        for schema_id, rows in batch.by_schema():
            steps = self._plan(schema_id)
            if steps is None:
                left[rows] = True
                continue
            cursor = _Cursor(batch.buf, batch.starts[rows] + HEADER_SIZE, batch.ends[rows])
            columns = self._read(cursor, steps)
            left[rows[~cursor.ok]] = True
            parts.append((rows[cursor.ok], {k: v[cursor.ok] for k, v in columns.items()}))
        decoded = Columns({})
        self._per_record(batch.given, np.flatnonzero(left), parts, decoded)
        decoded.data = self._merge(parts)
        return decoded

    def _plan(self, schema_id: int) -> list[_Step] | None:
        if schema_id not in self._steps:
            try:
                writer = self.registry.schema(schema_id)
            except DecodeError:  # unknown id: per record, each gets its error
                return None
            self._steps[schema_id] = compile_steps(writer, self.wanted)
        return self._steps[schema_id]

    def _read(self, cursor: _Cursor, steps: list[_Step]) -> dict[str, NDArray[Any]]:
        out: dict[str, NDArray[Any]] = {}
        for step in steps:
            if step.kind in ("string", "bytes"):
                start, length = cursor.span()
                if step.name is not None:
                    out[step.name] = fixed_bytes(cursor.buf, start, length)
            elif step.kind in _FIXED:
                raw = cursor.fixed(_FIXED[step.kind])
                if step.name is not None:
                    dtype = "<f8" if step.kind == "double" else "<f4"
                    out[step.name] = raw.view(dtype).reshape(-1).astype(np.float64)
            elif step.kind == "enum":
                index = cursor.varint()
                if step.name is not None and step.enum_codes is not None:
                    inside = (index >= 0) & (index < len(step.enum_codes))
                    codes = step.enum_codes[np.where(inside, index, 0)]
                    cursor.ok &= inside & (codes >= 0)
                    out[step.name] = codes
            else:  # int, long
                value = cursor.varint()
                if step.name is not None:
                    out[step.name] = value
        return out

    def _per_record(
        self,
        values: list[bytes],
        rows: NDArray[np.intp],
        parts: list[tuple[NDArray[np.intp], dict[str, NDArray[Any]]]],
        columns: Columns,
    ) -> None:
        if len(rows) == 0:
            return
        records, indices, failures = self.per_record.decode_many([values[r] for r in rows])
        kept: list[dict[str, Any]] = []
        kept_rows: list[int] = []
        for record, index in zip(records, indices, strict=True):
            if self._fits(record):
                kept.append(record)
                kept_rows.append(int(rows[index]))
            else:
                columns.failed += 1
                columns.first_error = columns.first_error or "an enum symbol outside the reader's"
        columns.failed += len(failures)
        if failures and columns.first_error is None:
            columns.first_error = str(failures[0][1])
        if kept:
            parts.append((np.array(kept_rows, dtype=np.intp), self._from_records(kept)))

    def _fits(self, record: dict[str, Any]) -> bool:
        return all(
            record[name] in want for name, want in self.wanted.items() if isinstance(want, tuple)
        )

    def _from_records(self, records: list[dict[str, Any]]) -> dict[str, NDArray[Any]]:
        out: dict[str, NDArray[Any]] = {}
        for name, want in self.wanted.items():
            values = [record[name] for record in records]
            if isinstance(want, tuple):
                out[name] = np.array([want.index(v) for v in values], dtype=np.int8)
            elif want == "string":
                out[name] = np.array([v.encode() for v in values], dtype=np.bytes_)
            else:
                out[name] = np.array(values, dtype=_empty(want).dtype)
        return out

    def _merge(
        self, parts: list[tuple[NDArray[np.intp], dict[str, NDArray[Any]]]]
    ) -> dict[str, NDArray[Any]]:
        if not parts:
            return self.empty()
        if len(parts) == 1:
            return parts[0][1]
        order = np.argsort(np.concatenate([rows for rows, _ in parts]), kind="stable")
        return {
            name: np.concatenate([columns[name] for _, columns in parts])[order]
            for name in self.wanted
        }


def _empty(want: Want) -> NDArray[Any]:
    if isinstance(want, tuple):
        return np.empty(0, dtype=np.int8)
    dtype = {"string": np.dtype("S1"), "long": np.dtype(np.int64), "double": np.dtype(np.float64)}
    return np.empty(0, dtype=dtype[want])
