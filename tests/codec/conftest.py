"""Fixtures of the codec tests: the repository's schemas through the local registry."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_writer

from tests.factories import BASE_EVENT
from worker.codec import (
    TRANSACTION_READER_SCHEMA,
    EventDecoder,
    LocalSchemaRegistry,
    default_schemas_dir,
    frame,
    load_schema,
)

Writer = Callable[[int, dict[str, Any]], bytes]


@pytest.fixture(scope="session")
def schemas_dir() -> Path:
    return default_schemas_dir()


@pytest.fixture(scope="session")
def registry(schemas_dir: Path) -> LocalSchemaRegistry:
    return LocalSchemaRegistry(schemas_dir)


@pytest.fixture(scope="session")
def decoder(registry: LocalSchemaRegistry, schemas_dir: Path) -> EventDecoder:
    return EventDecoder(registry, load_schema(schemas_dir / TRANSACTION_READER_SCHEMA))


@pytest.fixture
def event() -> dict[str, Any]:
    return dict(BASE_EVENT)


@pytest.fixture(scope="session")
def avro_body(registry: LocalSchemaRegistry) -> Writer:
    """(schema id, record) → the bare Avro body a producer with that schema writes."""

    def write(schema_id: int, record: dict[str, Any]) -> bytes:
        buffer = BytesIO()
        schemaless_writer(buffer, registry.schema(schema_id), record)
        return buffer.getvalue()

    return write


@pytest.fixture(scope="session")
def framed(avro_body: Writer) -> Writer:
    """(schema id, record) → the framed Kafka value a producer with that schema sends."""
    return lambda schema_id, record: frame(schema_id, avro_body(schema_id, record))
