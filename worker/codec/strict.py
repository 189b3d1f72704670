"""Strict Avro: walk the writer schema over a body and reject what the specification rejects.

fastavro reads leniently, and what it lets through gets scored: any non-zero boolean byte is
true, an ``int`` takes any width (an account age of 2**32 + 100 then wraps to 100 in an int32
column), varints run past 10 bytes, union index -1 picks the last branch, a string cut short
or given a negative length at the end of the body reads as whatever is left, and the fields
the reader skips are never looked at (invalid UTF-8 in them passes). So ``EventDecoder``
walks every body with this first and gives fastavro only what the spec accepts; fastavro
still does the reading and the schema resolution.

The walk knows every Avro type (records, enums, arrays, maps, unions, fixed, named
references, logical types by their underlying type), so no writer schema is left to
fastavro's judgement. Non-shortest varints within the widest width (5 bytes for an ``int``,
10 for a ``long``) are valid Avro, as in the Java reference implementation, and pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastavro.types import Schema

from worker.codec.errors import DecodeError, DecodeErrorCode

# (body, position, end of body) -> position after one value; raises _Broken.
Read = Callable[[bytes, int, int], int]

INT_BYTES, LONG_BYTES = 5, 10  # the widest varints of a 32- and a 64-bit value
_BITS = {INT_BYTES: 32, LONG_BYTES: 64}
# Items that take no bytes (null, empty records) cost nothing to claim: a count of 2**62 of
# them is valid Avro but would make fastavro build a list of that many. Not in the spec: ours.
MAX_EMPTY_ITEMS = 1 << 16


class _Broken(Exception):  # internal: never leaves this module
    """A rule broken at byte ``pos``; records add their field names as it passes out."""

    def __init__(self, code: DecodeErrorCode, rule: str, pos: int) -> None:
        super().__init__(rule)
        self.code: DecodeErrorCode = code
        self.rule = rule
        self.pos = pos
        self.path: list[str] = []

    def describe(self, schema_id: int, size: int) -> str:
        """Names the schema, field and rule, never a value: the message ends up in logs."""
        where = f"field {'.'.join(reversed(self.path))}: " if self.path else ""
        return f"schema id {schema_id}: {where}{self.rule} (at byte {self.pos} of {size})"


def _ends_inside(what: str, pos: int) -> _Broken:
    return _Broken("truncated_body", f"the body ends inside {what}", pos)


def varint(buf: bytes, pos: int, end: int, width: int, what: str) -> tuple[int, int]:
    """(zig-zag value, position after it) of a varint of at most ``width`` bytes."""
    if pos < end:
        byte = buf[pos]
        if byte < 0x80:  # one byte: most lengths, indices, flags and small numbers
            return (byte >> 1) ^ -(byte & 1), pos + 1
    return _wide_varint(buf, pos, end, width, what)


def _wide_varint(buf: bytes, pos: int, end: int, width: int, what: str) -> tuple[int, int]:
    unsigned = 0
    for i in range(width):
        if pos + i >= end:
            raise _ends_inside(what, pos)
        byte = buf[pos + i]
        unsigned |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            break
    else:
        raise _Broken("invalid_body", f"{what} is a varint longer than {width} bytes", pos)
    if unsigned >> _BITS[width]:
        raise _Broken("invalid_body", f"{what} does not fit {_BITS[width]} bits", pos)
    return (unsigned >> 1) ^ -(unsigned & 1), pos + i + 1


def _null(buf: bytes, pos: int, end: int) -> int:
    return pos


def _boolean(buf: bytes, pos: int, end: int) -> int:
    if pos >= end:
        raise _ends_inside("a boolean", pos)
    if buf[pos] > 1:
        raise _Broken("invalid_body", "a boolean byte is neither 0 nor 1", pos)
    return pos + 1


# The leaves below test the one-byte case inline before calling ``varint``: the walk runs for
# every record ``EventDecoder`` reads, and calls are most of its cost.


def _int(buf: bytes, pos: int, end: int) -> int:
    if pos < end and buf[pos] < 0x80:
        return pos + 1
    return varint(buf, pos, end, INT_BYTES, "an int")[1]


def _long(buf: bytes, pos: int, end: int) -> int:
    if pos < end and buf[pos] < 0x80:
        return pos + 1
    return varint(buf, pos, end, LONG_BYTES, "a long")[1]


def _span(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """(start, stop) of the bytes of a string or bytes value."""
    length, start = varint(buf, pos, end, LONG_BYTES, f"the length of {what}")
    if length < 0:
        raise _Broken("invalid_body", f"{what} has a negative length", pos)
    if start + length > end:
        raise _ends_inside(what, start)
    return start, start + length


def _bytes(buf: bytes, pos: int, end: int) -> int:
    return _span(buf, pos, end, "a bytes value")[1]


def _string(buf: bytes, pos: int, end: int) -> int:
    if pos < end and not (head := buf[pos]) & 0x81:  # a length of 0..63, in one byte
        start, stop = pos + 1, pos + 1 + (head >> 1)
        if stop > end:
            raise _ends_inside("a string", start)
    else:
        start, stop = _span(buf, pos, end, "a string")
    piece = buf[start:stop]
    if not piece.isascii():
        try:
            piece.decode()
        except UnicodeDecodeError:
            raise _Broken("invalid_body", "a string is not valid UTF-8", start) from None
    return stop


def _fixed(width: int, what: str) -> Read:
    def read(buf: bytes, pos: int, end: int) -> int:
        if pos + width > end:
            raise _ends_inside(what, pos)
        return pos + width

    return read


def _index(count: int, width: int, what: str) -> Callable[[bytes, int, int], tuple[int, int]]:
    """A varint that must be in 0..count-1: a union branch or an enum symbol."""

    def read(buf: bytes, pos: int, end: int) -> tuple[int, int]:
        index, after = varint(buf, pos, end, width, what)
        if not 0 <= index < count:
            raise _Broken("invalid_body", f"{what} is outside its {count} choices", pos)
        return index, after

    return read


def _union(branches: list[Read]) -> Read:
    index = _index(len(branches), LONG_BYTES, "a union index")
    one_byte = 2 * len(branches)  # zig-zag bytes below this are the indices 0..n-1

    def read(buf: bytes, pos: int, end: int) -> int:
        if pos < end and not (byte := buf[pos]) & 1 and byte < one_byte:
            return branches[byte >> 1](buf, pos + 1, end)
        branch, pos = index(buf, pos, end)
        return branches[branch](buf, pos, end)

    return read


def _enum(symbols: int) -> Read:
    index = _index(symbols, INT_BYTES, "an enum index")
    return lambda buf, pos, end: index(buf, pos, end)[1]


def _record(fields: list[tuple[str, Read]]) -> Read:
    def read(buf: bytes, pos: int, end: int) -> int:
        for name, field in fields:
            try:  # free in Python 3.11 until something raises
                pos = field(buf, pos, end)
            except _Broken as broken:
                broken.path.append(name)
                raise
        return pos

    return read


def _blocks(item: Read, empty: bool, what: str) -> Read:
    """Arrays and maps: blocks of items until a count of 0. A negative count is followed by
    the block's size in bytes, which must be what its items take."""

    def read(buf: bytes, pos: int, end: int) -> int:
        while True:
            count, pos = varint(buf, pos, end, LONG_BYTES, f"the block count of {what}")
            if count == 0:
                return pos
            size = None
            if count < 0:
                count = -count
                size, pos = varint(buf, pos, end, LONG_BYTES, f"the block size of {what}")
            start = pos
            if empty:
                if count > MAX_EMPTY_ITEMS:
                    raise _Broken("invalid_body", f"{what} claims too many empty items", pos)
            else:
                for _ in range(count):  # each item takes a byte at least: bounded by the body
                    pos = item(buf, pos, end)
            if size is not None and pos - start != size:
                raise _Broken("invalid_body", f"a block of {what} is not the size it says", start)

    return read


