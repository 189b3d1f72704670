"""Schema registries: the shipped schema files, the local index, and the Confluent client
against a tiny in-process fake of the Confluent API (the real registry: tests/registry/)."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import certifi
import pytest

from worker.codec import (
    TRANSACTION_READER_SCHEMA,
    ConfluentSchemaRegistry,
    DecodeError,
    EventDecoder,
    LocalSchemaRegistry,
    SchemaRegistryError,
    frame,
    load_schema,
)
from worker.codec.configured import schema_registry
from worker.errors import ConfigError
from worker.events import EVENT_FIELDS
from worker.settings import load_settings, masked

Writer = Callable[[int, dict[str, Any]], bytes]  # the ``avro_body`` fixture

# --- the shipped schemas ------------------------------------------------------------------


def raw_schema(schemas_dir: Path, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((schemas_dir / name).read_text())
    return loaded


def fields_without_doc(schema: Any, path: str = "") -> list[str]:
    """Every record field, however deeply nested, that has no "doc"."""
    missing: list[str] = []
    if isinstance(schema, list):
        for branch in schema:
            missing += fields_without_doc(branch, path)
    elif isinstance(schema, dict):
        for f in schema.get("fields", []):
            if not f.get("doc"):
                missing.append(f"{path}{f['name']}")
            missing += fields_without_doc(f["type"], f"{path}{f['name']}.")
        if schema.get("type") == "array":
            missing += fields_without_doc(schema["items"], path)
    return missing


def test_every_schema_in_the_index_loads_and_documents_every_field(schemas_dir: Path) -> None:
    index = json.loads((schemas_dir / "registry.json").read_text())
    assert set(index["schemas"].values()) == {p.name for p in schemas_dir.glob("*.avsc")}
    for name in index["schemas"].values():
        schema = raw_schema(schemas_dir, name)
        assert schema["namespace"] == "dev.fraudworker", name
        assert fields_without_doc(schema) == [], name
        load_schema(schemas_dir / name)


def test_transaction_versions_follow_the_event_fields(schemas_dir: Path) -> None:
    def names(version: int) -> tuple[str, ...]:
        schema = raw_schema(schemas_dir, f"transaction.v{version}.avsc")
        return tuple(f["name"] for f in schema["fields"])

    assert names(1) == EVENT_FIELDS[:12]
    assert names(2) == EVENT_FIELDS
    assert names(3) == (*EVENT_FIELDS, "device_id", "merchant_name")
    assert TRANSACTION_READER_SCHEMA == "transaction.v2.avsc"
    v2 = {f["name"]: f for f in raw_schema(schemas_dir, "transaction.v2.avsc")["fields"]}
    for version in (1, 2, 3):  # a plain long: no logicalType, so decoders return ints
        schema = raw_schema(schemas_dir, f"transaction.v{version}.avsc")
        assert schema["fields"][1] == {**schema["fields"][1], "type": "long"}
    assert v2["entry_mode"]["default"] == "unknown"
    assert v2["cardholder_verified"]["default"] is False


# --- the local registry -------------------------------------------------------------------


def test_local_registry_latest_ids(registry: LocalSchemaRegistry) -> None:
    assert registry.latest_id("transactions-value") == 3
    assert registry.latest_id("transactions.scored-value") == 100
    assert registry.latest_id("transactions.review-value") == 201
    assert registry.latest_id("transactions.dlq-value") == 300
    assert registry.latest_id("transactions.labels-value") == 400
    assert registry.latest_id("transactions.degraded-value") == 201
    assert registry.latest_id("transactions.shadow-value") == 100


def test_local_registry_version_ids(registry: LocalSchemaRegistry) -> None:
    assert [registry.version_id("transactions-value", v) for v in (1, 2, 3)] == [1, 2, 3]
    assert registry.version_id("transactions.review-value", 2) == 201
    for subject, version in (("transactions-value", 4), ("transactions-value", 0), ("x", 1)):
        with pytest.raises(SchemaRegistryError, match="no version"):
            registry.version_id(subject, version)


def test_local_registry_caches_parsed_schemas(registry: LocalSchemaRegistry) -> None:
    assert registry.schema(2) is registry.schema(2)


def test_local_registry_unknown_id_and_subject(registry: LocalSchemaRegistry) -> None:
    with pytest.raises(DecodeError) as caught:
        registry.schema(999)
    assert caught.value.code == "unknown_schema_id"
    with pytest.raises(SchemaRegistryError, match="nope-value"):
        registry.latest_id("nope-value")


@pytest.mark.parametrize(
    "index",
    [
        "not json",
        json.dumps({"subjects": {}}),
        json.dumps({"subjects": {"s": ["x"]}, "schemas": {}}),
        json.dumps({"subjects": {"s": [1, 7]}, "schemas": {"1": "a.avsc"}}),
    ],
)
def test_local_registry_rejects_a_bad_index(tmp_path: Path, index: str) -> None:
    (tmp_path / "registry.json").write_text(index)
    with pytest.raises(SchemaRegistryError):
        LocalSchemaRegistry(tmp_path)


def test_local_registry_missing_folder_or_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaRegistryError):
        LocalSchemaRegistry(tmp_path / "absent")
    (tmp_path / "registry.json").write_text(json.dumps({"subjects": {}, "schemas": {"1": "x"}}))
    with pytest.raises(SchemaRegistryError):
        LocalSchemaRegistry(tmp_path).schema(1)


# --- a Confluent-style HTTP registry ------------------------------------------------------


@dataclass
class FakeRegistry:
    """A tiny Schema Registry serving the repository's schemas, recording every request."""

    url: str
    requests: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    """Answers like Confluent's Schema Registry; a subclass per test sets the class attributes."""

    schemas_dir: Path
    index: dict[str, Any]
    fake: FakeRegistry

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        self.fake.requests.append(path)
        self.fake.authorizations.append(self.headers.get("Authorization"))
        by_id = re.fullmatch(r"/schemas/ids/(\d+)", path)
        latest = re.fullmatch(r"/subjects/([^/]+)/versions/latest", path)
        if by_id:
            self.schema(by_id.group(1))
        elif latest:
            self.latest(latest.group(1))
        else:
            self.answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

    def schema(self, schema_id: str) -> None:
        if schema_id == "500":
            self.answer(500, {"error_code": 50001, "message": "Error in the backend store"})
        elif schema_id == "600":
            self.answer(200, {"schemaType": "PROTOBUF", "schema": "syntax = 'proto3';"})
        elif schema_id in self.index["schemas"]:
            text = (self.schemas_dir / self.index["schemas"][schema_id]).read_text()
            self.answer(200, {"schema": json.dumps(json.loads(text))})
        else:
            self.answer(404, {"error_code": 40403, "message": f"Schema {schema_id} not found"})

    def latest(self, subject: str) -> None:
        ids = self.index["subjects"].get(subject)
        if ids:
            text = (self.schemas_dir / self.index["schemas"][str(ids[-1])]).read_text()
            answer = {"subject": subject, "version": len(ids), "id": ids[-1], "schema": text}
            self.answer(200, answer)
        else:
            self.answer(404, {"error_code": 40401, "message": "Subject not found."})

    def answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def fake_registry(schemas_dir: Path) -> Iterator[FakeRegistry]:
    class PerTest(Handler):
        """A fresh copy of the class attributes, so tests never share a recorder."""

    PerTest.schemas_dir = schemas_dir
    PerTest.index = json.loads((schemas_dir / "registry.json").read_text())
    server = ThreadingHTTPServer(("127.0.0.1", 0), PerTest)
    server.daemon_threads = True
    PerTest.fake = FakeRegistry(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield PerTest.fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def dead_url() -> str:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_confluent_registry_fetches_and_caches(
    fake_registry: FakeRegistry, registry: LocalSchemaRegistry
) -> None:
    http = ConfluentSchemaRegistry(fake_registry.url + "/")

    assert http.schema(2) == registry.schema(2)
    assert fake_registry.requests == ["/schemas/ids/2"]
    assert http.schema(2) is http.schema(2)
    assert fake_registry.requests == ["/schemas/ids/2"]  # cached: no second request


def test_confluent_registry_latest_ids(fake_registry: FakeRegistry) -> None:
    http = ConfluentSchemaRegistry(fake_registry.url)
    assert http.latest_id("transactions-value") == 3
    assert http.latest_id("transactions.scored-value") == 100
    assert fake_registry.requests[-1] == "/subjects/transactions.scored-value/versions/latest"
    with pytest.raises(SchemaRegistryError, match="not registered") as caught:
        http.latest_id("unknown-value")
    assert "fraud-worker schemas register" in str(caught.value)


def test_confluent_registry_unknown_id_is_a_decode_error(fake_registry: FakeRegistry) -> None:
    http = ConfluentSchemaRegistry(fake_registry.url)
    with pytest.raises(DecodeError) as caught:
        http.schema(999)
    assert caught.value.code == "unknown_schema_id"


def test_confluent_registry_non_avro_schema_is_a_decode_error(fake_registry: FakeRegistry) -> None:
    with pytest.raises(DecodeError, match="PROTOBUF") as caught:
        ConfluentSchemaRegistry(fake_registry.url).schema(600)
    assert caught.value.code == "unknown_schema_id"


def test_confluent_registry_server_error_is_a_registry_error(fake_registry: FakeRegistry) -> None:
    with pytest.raises(SchemaRegistryError, match="HTTP 500"):
        ConfluentSchemaRegistry(fake_registry.url).schema(500)


def test_confluent_registry_plain_404_is_a_registry_error(fake_registry: FakeRegistry) -> None:
    """A 404 that is not the registry's 40403 means a wrong URL, not a bad event."""
    with pytest.raises(SchemaRegistryError, match="HTTP 404") as caught:
        ConfluentSchemaRegistry(fake_registry.url + "/wrong/prefix").schema(2)
    assert not isinstance(caught.value, DecodeError)


def test_confluent_registry_server_down_is_a_registry_error(dead_url: str) -> None:
    http = ConfluentSchemaRegistry(dead_url, timeout_s=2.0)
    for call in (lambda: http.schema(2), lambda: http.latest_id("transactions-value")):
        with pytest.raises(SchemaRegistryError, match="unreachable") as caught:
            call()
        assert not isinstance(caught.value, DecodeError)


def test_decoder_over_http_and_registry_outage_stops_the_batch(
    fake_registry: FakeRegistry,
    dead_url: str,
    avro_body: Writer,
    schemas_dir: Path,
    event: dict[str, Any],
) -> None:
    reader = load_schema(schemas_dir / TRANSACTION_READER_SCHEMA)
    value = frame(1, avro_body(1, {k: event[k] for k in EVENT_FIELDS[:12]}))

    decoded = EventDecoder(ConfluentSchemaRegistry(fake_registry.url), reader).decode(value)
    assert decoded["entry_mode"] == "unknown"

    # An outage is not the messages' fault: it propagates instead of failing each message.
    offline = EventDecoder(ConfluentSchemaRegistry(dead_url, timeout_s=2.0), reader)
    with pytest.raises(SchemaRegistryError):
        offline.decode_many([value, value])


@pytest.mark.parametrize("in_url", [False, True])
def test_confluent_registry_basic_auth_is_sent_and_never_shown(
    fake_registry: FakeRegistry, dead_url: str, in_url: bool
) -> None:
    secret = "s3cr3t-p@ss"
    if in_url:
        url = fake_registry.url.replace("http://", "http://alice:s3cr3t-p%40ss@")
        http = ConfluentSchemaRegistry(url)
    else:
        http = ConfluentSchemaRegistry(fake_registry.url, basic_auth=("alice", secret))

    http.schema(1)

    expected = "Basic " + base64.b64encode(f"alice:{secret}".encode()).decode()
    assert fake_registry.authorizations == [expected]
    assert http.url == fake_registry.url
    assert secret not in repr(http) and "alice" not in repr(http)
    with pytest.raises(SchemaRegistryError) as caught:
        http.schema(500)
    offline = ConfluentSchemaRegistry(
        dead_url.replace("http://", "http://alice:pw@"), timeout_s=2.0
    )
    with pytest.raises(SchemaRegistryError) as down:
        offline.schema(1)
    for error in (caught.value, down.value):
        assert secret not in str(error) and "alice" not in str(error) and "pw@" not in str(error)


@pytest.mark.parametrize("url", ["ftp://host", "localhost:8081", "http://"])
def test_confluent_registry_rejects_a_bad_url(url: str) -> None:
    with pytest.raises(SchemaRegistryError):
        ConfluentSchemaRegistry(url)


# --- the registry's settings ----------------------------------------------------------------


def schema_settings_error(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> str:
    monkeypatch.delenv("FRAUD_CONFIG_FILE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("url", ["localhost:8081", "ftp://registry:8081", "http://", "registry"])
def test_a_registry_url_without_scheme_or_host_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    message = schema_settings_error(monkeypatch, {"FRAUD_SCHEMAS__REGISTRY_URL": url})
    assert "FRAUD_SCHEMAS__REGISTRY_URL" in message and "http(s)://" in message


@pytest.mark.parametrize(
    "key",
    ["REGISTRY_CA_LOCATION", "REGISTRY_CERTIFICATE_LOCATION", "REGISTRY_KEY_LOCATION"],
)
def test_a_missing_tls_file_is_refused_naming_its_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str
) -> None:
    env = {"FRAUD_SCHEMAS__REGISTRY_URL": "https://registry:8081", f"FRAUD_SCHEMAS__{key}": ""}
    env[f"FRAUD_SCHEMAS__{key}"] = str(tmp_path / "absent.pem")
    message = schema_settings_error(monkeypatch, env)
    assert f"FRAUD_SCHEMAS__{key}" in message and "absent.pem" in message


def test_half_a_credential_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = schema_settings_error(monkeypatch, {"FRAUD_SCHEMAS__REGISTRY_USER": "alice"})
    assert "FRAUD_SCHEMAS__REGISTRY_PASSWORD" in message


def test_the_registry_password_is_masked_where_settings_are_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca = Path(certifi.where())
    monkeypatch.delenv("FRAUD_CONFIG_FILE", raising=False)
    monkeypatch.setenv("FRAUD_SCHEMAS__REGISTRY_URL", "https://registry:8081/apis/ccompat/v7")
    monkeypatch.setenv("FRAUD_SCHEMAS__REGISTRY_USER", "alice")
    monkeypatch.setenv("FRAUD_SCHEMAS__REGISTRY_PASSWORD", "s3cr3t")
    monkeypatch.setenv("FRAUD_SCHEMAS__REGISTRY_CA_LOCATION", str(ca))
    settings = load_settings()
    shown = masked(settings)["schemas"]
    assert shown["registry_password"] == "***" and shown["registry_ca_location"] == str(ca)
    assert "s3cr3t" not in repr(schema_registry(settings))


def test_an_unreadable_ca_file_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(SchemaRegistryError, match="FRAUD_SCHEMAS__REGISTRY_CA_LOCATION") as caught:
        ConfluentSchemaRegistry("https://127.0.0.1:1", ca_location=ca)
    assert "\n" not in str(caught.value)


def test_check_config_refuses_a_registry_url_without_a_scheme() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    env["FRAUD_SCHEMAS__REGISTRY_URL"] = "registry.internal:8081"
    result = subprocess.run(
        [sys.executable, "-m", "worker", "check-config", "--offline"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "FRAUD_SCHEMAS__REGISTRY_URL" in line and "http(s)://" in line
