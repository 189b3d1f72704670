"""A Confluent Schema Registry, or a registry with its API (Apicurio's ``/apis/ccompat/v7``),
through confluent-kafka's client: what the codecs read, and what ``fraud-worker schemas
register`` writes (every version of every local subject, in order, idempotently).
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx2
from confluent_kafka.schema_registry import Schema as RegistrySchema
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError as ClientError
from fastavro import parse_schema
from fastavro.types import Schema

from worker.codec.errors import DecodeError, SchemaRegistryError
from worker.codec.registry import load_schema, unknown_id

# The HTTP library logs each request at INFO: a worker's log is not the place for them.
logging.getLogger("httpx2").setLevel(logging.WARNING)
SCHEMA_NOT_FOUND = 40403  # Confluent's error_code for an unknown id (Apicurio's too)
REGISTER_HINT = "run `fraud-worker schemas register`"
_AUTH_HINT = "check FRAUD_SCHEMAS__REGISTRY_USER and FRAUD_SCHEMAS__REGISTRY_PASSWORD"
_TLS_HINT = "check FRAUD_SCHEMAS__REGISTRY_CA_LOCATION"
T = TypeVar("T")
BACKWARD = "BACKWARD"


@dataclass(frozen=True)
class Registration:
    """One schema file in one subject of a registry: what ``schemas register`` did with it."""

    subject: str
    file: str
    version: int
    schema_id: int
    created: bool

    def line(self) -> str:
        state = "registered" if self.created else "already there"
        return f"{self.subject} v{self.version} ({self.file}): {state}, id {self.schema_id}"


OnStatus = dict[int, Callable[[ClientError], Any]]


class ConfluentSchemaRegistry:
    """A Confluent Schema Registry, or one with its API (Apicurio's ``/apis/ccompat/v7``),
    through confluent-kafka's client.

    Credentials go in ``basic_auth`` or in the URL's user-info; either way they never appear in
    messages or ``repr``. Every failure is one line: an unknown schema id is the message's
    problem (``DecodeError``), anything else the registry's (``SchemaRegistryError``). Schema
    references are not supported: the worker's schemas are self-contained.
    """

    def __init__(
        self,
        url: str,
        basic_auth: tuple[str, str] | None = None,
        *,
        ca_location: Path | None = None,
        certificate_location: Path | None = None,
        key_location: Path | None = None,
        key_password: str | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.url, in_url = _split_credentials(url)
        basic_auth = basic_auth or in_url
        self._authenticated = basic_auth is not None
        # Few, short retries: an outage must fail a batch in about a second, not hang it.
        conf: dict[str, Any] = {
            "url": self.url,
            "timeout": timeout_s,
            "max.retries": 2,
            "retries.wait.ms": 200,
            "retries.max.wait.ms": 1000,
        }
        if basic_auth is not None:
            conf["basic.auth.user.info"] = f"{basic_auth[0]}:{basic_auth[1]}"
        tls = {
            "ssl.ca.location": ("CA_LOCATION", ca_location),
            "ssl.certificate.location": ("CERTIFICATE_LOCATION", certificate_location),
            "ssl.key.location": ("KEY_LOCATION", key_location),
        }
        conf.update({key: str(path) for key, (_, path) in tls.items() if path is not None})
        if key_password is not None:
            conf["ssl.key.password"] = key_password
        try:
            self._client = SchemaRegistryClient(conf)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            named = [f"FRAUD_SCHEMAS__REGISTRY_{name}" for name, path in tls.values() if path]
            raise SchemaRegistryError(
                f"cannot set up the schema registry client for {self.url}: {exc}; check "
                + (" and ".join(named) or "FRAUD_SCHEMAS__REGISTRY_URL")
            ) from None
        # Close its pooled connection when this object goes, not when the socket is collected
        # (which Python reports as a ResourceWarning): short-lived registries are common.
        self.close = weakref.finalize(self, self._client.close)
        self._cache: dict[int, Schema] = {}

    def __repr__(self) -> str:
        auth = ", basic_auth=<hidden>" if self._authenticated else ""
        return f"ConfluentSchemaRegistry({self.url!r}{auth})"

    def schema(self, schema_id: int) -> Schema:
        """The Avro schema of ``schema_id``, parsed and cached; an unknown id is a
        ``DecodeError``."""
        cached = self._cache.get(schema_id)
        if cached is not None:
            return cached
        what = f"GET /schemas/ids/{int(schema_id)}"

        def unknown(exc: ClientError) -> Any:
            if exc.error_code != SCHEMA_NOT_FOUND:
                raise self._http_error(what, exc) from None
            raise unknown_id(schema_id, f"the schema registry at {self.url}") from None

        found = self._call(what, lambda: self._client.get_schema(int(schema_id)), {404: unknown})
        parsed = self._cache[schema_id] = self._parse(schema_id, found)
        return parsed

    def latest_id(self, subject: str) -> int:
        """The id of the newest version of ``subject``."""
        what = f"GET /subjects/{subject}/versions/latest"
        found = self._call(
            what, lambda: self._client.get_latest_version(subject), {404: self._missing(subject)}
        )
        return _schema_id(found.schema_id, what, self.url)

    def version_id(self, subject: str, version: int) -> int:
        """The id of ``subject``'s ``version`` (1 = the first registered), e.g. for a producer
        pinned to an older schema: the registry's ids are not the local map's."""
        what = f"GET /subjects/{subject}/versions/{int(version)}"

        def missing(exc: ClientError) -> Any:
            if _foreign(exc):
                raise self._http_error(what, exc) from None
            raise SchemaRegistryError(
                f"subject {subject!r} has no version {version} at {self.url}; {REGISTER_HINT}"
            ) from None

        found = self._call(
            what, lambda: self._client.get_version(subject, int(version)), {404: missing}
        )
        return _schema_id(found.schema_id, what, self.url)

    def subjects(self) -> list[str]:
        """Every subject the registry holds."""
        found = self._call("GET /subjects", self._client.get_subjects)
        return sorted(str(subject) for subject in found)

    def compatibility(self, subject: str) -> str | None:
        """The subject's own compatibility level; None when it has none (the global one applies)."""
        return self._call(
            f"GET /config/{subject}",
            lambda: self._client.get_compatibility(subject),
            {404: lambda exc: None},
        )

    def set_compatibility(self, subject: str, level: str) -> bool:
        """Give ``subject`` the compatibility ``level``; False when it already had it."""
        if self.compatibility(subject) == level:
            return False
        self._call(f"PUT /config/{subject}", lambda: self._client.set_compatibility(subject, level))
        return True

    def register(self, subject: str, path: Path) -> Registration:
        """Add the schema in ``path`` to ``subject`` unless it is there already (idempotent)."""
        load_schema(path)  # a broken file is named here, not in the registry's answer
        text = json.dumps(json.loads(path.read_text(encoding="utf-8")))
        schema = RegistrySchema(text, "AVRO")
        found = self._lookup(subject, schema)
        if found is not None:
            return Registration(subject, path.name, found.version, found.schema_id, False)

        def refused(exc: ClientError) -> Any:
            raise SchemaRegistryError(
                f"the registry at {self.url} refused {path.name} for subject {subject!r}: "
                f"{_shorten(exc.error_message)} (a schema change must keep the subject's "
                "compatibility: add fields with defaults, or register it under a new subject)"
            ) from None

        self._call(
            f"POST /subjects/{subject}/versions",
            lambda: self._client.register_schema(subject, schema),
            {409: refused, 422: refused},
        )
        created = self._lookup(subject, schema)
        if created is None:
            raise SchemaRegistryError(
                f"the registry at {self.url} accepted {path.name} for {subject!r} but cannot "
                "find it again"
            )
        return Registration(subject, path.name, created.version, created.schema_id, True)

    def _lookup(self, subject: str, schema: RegistrySchema) -> Any:
        """The registered version of ``schema`` in ``subject``, or None."""
        return self._call(
            f"POST /subjects/{subject}",
            lambda: self._client.lookup_schema(subject, schema),
            {404: lambda exc: None},
        )

    def _missing(self, subject: str) -> Callable[[ClientError], Any]:
        def missing(exc: ClientError) -> Any:
            if _foreign(exc):
                raise self._http_error(f"GET /subjects/{subject}/versions/latest", exc) from None
            raise SchemaRegistryError(
                f"subject {subject!r} is not registered at {self.url}; {REGISTER_HINT}"
            ) from None

        return missing

    def _call(self, what: str, call: Callable[[], T], on_status: OnStatus | None = None) -> T:
        """One request; a status in ``on_status`` is the caller's to answer, every other
        failure becomes a one-line ``SchemaRegistryError``."""
        try:
            return call()
        except ClientError as exc:
            handler = (on_status or {}).get(exc.http_status_code)
            if handler is not None:
                return handler(exc)  # type: ignore[no-any-return]
            raise self._http_error(what, exc) from None
        except httpx2.TransportError as exc:
            hint = f"; {_TLS_HINT}" if "CERTIFICATE" in str(exc).upper() else ""
            raise SchemaRegistryError(
                f"schema registry at {self.url} is unreachable ({what}): "
                f"{_shorten(str(exc)) or type(exc).__name__}{hint}"
            ) from None
        except ValueError as exc:  # a 2xx answer that is not JSON
            raise SchemaRegistryError(
                f"schema registry at {self.url} answered {what} with invalid JSON: is the URL "
                "that of a schema registry?"
            ) from exc

    def _http_error(self, what: str, exc: ClientError) -> SchemaRegistryError:
        status = exc.http_status_code
        hint = ""
        if status in (401, 403):
            hint = f"; {_AUTH_HINT}"
        elif _foreign(exc):
            hint = (
                "; is FRAUD_SCHEMAS__REGISTRY_URL a schema registry's Confluent API "
                "(Apicurio's ends in /apis/ccompat/v7)?"
            )
        detail = "" if _foreign(exc) else f": {_shorten(exc.error_message)}"
        return SchemaRegistryError(
            f"schema registry at {self.url} answered HTTP {status} to {what}{detail}{hint}"
        )

    def _parse(self, schema_id: int, found: RegistrySchema) -> Schema:
        """A registry's schema → a parsed Avro schema."""
        schema_type = found.schema_type or "AVRO"
        if schema_type != "AVRO":
            # The event was written with a Protobuf/JSON schema: that message is unreadable here.
            raise DecodeError(
                "unknown_schema_id", f"schema id {schema_id} is a {schema_type} schema, not Avro"
            )
        try:
            return parse_schema(json.loads(found.schema_str or ""))
        except Exception as exc:  # invalid JSON, fastavro's SchemaParseException and friends
            raise SchemaRegistryError(
                f"schema id {schema_id} at {self.url} is not a valid Avro schema: "
                f"{_shorten(str(exc))}"
            ) from exc


def _foreign(exc: ClientError) -> bool:
    """True when the answer has no registry error code: a web server, not a registry, spoke."""
    return exc.error_code in (None, ClientError.UNKNOWN) or not exc.error_message


def _split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without user-info (the only form ever shown), and the credentials it held."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SchemaRegistryError(
            "FRAUD_SCHEMAS__REGISTRY_URL must look like http(s)://host[:port][/path]"
        )
    credentials = None
    if parts.username is not None:
        credentials = (unquote(parts.username), unquote(parts.password or ""))
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), credentials


