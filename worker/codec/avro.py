"""Avro codecs for Kafka values: events in (any known producer version), results out.

Decoding resolves whatever schema the producer wrote with to the worker's reader schema, so old
(v1) and new (v3) producers both come out as v2 records. Every way a value can be broken maps to
one ``DecodeError`` code, so one bad message is dead-lettered and never stops its batch. What
is broken is the Avro specification's call, not fastavro's: each body passes the strict walk
of ``worker.codec.strict`` before fastavro reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.types import Schema

from worker.codec.errors import DecodeError, EncodeError
from worker.codec.registry import SchemaRegistry
from worker.codec.strict import StrictBody
from worker.codec.wire import header, unframe
from worker.settings import packaged_path

# The worker's reader schema, in ``default_schemas_dir()``: every producer version resolves to it.
TRANSACTION_READER_SCHEMA = "transaction.v2.avsc"


def default_schemas_dir() -> Path:
    """The schemas shipped inside the package (the local registry when none is configured);
    a checkout's top-level ``schemas/`` links to this folder."""
    return packaged_path("schemas")


class EventDecoder:
    """Decode framed Avro values into records of the reader schema.

    The (writer id → writer, reader) pairing is cached, so the registry is asked once per id.
    """

    def __init__(self, registry: SchemaRegistry, reader_schema: Schema) -> None:
        self.registry = registry
        self.reader_schema: Schema = parse_schema(reader_schema)  # a no-op if already parsed
        self._pairs: dict[int, tuple[Schema, Schema, StrictBody]] = {}

    def decode(self, value: bytes | None) -> dict[str, Any]:
        """One value → one record; raises ``DecodeError`` (or ``SchemaRegistryError``)."""
        schema_id, view = unframe(value)
        writer, reader, strict = self._pairing(schema_id)
        body = bytes(view)
        strict.check(body, schema_id)  # fastavro accepts more than the spec: it reads only
        try:
            record = schemaless_reader(BytesIO(body), writer, reader)
        except SchemaResolutionError as exc:
            raise DecodeError(
                "invalid_body",
                f"schema id {schema_id}: record does not resolve to the reader schema "
                f"({_shorten(str(exc))})",  # names schemas only, but can be long
            ) from exc
        except Exception as exc:
            # The body is valid Avro of the writer schema (checked above), so this is
            # fastavro failing to resolve it some other way; dead-letter it all the same
            # rather than let one message stop every batch it is redelivered in.
            raise DecodeError(
                "invalid_body",
                f"schema id {schema_id}: body of {len(body)} bytes does not decode "
                f"({type(exc).__name__})",
            ) from exc
        if not isinstance(record, dict):
            raise DecodeError("invalid_body", f"schema id {schema_id} is not a record schema")
        return record

    def decode_many(
        self, values: Sequence[bytes | None]
    ) -> tuple[list[dict[str, Any]], list[int], list[tuple[int, DecodeError]]]:
        """Decode a batch: (records, their indices in ``values``, failures as (index, error)).

        Only ``DecodeError`` is collected; a ``SchemaRegistryError`` propagates, because the
        batch is fine and must be retried rather than dead-lettered.
        """
        records: list[dict[str, Any]] = []
        indices: list[int] = []
        failures: list[tuple[int, DecodeError]] = []
        decode = self.decode
        for i, value in enumerate(values):
            try:
                records.append(decode(value))
            except DecodeError as exc:
                failures.append((i, exc))
            else:
                indices.append(i)
        return records, indices, failures

    def _pairing(self, schema_id: int) -> tuple[Schema, Schema, StrictBody]:
        pair = self._pairs.get(schema_id)
        if pair is None:
            writer = self.registry.schema(schema_id)
            pair = self._pairs[schema_id] = (writer, self.reader_schema, StrictBody(writer))
        return pair


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RecordEncoder:
    """Encode records with the latest schema of ``subject`` (looked up once, at creation).

    Reuses one buffer, so an encoder must not be shared between threads.
    """

    def __init__(
        self, registry: SchemaRegistry, subject: str, schema_id: int | None = None
    ) -> None:
        self.subject = subject
        self.schema_id = registry.latest_id(subject) if schema_id is None else schema_id
        self.schema: Schema = registry.schema(self.schema_id)
        self._header = header(self.schema_id)
        self._buffer = BytesIO()

    @classmethod
    def for_schema_id(cls, registry: SchemaRegistry, schema_id: int) -> RecordEncoder:
        """An encoder pinned to one schema version (e.g. a producer of an older version)."""
        return cls(registry, f"schema-id-{schema_id}", schema_id)

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """One record → one framed value; raises ``EncodeError`` if it does not fit the schema."""
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        buffer.write(self._header)
        try:
            schemaless_writer(buffer, self.schema, record)
        except Exception as exc:
            raise EncodeError(
                f"record does not fit schema id {self.schema_id} of {self.subject!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return buffer.getvalue()

    def encode_many(self, records: Iterable[Mapping[str, Any]]) -> list[bytes]:
        """Encode each record, in order."""
        encode = self.encode
        return [encode(record) for record in records]
