"""Kafka value codecs: Confluent wire framing, schema registries and Avro encode/decode."""

from worker.codec.avro import (
    TRANSACTION_READER_SCHEMA,
    EventDecoder,
    RecordEncoder,
    default_schemas_dir,
)
from worker.codec.confluent import ConfluentSchemaRegistry, Registration, SubjectReport
from worker.codec.errors import (
    DECODE_ERROR_CODES,
    DecodeError,
    DecodeErrorCode,
    EncodeError,
    SchemaRegistryError,
)
from worker.codec.registry import (
    LocalSchemaRegistry,
    SchemaRegistry,
    load_schema,
    local_subjects,
)
from worker.codec.wire import HEADER_SIZE, MAGIC, frame, unframe

__all__ = [
    "DECODE_ERROR_CODES",
    "HEADER_SIZE",
    "MAGIC",
    "TRANSACTION_READER_SCHEMA",
    "ConfluentSchemaRegistry",
    "DecodeError",
    "DecodeErrorCode",
    "EncodeError",
    "EventDecoder",
    "LocalSchemaRegistry",
    "RecordEncoder",
    "Registration",
    "SchemaRegistry",
    "SchemaRegistryError",
    "SubjectReport",
    "default_schemas_dir",
    "frame",
    "load_schema",
    "local_subjects",
    "unframe",
]
