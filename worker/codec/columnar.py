"""Columnar Avro: a batch of framed values straight into numpy columns, and numpy columns
straight into framed values, with no dict per record.

Per-record decoding and encoding (fastavro, one call per record) cost more than the whole rest
of the hot path. Flat records of primitive fields — what events and results are — can be read
and written one *field* at a time across the whole batch instead.

fastavro stays the reference, behind the strict walk of the Avro spec (``worker.codec.strict``).
The decoder takes a row only when every field parsed cleanly under the spec's rules (boolean
bytes 0 or 1, ints within 32 bits and 5 bytes, union indices in range, lengths not negative,
valid UTF-8 even in the fields the reader drops, nothing cut short or left over) and its values
are exactly what fastavro would return; any other row (truncated, odd union branch, 10-byte
varint, invalid UTF-8, an unknown schema id, ...) goes to the per-record ``EventDecoder``,
which decodes it or names its error. Schemas the columns cannot express (nested records,
logical types, aliases) go to it whole. The encoder writes only primitive
and enum fields itself; anything else comes in already encoded (``Encoded``), by fastavro.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import numpy as np
from fastavro import schemaless_writer
from fastavro.types import Schema
from numpy.typing import NDArray

from worker.codec.avro import EventDecoder
from worker.codec.errors import DecodeError, EncodeError
from worker.codec.registry import SchemaRegistry
from worker.codec.wire import HEADER_SIZE, FramedBatch, header

# A field's kind: a primitive type name, or a union's branch names (writer-only fields).
Kind = str | tuple[str, ...]

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
COLUMN_DTYPES: dict[str, type[Any]] = {
    "boolean": np.bool_,
    "int": np.int64,
    "long": np.int64,
    "float": np.float64,
    "double": np.float64,
    "bytes": object,
    "string": object,
}
# 9 bytes of 7 bits: a varint longer than that (|value| >= 2**62) is left to fastavro.
_VARINT_BYTES = 9
_BYTE_INDEX = np.arange(_VARINT_BYTES)
_SHIFTS = (7 * _BYTE_INDEX).astype(np.uint64)
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_INT_BYTES = 5  # the spec's widest int varint, even when a longer one holds a small value


def field_kind(avro_type: Any) -> Kind | None:
    """The kind of a parsed field type, or None when columns cannot hold it exactly."""
    if isinstance(avro_type, str):
        return avro_type if avro_type in PRIMITIVES else None
    if isinstance(avro_type, dict) and set(avro_type) == {"type"}:
        return field_kind(avro_type["type"])
    if isinstance(avro_type, list) and all(
        isinstance(branch, str) and branch in PRIMITIVES for branch in avro_type
    ):
        return tuple(avro_type)
    return None


@dataclass(frozen=True)
class _Plan:
    """How one writer schema's bytes become the reader's columns."""

    steps: tuple[tuple[str | None, Kind], ...]  # writer fields in order: (reader name, kind)
    defaults: dict[str, Any]  # reader fields the writer lacks


def compile_plan(writer: Schema, reader: Schema) -> _Plan | None:
    """The plan for a (writer, reader) pair, or None to leave that writer to fastavro."""
    if not isinstance(writer, dict) or not isinstance(reader, dict):
        return None
    if writer.get("type") != "record" or writer.get("name") != reader.get("name"):
        return None
    reader_fields = {f["name"]: f for f in reader["fields"]}
    if any("aliases" in f for f in reader["fields"]):
        return None
    steps: list[tuple[str | None, Kind]] = []
    for field in writer["fields"]:
        kind = field_kind(field["type"])
        if kind is None:
            return None
        target = reader_fields.get(field["name"])
        if target is None:
            steps.append((None, kind))
            continue
        wanted = field_kind(target["type"])
        if (
            isinstance(kind, tuple)
            or kind == "null"
            or not (wanted == kind or (kind, wanted) == ("int", "long"))
        ):
            return None
        steps.append((field["name"], kind))
    defaults = _defaults(reader_fields, {name for name, _ in steps if name is not None})
    return None if defaults is None else _Plan(tuple(steps), defaults)


def _defaults(reader_fields: dict[str, Any], read: set[str]) -> dict[str, Any] | None:
    """Default values of the reader fields the writer lacks (None if one has none)."""
    defaults: dict[str, Any] = {}
    for name, field in reader_fields.items():
        if name in read:
            continue
        kind = field_kind(field["type"])
        if "default" not in field or kind not in COLUMN_DTYPES or kind == "bytes":
            return None
        defaults[name] = field["default"]
    return defaults


def reader_kinds(reader: Schema) -> dict[str, str]:
    """Column kinds of a reader schema; it must be a flat record of primitive fields."""
    if not isinstance(reader, dict) or reader.get("type") != "record":
        raise ValueError("the columnar decoder needs a record reader schema")
    kinds: dict[str, str] = {}
    for field in reader["fields"]:
        kind = field_kind(field["type"])
        if not isinstance(kind, str) or kind not in COLUMN_DTYPES:
            raise ValueError(f"reader field {field['name']!r} is not a primitive column")
        kinds[field["name"]] = kind
    return kinds


class _Cursor:
    """Positions of a set of rows in one buffer, read field by field; ``ok`` drops any row
    that reads past its end or holds a value the columns must not take."""

    def __init__(
        self,
        buf: NDArray[np.uint8],
        raw: bytes,
        starts: NDArray[np.int64],
        ends: NDArray[np.int64],
    ) -> None:
        self.buf = buf
        self.raw = raw  # ``buf`` as bytes, unpadded: UTF-8 checks of the strings skipped
        self.pos = starts.copy()
        self.end = ends
        self.ok = np.ones(len(starts), dtype=np.bool_)

    def advance(self, size: NDArray[np.int64] | int) -> None:
        self.pos = self.pos + size
        self.ok &= self.pos <= self.end
        np.minimum(self.pos, self.end, out=self.pos)  # later reads stay inside the buffer

    def peek_varint(
        self, pos: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
        """Zig-zag varints at ``pos``: (values, sizes, whether the columns can take each)."""
        window = self.buf[pos[:, None] + _BYTE_INDEX]
        more = window >= 0x80
        size = more.argmin(axis=1) + 1
        payload = (window & 0x7F).astype(np.uint64) << _SHIFTS
        payload[size[:, None] <= _BYTE_INDEX] = 0
        unsigned = payload.sum(axis=1, dtype=np.uint64)
        value = (unsigned >> np.uint64(1)).astype(np.int64) ^ -(unsigned & np.uint64(1)).astype(
            np.int64
        )
        return value, size.astype(np.int64), ~more.all(axis=1)

    def varint(self, width: int = _VARINT_BYTES) -> NDArray[np.int64]:
        first = self.buf[self.pos]
        if (first < 0x80).all():  # one byte each (string lengths, small ints): no window
            self.advance(1)
            small = first.astype(np.int64)
            return np.asarray((small >> 1) ^ -(small & 1))
        value, size, ok = self.peek_varint(self.pos)
        self.ok &= ok & (size <= width)
        self.advance(size)
        return value

    def fixed(self, width: int, dtype: str) -> NDArray[Any]:
        window = self.buf[self.pos[:, None] + np.arange(width)]
        self.advance(width)
        return np.ascontiguousarray(window).view(dtype).reshape(-1)

    def boolean(self) -> NDArray[np.bool_]:
        byte = self.buf[self.pos]
        self.ok &= byte <= 1  # the spec allows no other byte; the strict walk names the error
        self.advance(1)
        return np.asarray(byte == 1)

    def span(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """A string's or bytes' (start, length)."""
        length = self.varint()
        self.ok &= length >= 0
        length = np.maximum(length, 0)
        start = self.pos
        self.advance(length)
        return start, length

    def skip(self, kind: str) -> None:
        """A field the reader does not have: read, and its strings checked all the same."""
        if kind == "string":
            start, length = self.span()
            self.check_utf8(self.ok.copy(), start, length)
        else:
            self.read(kind)

    def check_utf8(
        self, rows: NDArray[np.bool_], start: NDArray[np.int64], length: NDArray[np.int64]
    ) -> None:
        """Drop the ``rows`` whose span is not UTF-8 (rows whose span overruns are not looked
        at: a bogus length would slice most of the batch)."""
        rows = rows & (start + length <= self.end)
        self.ok[rows] &= _utf8(self.buf, self.raw, start[rows], length[rows])

    def read(self, kind: str) -> Any:
        if kind in ("int", "long"):
            value = self.varint(_INT_BYTES if kind == "int" else _VARINT_BYTES)
            if kind == "int":
                self.ok &= (value >= _INT_MIN) & (value <= _INT_MAX)
            return value
        if kind == "double":
            return self.fixed(8, "<f8")
        if kind == "float":
            return self.fixed(4, "<f4").astype(np.float64)
        if kind == "boolean":
            return self.boolean()
        if kind in ("string", "bytes"):
            return self.span()
        return None  # null

    def skip_union(self, branches: tuple[str, ...]) -> None:
        """Skip a union value: its branch index, then that branch's bytes."""
        index = self.varint()
        self.ok &= (index >= 0) & (index < len(branches))
        size = np.zeros(len(index), dtype=np.int64)
        for i, branch in enumerate(branches):
            taken = (index == i) & self.ok
            if not taken.any():  # e.g. no row has a device id: nothing to look at
                continue
            if branch in ("string", "bytes"):
                head, length, ok = self._span_at(self.pos, taken)
                branch_size = head + length
                if branch == "string":
                    self.check_utf8(taken & ok, self.pos + head, length)
            else:
                branch_size, ok = self._size_at(branch, self.pos)
            size += np.where(taken, branch_size, 0)
            self.ok &= ~taken | ok
        self.advance(size)

    def _span_at(
        self, pos: NDArray[np.int64], rows: NDArray[np.bool_]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
        """A string's or bytes' (bytes of its length, length, whether the spec allows it),
        valid for ``rows``. A length under 64 takes one byte: no 9-byte window then (it pays
        for the UTF-8 check of the strings skipped)."""
        first = self.buf[pos]
        if ((first < 0x80) | ~rows).all():
            small = first.astype(np.int64)
            length = (small >> 1) ^ -(small & 1)
            return np.ones(len(pos), dtype=np.int64), np.maximum(length, 0), length >= 0
        length, head, ok = self.peek_varint(pos)
        return head, np.maximum(length, 0), ok & (length >= 0)

    def _size_at(
        self, kind: str, pos: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """Bytes a value of ``kind`` takes at ``pos``, and whether the spec allows it."""
        if kind in ("int", "long"):
            value, size, ok = self.peek_varint(pos)
            if kind == "int":
                ok &= (size <= _INT_BYTES) & (value >= _INT_MIN) & (value <= _INT_MAX)
            return size, ok
        if kind == "boolean":
            return np.ones(len(pos), dtype=np.int64), self.buf[pos] <= 1
        width = {"null": 0, "float": 4, "double": 8}[kind]
        return np.full(len(pos), width, dtype=np.int64), np.ones(len(pos), dtype=np.bool_)


@dataclass(frozen=True)
class DecodedColumns:
    """The decodable rows of a batch as columns (row ``j`` came from ``values[indices[j]]``)
    and, for the rest, (index, error)."""

    columns: dict[str, NDArray[Any]]
    indices: NDArray[np.intp]
    failures: list[tuple[int, DecodeError]]


class ColumnarDecoder:
    """Decode framed Avro values into the columns of a flat reader schema."""

    def __init__(self, registry: SchemaRegistry, reader_schema: Schema) -> None:
        self.per_record = EventDecoder(registry, reader_schema)
        self.registry = registry
        self.kinds = reader_kinds(self.per_record.reader_schema)
        self._plans: dict[int, _Plan | None] = {}

    def decode_many(self, values: Sequence[bytes | None]) -> DecodedColumns:
        """Decode a batch. Only ``DecodeError`` is collected per row; a
        ``SchemaRegistryError`` propagates (the batch is fine and must be retried)."""
        batch = FramedBatch.of(values)
        parts: list[tuple[NDArray[np.intp], dict[str, NDArray[Any]]]] = []
        left = ~batch.framed
        for schema_id, rows in batch.by_schema():
            plan = self._plan(schema_id)
            if plan is None:
                left[rows] = True
                continue
            cursor = _Cursor(
                batch.buf, batch.raw, batch.starts[rows] + HEADER_SIZE, batch.ends[rows]
            )
            columns = self._parse(cursor, plan, batch.raw)
            left[rows[~cursor.ok]] = True
            parts.append((rows[cursor.ok], columns))
        failures = self._per_record(batch.given, np.flatnonzero(left), parts)
        return self._merge(parts, failures)

    def _plan(self, schema_id: int) -> _Plan | None:
        if schema_id not in self._plans:
            try:
                writer = self.registry.schema(schema_id)
            except DecodeError:  # unknown id: per record, each gets its error
                return None
            self._plans[schema_id] = compile_plan(writer, self.per_record.reader_schema)
        return self._plans[schema_id]

    def _parse(self, cursor: _Cursor, plan: _Plan, raw: bytes) -> dict[str, NDArray[Any]]:
        read: dict[str, Any] = {}
        for name, kind in plan.steps:
            if isinstance(kind, tuple):
                cursor.skip_union(kind)
            elif name is None:
                cursor.skip(kind)
            else:
                read[name] = cursor.read(kind)
        cursor.ok &= cursor.pos == cursor.end  # trailing bytes: the strict walk names the error
        keep = cursor.ok.copy()
        count = int(keep.sum())
        columns: dict[str, NDArray[Any]] = {}
        for name, kind in self.kinds.items():
            if name in plan.defaults:
                columns[name] = np.full(count, plan.defaults[name], dtype=COLUMN_DTYPES[kind])
            elif kind in ("string", "bytes"):
                start, length = read[name]
                utf8 = kind == "string"
                columns[name] = _texts(raw, start[keep], length[keep], utf8, cursor, keep)
            else:
                columns[name] = read[name][keep]
        if not cursor.ok.all():  # a string failed UTF-8: drop that row from every column
            still = cursor.ok[np.flatnonzero(keep)]
            columns = {name: column[still] for name, column in columns.items()}
        return columns

    def _per_record(
        self,
        values: list[bytes],
        rows: NDArray[np.intp],
        parts: list[tuple[NDArray[np.intp], dict[str, NDArray[Any]]]],
    ) -> list[tuple[int, DecodeError]]:
        """Rows the columns did not take, through fastavro: records or errors."""
        if len(rows) == 0:
            return []
        records, decoded, failed = self.per_record.decode_many([values[r] for r in rows.tolist()])
        indices = rows[decoded]
        failures = [(int(rows[i]), error) for i, error in failed]
        if records:
            columns = {
                name: np.fromiter(
                    (r[name] for r in records), dtype=COLUMN_DTYPES[kind], count=len(records)
                )
                for name, kind in self.kinds.items()
            }
            parts.append((indices, columns))
        return failures

    def _merge(
        self,
        parts: list[tuple[NDArray[np.intp], dict[str, NDArray[Any]]]],
        failures: list[tuple[int, DecodeError]],
    ) -> DecodedColumns:
        if len(parts) == 1:
            indices, columns = parts[0]
            return DecodedColumns(columns, indices, failures)
        if not parts:
            empty = {n: np.empty(0, dtype=COLUMN_DTYPES[k]) for n, k in self.kinds.items()}
            return DecodedColumns(empty, np.empty(0, dtype=np.intp), failures)
        indices = np.concatenate([rows for rows, _ in parts])
        order = np.argsort(indices, kind="stable")
        columns = {
            name: np.concatenate([cols[name] for _, cols in parts])[order] for name in self.kinds
        }
        return DecodedColumns(columns, indices[order], sorted(failures, key=lambda f: f[0]))


def _texts(
    raw: bytes,
    start: NDArray[np.int64],
    length: NDArray[np.int64],
    utf8: bool,
    cursor: _Cursor,
    keep: NDArray[np.bool_],
) -> NDArray[np.object_]:
    """Python strings (or bytes) of the spans; a row with invalid UTF-8 leaves ``cursor.ok``."""
    spans = zip(start.tolist(), (start + length).tolist(), strict=True)
    pieces = [raw[a:b] for a, b in spans]
    texts: list[str | None] | list[bytes] = pieces
    if utf8:
        try:
            texts = [piece.decode() for piece in pieces]  # type: ignore[assignment]
        except UnicodeDecodeError:
            texts = [_utf8_or_none(piece) for piece in pieces]
            bad = np.array([text is None for text in texts], dtype=np.bool_)
            cursor.ok[np.flatnonzero(keep)[bad]] = False
    column = np.empty(len(texts), dtype=object)
    column[:] = texts
    return column


def _utf8(
    buf: NDArray[np.uint8], raw: bytes, start: NDArray[np.int64], length: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """Whether each span is UTF-8, with no str made. An ASCII span is: one numpy pass finds
    the spans with a byte >= 0x80, and only those are decoded (about 3x cheaper than slicing
    every span, on the hot path of v3 events)."""
    high = np.cumsum(buf[_within(start, length)] >= 0x80)
    ok = np.ones(len(start), dtype=np.bool_)
    if not len(high) or not high[-1]:
        return ok
    stops = np.cumsum(length)
    before = np.concatenate([[0], high])
    for row in np.flatnonzero(before[stops] > before[stops - length]).tolist():
        a = int(start[row])
        ok[row] = _utf8_or_none(raw[a : a + int(length[row])]) is not None
    return ok


def _utf8_or_none(piece: bytes) -> str | None:
    try:
        return piece.decode()
    except UnicodeDecodeError:
        return None


# ---------------------------------------------------------------------------------------------
# Encoding


@dataclass(frozen=True)
class Encoded:
    """A column given as bytes already in Avro form: row ``i`` is ``table[codes[i]]``.

    For fields with few distinct values (constants, enums, arrays of tags): each distinct
    value is encoded once, by fastavro, with ``ColumnarEncoder.table``.
    """

    codes: NDArray[np.intp]
    table: Sequence[bytes]


@dataclass(frozen=True)
class _Ragged:
    """One field of every row: the rows' bytes back to back, and each row's length."""

    data: NDArray[np.uint8]
    lengths: NDArray[np.int64]


_VARINT_INDEX = np.arange(10)
_VARINT_SHIFTS = (7 * _VARINT_INDEX).astype(np.uint64)
_VARINT_LIMITS = np.left_shift(np.uint64(1), _VARINT_SHIFTS[1:])  # 2**7, 2**14, ...


def _zigzag_varints(values: NDArray[np.int64]) -> _Ragged:
    signed = values.astype(np.int64)
    if len(signed) and signed.min() >= -64 and signed.max() < 64:  # one byte each
        small = ((signed << 1) ^ (signed >> 63)).astype(np.uint8)
        return _Ragged(small, np.ones(len(signed), dtype=np.int64))
    unsigned = ((signed << 1) ^ (signed >> 63)).astype(np.uint64)
    size = np.searchsorted(_VARINT_LIMITS, unsigned, side="right") + 1
    groups = ((unsigned[:, None] >> _VARINT_SHIFTS) & np.uint64(0x7F)).astype(np.uint8)
    groups[(size - 1)[:, None] > _VARINT_INDEX] |= 0x80
    return _Ragged(groups[size[:, None] > _VARINT_INDEX], size.astype(np.int64))


def _fixed(values: NDArray[Any], dtype: str) -> _Ragged:
    data = np.ascontiguousarray(values, dtype=dtype).view(np.uint8)
    return _Ragged(data, np.full(len(values), np.dtype(dtype).itemsize, dtype=np.int64))


def _lookup(column: Encoded) -> _Ragged:
    sizes = np.fromiter(map(len, column.table), dtype=np.int64, count=len(column.table))
    table = np.frombuffer(b"".join(column.table), dtype=np.uint8)
    lengths = sizes[column.codes]
    firsts = (np.cumsum(sizes) - sizes)[column.codes]
    return _Ragged(table[_within(firsts, lengths)], lengths)


def _within(firsts: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """Positions ``firsts[i] + 0 .. lengths[i]-1`` of every row, back to back."""
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    return np.repeat(firsts - (ends - lengths), lengths) + np.arange(total)


def _strings(values: Sequence[Any]) -> list[_Ragged]:
    pieces = [v if isinstance(v, bytes) else v.encode() for v in values]
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    data = np.frombuffer(b"".join(pieces), dtype=np.uint8)
    return [_zigzag_varints(lengths), _Ragged(data, lengths)]


def _interleave(fields: list[_Ragged], rows: int) -> list[bytes]:
    """Rows of ``fields`` (in order) as one value each."""
    lengths = np.stack([f.lengths for f in fields], axis=1)
    row_ends = np.cumsum(lengths.sum(axis=1))
    field_starts = (row_ends - lengths.sum(axis=1))[:, None] + np.cumsum(lengths, axis=1) - lengths
    out = np.empty(int(row_ends[-1]) if rows else 0, dtype=np.uint8)
    for index, field in enumerate(fields):
        out[_within(field_starts[:, index], field.lengths)] = field.data
    raw = out.tobytes()
    bounds = np.concatenate([[0], row_ends]).tolist()
    return [raw[a:b] for a, b in itertools.pairwise(bounds)]


class ColumnarEncoder:
    """Encode columns as framed values of one record schema (the latest of ``subject``)."""

    def __init__(self, registry: SchemaRegistry, subject: str) -> None:
        self.subject = subject
        self.schema_id = registry.latest_id(subject)
        self.schema: Schema = registry.schema(self.schema_id)
        if not isinstance(self.schema, dict) or self.schema.get("type") != "record":
            raise ValueError(f"{subject!r} is not a record schema")
        self.fields: dict[str, Any] = {f["name"]: f["type"] for f in self.schema["fields"]}
        self._header = header(self.schema_id)

    def table(self, field: str, values: Sequence[Any]) -> list[bytes]:
        """Each value of ``field``, Avro-encoded by fastavro (for an ``Encoded`` column)."""
        out = []
        buffer = BytesIO()
        for value in values:
            buffer.seek(0)
            buffer.truncate()
            try:
                schemaless_writer(buffer, self.fields[field], value)
            except Exception as exc:
                raise EncodeError(
                    f"value of {field!r} does not fit schema id {self.schema_id}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            out.append(buffer.getvalue())
        return out

    def encode_columns(self, columns: Mapping[str, Any], rows: int) -> list[bytes]:
        """One framed value per row. Columns: numpy arrays for numbers and booleans, enum
        symbol indices, sequences of str (or UTF-8 bytes) for strings, else ``Encoded``."""
        if rows == 0:
            return []
        missing = set(self.fields) - set(columns)
        if missing:
            raise EncodeError(f"columns missing for schema id {self.schema_id}: {sorted(missing)}")
        parts = [_lookup(Encoded(np.zeros(rows, dtype=np.intp), [self._header]))]
        for name, avro_type in self.fields.items():
            parts += self._field(name, avro_type, columns[name], rows)
        return _interleave(parts, rows)

    def _field(self, name: str, avro_type: Any, column: Any, rows: int) -> list[_Ragged]:
        if isinstance(column, Encoded):
            ragged = [_lookup(column)]
        elif isinstance(avro_type, dict) and avro_type.get("type") == "enum":
            codes = np.asarray(column, dtype=np.int64)
            if codes.size and (codes.min() < 0 or codes.max() >= len(avro_type["symbols"])):
                raise EncodeError(f"{name!r}: enum index out of range")
            ragged = [_zigzag_varints(codes)]
        elif avro_type in ("long", "int"):
            ragged = [_zigzag_varints(np.asarray(column, dtype=np.int64))]
        elif avro_type == "double":
            ragged = [_fixed(np.asarray(column), "<f8")]
        elif avro_type == "float":
            ragged = [_fixed(np.asarray(column), "<f4")]
        elif avro_type == "boolean":
            ragged = [_fixed(np.asarray(column, dtype=np.bool_), "u1")]
        elif avro_type in ("string", "bytes"):
            ragged = _strings(column)
        else:
            raise EncodeError(f"{name!r} ({avro_type}) must be given as Encoded")
        if any(len(r.lengths) != rows for r in ragged):
            raise EncodeError(f"column {name!r} does not have {rows} rows")
        return ragged