def _map_entry(value: Read) -> Read:
    def read(buf: bytes, pos: int, end: int) -> int:
        return value(buf, _string(buf, pos, end), end)

    return read


_PRIMITIVES: dict[str, Read] = {
    "null": _null,
    "boolean": _boolean,
    "int": _int,
    "long": _long,
    "float": _fixed(4, "a float"),
    "double": _fixed(8, "a double"),
    "bytes": _bytes,
    "string": _string,
}


class _Compiler:
    """One writer schema → one ``Read``; named types are looked up when read, so recursive
    schemas compile."""

    def __init__(self) -> None:
        self.named: dict[str, tuple[Read, bool]] = {}

    def compile(self, schema: Any) -> tuple[Read, bool]:
        """(reader, whether a value takes no bytes at all)."""
        if isinstance(schema, list):
            return _union([self.compile(branch)[0] for branch in schema]), False
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _PRIMITIVES[schema], schema == "null"
            return self._reference(schema)
        kind = schema["type"]
        if not isinstance(kind, str) or kind in _PRIMITIVES:  # {"type": ...}, logical types
            return self.compile(kind)
        return self._complex(kind, schema)

    def _reference(self, name: str) -> tuple[Read, bool]:
        if name not in self.named:
            raise ValueError(f"the writer schema names an undefined type {name!r}")
        named = self.named
        return (lambda buf, pos, end: named[name][0](buf, pos, end)), named[name][1]

    def _complex(self, kind: str, schema: dict[str, Any]) -> tuple[Read, bool]:
        compiled: tuple[Read, bool]
        if kind in ("record", "error"):
            fields: list[tuple[str, Read]] = []
            read = _record(fields)
            self.named[schema["name"]] = (read, False)  # before its fields: one may name it
            empty = True
            for field in schema["fields"]:
                field_read, field_empty = self.compile(field["type"])
                fields.append((field["name"], field_read))
                empty = empty and field_empty
            compiled = (read, empty)
        elif kind == "enum":
            compiled = (_enum(len(schema["symbols"])), False)
        elif kind == "fixed":
            compiled = (_fixed(schema["size"], "a fixed value"), schema["size"] == 0)
        elif kind == "array":
            compiled = (_blocks(*self.compile(schema["items"]), "an array"), False)
        elif kind == "map":
            entry = _map_entry(self.compile(schema["values"])[0])
            compiled = (_blocks(entry, False, "a map"), False)
        else:
            raise ValueError(f"the writer schema has a type Avro does not define: {kind!r}")
        if "name" in schema:
            self.named[schema["name"]] = compiled
        return compiled


class StrictBody:
    """The strict walk of one writer schema (a schema parsed by fastavro), compiled once."""

    def __init__(self, writer: Schema) -> None:
        self._read = _Compiler().compile(writer)[0]

    def check(self, body: bytes, schema_id: int) -> None:
        """Raise ``DecodeError`` (invalid_body, truncated_body, trailing_bytes) unless ``body``
        is exactly one valid value of the writer schema."""
        size = len(body)
        try:
            pos = self._read(body, 0, size)
        except _Broken as broken:
            raise DecodeError(broken.code, broken.describe(schema_id, size)) from None
        except RecursionError:  # a recursive schema, nested deeper than Python's stack
            raise DecodeError(
                "invalid_body", f"schema id {schema_id}: values nested too deeply to read"
            ) from None
        if pos != size:
            raise DecodeError(
                "trailing_bytes", f"schema id {schema_id}: {size - pos} bytes left after the record"
            )
