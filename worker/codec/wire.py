"""Confluent wire format: magic byte 0, 4-byte big-endian schema id, then the Avro body.

Every Confluent serializer and Schema Registry aware tool reads and writes this framing.
"""

from __future__ import annotations

import struct

from worker.codec.errors import DecodeError, EncodeError

MAGIC = 0
HEADER = struct.Struct(">BI")
HEADER_SIZE = HEADER.size  # 5
MAX_SCHEMA_ID = 2**31 - 1  # the registry's ids are Java ints


def frame(schema_id: int, body: bytes) -> bytes:
    """Prefix ``body`` with the wire header for ``schema_id``."""
    return header(schema_id) + body


def header(schema_id: int) -> bytes:
    """The 5-byte header alone, so encoders can write it once into their buffer."""
    if not 0 <= schema_id <= MAX_SCHEMA_ID:
        raise EncodeError(f"schema id {schema_id} is outside 0..{MAX_SCHEMA_ID}")
    return HEADER.pack(MAGIC, schema_id)


def unframe(value: bytes | None) -> tuple[int, memoryview]:
    """Split a message value into (schema id, body) without copying the body.

    Raises ``DecodeError`` (code ``empty``, ``too_short`` or ``wrong_magic_byte``).
    """
    if not value:
        raise DecodeError("empty", "message value is empty (null or zero bytes)")
    if len(value) < HEADER_SIZE:
        raise DecodeError(
            "too_short",
            f"message value has {len(value)} bytes, fewer than the {HEADER_SIZE}-byte header",
        )
    magic, schema_id = HEADER.unpack_from(value)
    if magic != MAGIC:
        raise DecodeError(
            "wrong_magic_byte",
            f"message value starts with byte {magic}, not the magic byte {MAGIC}: "
            "not written by a Schema Registry aware serializer",
        )
    return schema_id, memoryview(value)[HEADER_SIZE:]
