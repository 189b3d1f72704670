"""Where writer schemas come from: a local folder of .avsc files, or a Confluent Schema Registry.

Both resolve a schema id (from the wire header) to a parsed schema and cache it for good: ids are
immutable in the registry, so a cached schema can never go stale.
"""

from __future__ import annotations

import base64
import http.client
import json
from pathlib import Path
from typing import Any, Protocol
from urllib.error import HTTPError, URLError
from urllib.parse import quote, unquote, urlsplit, urlunsplit
from urllib.request import Request, urlopen

from fastavro import parse_schema
from fastavro.types import Schema

from worker.codec.errors import DecodeError, SchemaRegistryError

REGISTRY_INDEX = "registry.json"
SCHEMA_NOT_FOUND = 40403  # Confluent's error_code for an unknown schema id
_ACCEPT = "application/vnd.schemaregistry.v1+json, application/json"


class SchemaRegistry(Protocol):
    """What the codecs need from a registry; ``schema`` raises ``DecodeError`` for unknown ids."""

    def schema(self, schema_id: int) -> Schema: ...

    def latest_id(self, subject: str) -> int: ...


def load_schema(path: Path) -> Schema:
    """Parse one .avsc file; a missing or invalid file is a ``SchemaRegistryError`` (config)."""
    try:
        return parse_schema(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise SchemaRegistryError(f"cannot load Avro schema {path}: {exc}") from exc
    except Exception as exc:  # fastavro's SchemaParseException and friends
        raise SchemaRegistryError(f"invalid Avro schema {path}: {exc}") from exc


def _unknown_id(schema_id: int, where: str) -> DecodeError:
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
            raise _unknown_id(schema_id, f"the local registry {self.directory}")
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


class HttpSchemaRegistry:
    """A Confluent Schema Registry over HTTP (standard library only).

    Credentials go in ``basic_auth`` or in the URL's user-info; either way they are sent only to
    the registry itself (never forwarded on redirects) and never appear in messages or ``repr``.
    Schema references are not supported: the worker's schemas are self-contained.
    """

    def __init__(
        self, url: str, basic_auth: tuple[str, str] | None = None, timeout_s: float = 5.0
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SchemaRegistryError("schema registry URL must look like http(s)://host[:port]")
        if basic_auth is None and parts.username is not None:
            basic_auth = (unquote(parts.username), unquote(parts.password or ""))
        netloc = parts.netloc.rpartition("@")[2]  # drop the user-info: it must never be shown
        self.url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.timeout_s = timeout_s
        self._authorization: str | None = None
        if basic_auth is not None:
            token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode("ascii")
            self._authorization = f"Basic {token}"
        self._cache: dict[int, Schema] = {}

    def __repr__(self) -> str:
        auth = ", basic_auth=<hidden>" if self._authorization else ""
        return f"HttpSchemaRegistry({self.url!r}{auth})"

    def schema(self, schema_id: int) -> Schema:
        """``GET /schemas/ids/{id}``, parsed and cached; 404/40403 is a ``DecodeError``."""
        cached = self._cache.get(schema_id)
        if cached is not None:
            return cached
        path = f"/schemas/ids/{int(schema_id)}"
        status, answer = self._get(path)
        if status == 404:
            if isinstance(answer, dict) and answer.get("error_code") == SCHEMA_NOT_FOUND:
                raise _unknown_id(schema_id, f"the schema registry at {self.url}")
            raise SchemaRegistryError(
                f"GET {path} at {self.url} answered 404 without error_code {SCHEMA_NOT_FOUND}: "
                "is the URL that of a schema registry?"
            )
        parsed = self._cache[schema_id] = self._parse(schema_id, answer)
        return parsed

    def latest_id(self, subject: str) -> int:
        """``GET /subjects/{subject}/versions/latest`` → its ``id`` (not cached: it moves)."""
        path = f"/subjects/{quote(subject, safe='')}/versions/latest"
        status, answer = self._get(path)
        if status == 404:
            raise SchemaRegistryError(f"subject {subject!r} is not registered at {self.url}")
        schema_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(schema_id, int) or isinstance(schema_id, bool):
            raise SchemaRegistryError(f"GET {path} at {self.url} answered without an integer id")
        return schema_id

    def _parse(self, schema_id: int, answer: Any) -> Schema:
        """Turn a ``/schemas/ids`` answer into a parsed Avro schema."""
        if not isinstance(answer, dict) or not isinstance(answer.get("schema"), str):
            raise SchemaRegistryError(
                f"schema id {schema_id} at {self.url}: answer has no 'schema' string"
            )
        schema_type = answer.get("schemaType", "AVRO")
        if schema_type != "AVRO":
            # The event was written with a Protobuf/JSON schema: that message is unreadable here.
            raise DecodeError(
                "unknown_schema_id", f"schema id {schema_id} is a {schema_type} schema, not Avro"
            )
        try:
            return parse_schema(json.loads(answer["schema"]))
        except Exception as exc:
            raise SchemaRegistryError(
                f"schema id {schema_id} at {self.url} is not a valid Avro schema: {exc}"
            ) from exc

    def _get(self, path: str) -> tuple[int, Any]:
        """GET ``path``: (200, json) or (404, json or None); anything else raises."""
        request = Request(self.url + path, headers={"Accept": _ACCEPT}, method="GET")
        if self._authorization is not None:
            request.add_unredirected_header("Authorization", self._authorization)
        try:
            with urlopen(request, timeout=self.timeout_s) as response:
                return response.status, _json_body(response.read())
        except HTTPError as exc:
            with exc:
                status, raw = exc.code, exc.read()
            if status == 404:
                return 404, _json_body(raw, strict=False)
            raise SchemaRegistryError(
                f"schema registry at {self.url} answered HTTP {status} to GET {path}"
            ) from None
        except (URLError, OSError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, URLError) else exc
            raise SchemaRegistryError(
                f"schema registry at {self.url} is unreachable (GET {path}): {reason}"
            ) from exc
        except ValueError as exc:  # invalid JSON in a 200 answer
            raise SchemaRegistryError(
                f"schema registry at {self.url} answered GET {path} with invalid JSON"
            ) from exc


def _json_body(raw: bytes, strict: bool = True) -> Any:
    """Decode a JSON answer; ``strict=False`` turns garbage into None (error pages)."""
    try:
        return json.loads(raw)
    except ValueError:
        if strict:
            raise
        return None