def _schema_id(value: Any, what: str, url: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SchemaRegistryError(f"{what} at {url} answered without an integer id")
    return value


def _shorten(text: str | None, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class SubjectReport:
    """What ``schemas register`` did to one subject."""

    subject: str
    level: str
    level_set: bool  # False: the subject had that level already
    registrations: tuple[Registration, ...]

    @property
    def changed(self) -> bool:
        return self.level_set or any(r.created for r in self.registrations)

    def lines(self) -> list[str]:
        state = "set" if self.level_set else "already"
        return [
            f"{self.subject}: compatibility {self.level} ({state})",
            *(f"  {registration.line()}" for registration in self.registrations),
        ]


def register_subject(
    registry: ConfluentSchemaRegistry, subject: str, files: list[Path], level: str = BACKWARD
) -> SubjectReport:
    """Register ``files`` (oldest first) under ``subject`` with compatibility ``level``.

    The first version goes in before the level is set (a registry may refuse a level for a
    subject it does not hold yet); every later one is then checked against it, so a change
    that breaks readers is refused here, not found in production."""
    if not files:
        raise SchemaRegistryError(f"subject {subject!r} lists no schema files")
    first, *rest = files
    registrations = [registry.register(subject, first)]
    level_set = registry.set_compatibility(subject, level)
    registrations += [registry.register(subject, path) for path in rest]
    return SubjectReport(subject, level, level_set, tuple(registrations))
