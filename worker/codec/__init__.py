"""Kafka value codecs: Confluent wire framing, schema registries and Avro encode/decode."""

from worker.codec.avro import (
    TRANSACTION_READER_SCHEMA,
    EventDecoder,
    RecordEncoder,
    default_schemas_dir,
)
from worker.codec.errors import (
    DECODE_ERROR_CODES,
    DecodeError,
    DecodeErrorCode,
    EncodeError,
    SchemaRegistryError,
)
from worker.codec.registry import (
    HttpSchemaRegistry,
    LocalSchemaRegistry,
    SchemaRegistry,
    load_schema,
)
from worker.codec.wire import HEADER_SIZE, MAGIC, frame, unframe

__all__ = [
    "DECODE_ERROR_CODES",
    "HEADER_SIZE",
    "MAGIC",
    "TRANSACTION_READER_SCHEMA",
    "DecodeError",
    "DecodeErrorCode",
    "EncodeError",
    "EventDecoder",
    "HttpSchemaRegistry",
    "LocalSchemaRegistry",
    "RecordEncoder",
    "SchemaRegistry",
    "SchemaRegistryError",
    "default_schemas_dir",
    "frame",
    "load_schema",
    "unframe",
]
