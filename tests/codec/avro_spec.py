"""An independent, deliberately plain reading of the Avro specification, for the codec tests.

It shares no code with ``worker/codec``: one byte at a time, recursive, slow and obvious, so
that when the codecs and this agree, they agree with the spec rather than with each other.
It answers what a framed value should decode to (a record of the reader schema) or which
``DecodeError`` code it must get. Plus the few builders the tests use to hand-make bodies.
"""

from __future__ import annotations

import struct
from typing import Any

from worker.codec import DecodeError, SchemaRegistry

INT_BYTES, LONG_BYTES = 5, 10  # the spec's widest varints for 32- and 64-bit values


class Rejected(Exception):
    """The spec rejects the value; ``code`` is the ``DecodeError`` code it must get."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --- builders -----------------------------------------------------------------------------


def uvarint(unsigned: int) -> bytes:
    """Base-128 groups, low first, of any non-negative number (no width limit: for damage)."""
    out = bytearray()
    while True:
        group, unsigned = unsigned & 0x7F, unsigned >> 7
        if not unsigned:
            return bytes([*out, group])
        out.append(group | 0x80)


def zigzag(value: int) -> bytes:
    """A zig-zag varint of any integer, in range of Avro's types or not."""
    return uvarint(2 * value if value >= 0 else -2 * value - 1)


def string(raw: bytes) -> bytes:
    return zigzag(len(raw)) + raw


# --- the reference reader -------------------------------------------------------------------


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise Rejected("truncated_body")
        piece = self.data[self.at : self.at + count]
        self.at += count
        return piece

    def varint(self, most_bytes: int) -> int:
        unsigned = 0
        for i in range(most_bytes):
            byte = self.take(1)[0]
            unsigned += (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                break
        else:
            raise Rejected("invalid_body")  # still more bytes after the widest varint
        bits = 32 if most_bytes == INT_BYTES else 64
        if unsigned >= 2**bits:
            raise Rejected("invalid_body")
        return unsigned // 2 if unsigned % 2 == 0 else -(unsigned + 1) // 2


def _read(body: _Body, schema: Any, named: dict[str, Any]) -> Any:
    if isinstance(schema, list):
        index = body.varint(LONG_BYTES)
        if not 0 <= index < len(schema):
            raise Rejected("invalid_body")
        return _read(body, schema[index], named)
    if isinstance(schema, str) and schema in named:
        return _read(body, named[schema], named)
    kind = schema if isinstance(schema, str) else schema["type"]
    if isinstance(kind, (dict, list)):
        return _read(body, kind, named)
    return _READERS[kind](body, schema, named)


def _boolean(body: _Body, _schema: Any, _named: Any) -> bool:
    byte = body.take(1)[0]
    if byte > 1:
        raise Rejected("invalid_body")
    return byte == 1


def _bytes(body: _Body, _schema: Any, _named: Any) -> bytes:
    size = body.varint(LONG_BYTES)
    if size < 0:
        raise Rejected("invalid_body")
    return body.take(size)


def _string(body: _Body, schema: Any, named: Any) -> str:
    try:
        return _bytes(body, schema, named).decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected("invalid_body") from None


def _record(body: _Body, schema: Any, named: dict[str, Any]) -> dict[str, Any]:
    named[schema["name"]] = schema
    return {f["name"]: _read(body, f["type"], named) for f in schema["fields"]}


def _enum(body: _Body, schema: Any, named: dict[str, Any]) -> str:
    named[schema["name"]] = schema
    index = body.varint(INT_BYTES)
    if not 0 <= index < len(schema["symbols"]):
        raise Rejected("invalid_body")
    return str(schema["symbols"][index])


def _blocks(body: _Body, read_item: Any) -> list[Any]:
    items: list[Any] = []
    while (count := body.varint(LONG_BYTES)) != 0:
        if count < 0:
            count = -count
            size = body.varint(LONG_BYTES)
            start = body.at
            items += [read_item() for _ in range(count)]
            if body.at - start != size:
                raise Rejected("invalid_body")
        else:
            items += [read_item() for _ in range(count)]
    return items


def _array(body: _Body, schema: Any, named: dict[str, Any]) -> list[Any]:
    return _blocks(body, lambda: _read(body, schema["items"], named))


def _map(body: _Body, schema: Any, named: dict[str, Any]) -> dict[str, Any]:
    def pair() -> tuple[str, Any]:
        return _string(body, "string", named), _read(body, schema["values"], named)

    return dict(_blocks(body, pair))


_READERS: dict[str, Any] = {
    "null": lambda body, schema, named: None,
    "boolean": _boolean,
    "int": lambda body, schema, named: body.varint(INT_BYTES),
    "long": lambda body, schema, named: body.varint(LONG_BYTES),
    "float": lambda body, schema, named: struct.unpack("<f", body.take(4))[0],
    "double": lambda body, schema, named: struct.unpack("<d", body.take(8))[0],
    "bytes": _bytes,
    "string": _string,
    "fixed": lambda body, schema, named: body.take(schema["size"]),
    "record": _record,
    "enum": _enum,
    "array": _array,
    "map": _map,
}


def spec_answer(registry: SchemaRegistry, reader: Any, value: bytes | None) -> dict[str, Any] | str:
    """The reader-schema record the spec makes of ``value``, or the error code it must get.

    Resolution is only what our transaction schemas need: same record name, reader fields
    taken by name, defaults for the missing ones, writer-only fields dropped.
    """
    if not value:
        return "empty"
    if len(value) < 5:
        return "too_short"
    if value[0] != 0:
        return "wrong_magic_byte"
    try:
        writer = registry.schema(int.from_bytes(value[1:5], "big"))
    except DecodeError as exc:
        return exc.code
    body = _Body(bytes(value[5:]))
    try:
        written = _read(body, writer, {})
    except Rejected as exc:
        return exc.code
    if body.at != len(body.data):
        return "trailing_bytes"
    if not isinstance(writer, dict) or writer.get("name") != reader["name"]:
        return "invalid_body"  # another record: does not resolve to the reader
    return {f["name"]: written.get(f["name"], f.get("default")) for f in reader["fields"]}


def stretched(varint: bytes, extra: int) -> bytes:
    """The same varint with ``extra`` more groups of zeros: the same value, over-long."""
    if extra == 0:
        return varint
    return varint[:-1] + bytes([varint[-1] | 0x80]) + b"\x80" * (extra - 1) + b"\x00"


def encode_field(avro_type: Any, value: Any) -> bytes:
    """One field of our transaction schemas, encoded by the spec (for hand-made bodies)."""
    if isinstance(avro_type, list):  # ["null", "string"]
        return zigzag(0) if value is None else zigzag(1) + string(value.encode())
    if avro_type == "string":
        return string(value.encode())
    if avro_type in ("int", "long"):
        return zigzag(value)
    if avro_type == "double":
        return struct.pack("<d", value)
    if avro_type == "boolean":
        return b"\x01" if value else b"\x00"
    raise ValueError(f"no builder for {avro_type!r}")


def transaction_body(writer: Any, record: dict[str, Any], **raw: bytes) -> bytes:
    """The body ``writer`` (a transaction schema) makes of ``record``, except that the fields
    named in ``raw`` are those bytes as given (valid or not)."""
    return b"".join(
        raw[f["name"]] if f["name"] in raw else encode_field(f["type"], record.get(f["name"]))
        for f in writer["fields"]
    )
