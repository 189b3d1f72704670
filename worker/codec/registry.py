"""Where writer schemas come from: a local folder of .avsc files, or a Confluent Schema Registry
(``worker.codec.confluent``).

Both resolve a schema id (from the wire header) to a parsed schema and cache it for good: ids are
immutable in the registry, so a cached schema can never go stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from fastavro import parse_schema
from fastavro.types import Schema

from worker.codec.errors import DecodeError, SchemaRegistryError

REGISTRY_INDEX = "registry.json"


class SchemaRegistry(Protocol):
    """What the codecs need from a registry; ``schema`` raises ``DecodeError`` for unknown ids."""

    def schema(self, schema_id: int) -> Schema: ...

    def latest_id(self, subject: str) -> int: ...

    def version_id(self, subject: str, version: int) -> int: ...


def load_schema(path: Path) -> Schema:
    """Parse one .avsc file; a missing or invalid file is a ``SchemaRegistryError`` (config)."""
    try:
        return parse_schema(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise SchemaRegistryError(f"cannot load Avro schema {path}: {exc}") from exc
    except Exception as exc:  # fastavro's SchemaParseException and friends
        raise SchemaRegistryError(f"invalid Avro schema {path}: {exc}") from exc


def unknown_id(schema_id: int, where: str) -> DecodeError:
    return DecodeError("unknown_schema_id", f"schema id {schema_id} is not known to {where}")


class LocalSchemaRegistry:
    """Schema ids from ``registry.json`` in ``directory``: used when no registry is configured.

    The latest id of a subject is the last one listed for it.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        index_path = self.directory / REGISTRY_INDEX
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SchemaRegistryError(f"cannot read schema index {index_path}: {exc}") from exc
        self._files, self._subjects = _parse_index(index, index_path)
        self._cache: dict[int, Schema] = {}

    def __repr__(self) -> str:
        return f"LocalSchemaRegistry({str(self.directory)!r})"

    def schema(self, schema_id: int) -> Schema:
        """The parsed schema of ``schema_id`` (parsed on first use, then cached)."""
        cached = self._cache.get(schema_id)
        if cached is not None:
            return cached
        name = self._files.get(schema_id)
        if name is None:
            raise unknown_id(schema_id, f"the local registry {self.directory}")
        parsed = self._cache[schema_id] = load_schema(self.directory / name)
        return parsed

    def latest_id(self, subject: str) -> int:
        """The last id listed for ``subject``."""
        ids = self._subjects.get(subject)
        if not ids:
            raise SchemaRegistryError(
                f"subject {subject!r} has no schema in {self.directory / REGISTRY_INDEX}"
            )
        return ids[-1]

    def version_id(self, subject: str, version: int) -> int:
        """The id of ``subject``'s ``version`` (1 = the first listed), e.g. for a producer
        pinned to an older schema."""
        ids = self._subjects.get(subject, [])
        if not 1 <= version <= len(ids):
            raise SchemaRegistryError(
                f"subject {subject!r} has no version {version} in {self.directory / REGISTRY_INDEX}"
            )
        return ids[version - 1]


def _parse_index(index: Any, path: Path) -> tuple[dict[int, str], dict[str, list[int]]]:
    """Check the shape of registry.json up front, so a typo fails at start-up, not mid-stream."""
    try:
        files = {int(k): str(v) for k, v in index["schemas"].items()}
        subjects = {str(s): [int(i) for i in ids] for s, ids in index["subjects"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SchemaRegistryError(
            f"{path} must be {{'subjects': {{subject: [id, ...]}}, 'schemas': {{id: file}}}}"
        ) from exc
    dangling = sorted({i for ids in subjects.values() for i in ids} - files.keys())
    if dangling:
        raise SchemaRegistryError(f"{path}: subjects refer to ids without a schema: {dangling}")
    return files, subjects


def local_subjects(directory: Path) -> dict[str, list[Path]]:
    """Each subject of ``registry.json`` in ``directory`` with its schema files, oldest first:
    what ``fraud-worker schemas register`` puts into a Schema Registry."""
    index_path = Path(directory) / REGISTRY_INDEX
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaRegistryError(f"cannot read schema index {index_path}: {exc}") from exc
    files, subjects = _parse_index(index, index_path)
    return {
        subject: [index_path.parent / files[i] for i in ids] for subject, ids in subjects.items()
    }
