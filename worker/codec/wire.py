"""Confluent wire format: magic byte 0, 4-byte big-endian schema id, then the Avro body.

Every Confluent serializer and Schema Registry aware tool reads and writes this framing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

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


# Vectorized readers look up to 10 bytes past a position (a varint): the joined buffer of a
# batch is padded by this much, so no read runs off its end.
BATCH_PAD = 16


@dataclass(frozen=True)
class FramedBatch:
    """A batch of values joined into one padded buffer: each value's span, whether it has
    the Confluent header, and its schema id — what the columnar decoders start from."""

    given: list[bytes]  # the values, None as b""
    raw: bytes  # the values joined
    buf: NDArray[np.uint8]  # ``raw`` padded with BATCH_PAD zero bytes
    starts: NDArray[np.int64]
    ends: NDArray[np.int64]
    framed: NDArray[np.bool_]  # long enough for the header, and starting with the magic byte
    schema_ids: NDArray[np.int64]  # meaningful where ``framed``

    @classmethod
    def of(cls, values: Sequence[bytes | None]) -> FramedBatch:
        given = [value or b"" for value in values]
        lengths = np.fromiter(map(len, given), dtype=np.int64, count=len(given))
        ends = np.cumsum(lengths)
        starts = ends - lengths
        raw = b"".join(given)
        buf = np.frombuffer(raw + bytes(BATCH_PAD), dtype=np.uint8)
        framed = (lengths >= HEADER_SIZE) & (buf[starts] == MAGIC)
        head = buf[starts[:, None] + np.arange(1, HEADER_SIZE)].astype(np.int64)
        schema_ids = (head[:, 0] << 24) | (head[:, 1] << 16) | (head[:, 2] << 8) | head[:, 3]
        return cls(given, raw, buf, starts, ends, framed, schema_ids)

    def by_schema(self) -> Iterator[tuple[int, NDArray[np.intp]]]:
        """Each schema id of the framed values, with the rows that carry it."""
        for schema_id in np.unique(self.schema_ids[self.framed]).tolist():
            yield schema_id, np.flatnonzero(self.framed & (self.schema_ids == schema_id))
