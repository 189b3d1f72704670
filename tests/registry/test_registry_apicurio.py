"""The worker against a real Schema Registry (Apicurio's Confluent API): registering our
subjects, compatibility, the worker's own codecs writing and reading the registry's ids, and
each way the registry can be wrong at start, as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.factories import BASE_EVENT, free_port
from worker.checks import check_schemas
from worker.codec import (
    TRANSACTION_READER_SCHEMA,
    ConfluentSchemaRegistry,
    DecodeError,
    EventDecoder,
    RecordEncoder,
    SchemaRegistryError,
    default_schemas_dir,
    frame,
    load_schema,
    local_subjects,
)
from worker.codec.confluent import SubjectReport, register_subject
from worker.loop import build_codecs
from worker.settings import Settings, load_settings
from worker.stack.registry import RegistryServer

pytestmark = pytest.mark.integration
OwnSchemas = Callable[[], tuple[Path, str]]


def fraud_worker(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command line, as an operator runs it (errors through ``main``'s one line)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def operator_env(apicurio: RegistryServer, password: str) -> dict[str, str]:
    return {
        "FRAUD_SCHEMAS__REGISTRY_URL": apicurio.url,
        "FRAUD_SCHEMAS__REGISTRY_USER": "worker",
        "FRAUD_SCHEMAS__REGISTRY_PASSWORD": password,
    }


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_schemas_register_twice_registers_once_with_backward_compatibility(
    apicurio: RegistryServer,
    password: str,
    registry: ConfluentSchemaRegistry,
    own_schemas: OwnSchemas,
) -> None:
    folder, prefix = own_schemas()
    env = operator_env(apicurio, password)

    first = fraud_worker("schemas", "register", "--local-dir", str(folder), env=env)
    second = fraud_worker("schemas", "register", "--local-dir", str(folder), env=env)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    subjects = local_subjects(folder)
    versions = sum(len(files) for files in subjects.values())
    assert first.stdout.count(": registered, id ") == versions
    assert first.stdout.count("compatibility BACKWARD (set)") == len(subjects)
    assert f"{len(subjects)} subjects at {apicurio.url}: {len(subjects)} changed" in first.stdout
    assert second.stdout.count(": already there, id ") == versions
    assert ": registered" not in second.stdout and "(set)" not in second.stdout
    assert ": 0 changed" in second.stdout
    assert password not in first.stdout + first.stderr + second.stdout + second.stderr
    events = f"{prefix}transactions-value"
    for subject in subjects:
        assert registry.compatibility(subject) == "BACKWARD"
    # Every version in order: the latest is v3, and the ids the command printed are the registry's.
    v3_line = next(line for line in second.stdout.splitlines() if "transaction.v3.avsc" in line)
    assert v3_line.strip().startswith(f"{events} v3 ")
    assert registry.latest_id(events) == int(v3_line.rsplit("id ", 1)[1])


def test_a_change_that_breaks_readers_is_refused(
    registry: ConfluentSchemaRegistry, registered: dict[str, SubjectReport], tmp_path: Path
) -> None:
    latest = registry.latest_id("transactions-value")
    v3 = json.loads((default_schemas_dir() / "transaction.v3.avsc").read_text())
    broken = {**v3, "fields": [*v3["fields"], {"name": "risk_tier", "type": "int", "doc": "-"}]}
    path = tmp_path / "transaction.v4.avsc"
    path.write_text(json.dumps(broken))

    with pytest.raises(SchemaRegistryError, match=r"refused transaction\.v4\.avsc") as caught:
        registry.register("transactions-value", path)

    assert "\n" not in str(caught.value)
    assert registry.latest_id("transactions-value") == latest


def test_a_compatible_change_is_accepted_and_becomes_the_latest(
    registry: ConfluentSchemaRegistry, own_schemas: OwnSchemas, tmp_path: Path
) -> None:
    """The refusal above is the rule at work, not a registry that refuses everything."""
    folder, prefix = own_schemas()
    subject = f"{prefix}transactions-value"
    register_subject(registry, subject, local_subjects(folder)[subject])
    v3 = json.loads((default_schemas_dir() / "transaction.v3.avsc").read_text())
    extra = {"name": "risk_tier", "type": ["null", "int"], "default": None, "doc": "-"}
    path = tmp_path / "transaction.v4.avsc"
    path.write_text(json.dumps({**v3, "fields": [*v3["fields"], extra]}))

    added = registry.register(subject, path)

    assert added.created and added.version == 4
    assert registry.latest_id(subject) == added.schema_id


def test_the_worker_writes_and_reads_the_registrys_ids(
    registry_settings: Settings,
    registry: ConfluentSchemaRegistry,
    registered: dict[str, SubjectReport],
) -> None:
    def registry_id(subject: str) -> int:
        return registered[subject].registrations[-1].schema_id

    decoder, encoders = build_codecs(registry_settings)
    schemas = registry_settings.schemas
    assert encoders.scored.schema_id == registry_id(schemas.scored_subject) != 100
    assert encoders.review.schema_id == registry_id(schemas.review_subject) != 201
    assert encoders.dead_letter.schema_id == registry_id(schemas.dead_letter_subject) != 300
    assert encoders.degraded.schema_id == registry_id(schemas.degraded_subject)
    assert encoders.shadow.schema_id == registry_id(schemas.shadow_subject)

    # Input from producers of v1 (older) and v3 (newer), framed with the registry's ids.
    v1_id = registry.version_id("transactions-value", 1)
    assert v1_id == registered["transactions-value"].registrations[0].schema_id
    v1 = RecordEncoder.for_schema_id(registry, v1_id)
    v3 = RecordEncoder(registry, "transactions-value")
    old = v1.encode({k: BASE_EVENT[k] for k in _names(v1.schema)})
    new = v3.encode(
        {**BASE_EVENT, "transaction_id": "tx3", "device_id": "d1", "merchant_name": None}
    )
    unknown = frame(987_654, b"\x00")

    decoded = decoder.decode_many([old, new, unknown])

    assert list(decoded.indices) == [0, 1]
    assert list(decoded.columns["transaction_id"]) == ["tx1", "tx3"]
    assert list(decoded.columns["entry_mode"]) == ["unknown", BASE_EVENT["entry_mode"]]
    [(index, error)] = decoded.failures
    assert index == 2 and error.code == "unknown_schema_id"


def _names(schema: object) -> list[str]:
    assert isinstance(schema, dict)
    return [field["name"] for field in schema["fields"]]


def test_per_record_decoding_through_the_registry(
    registry: ConfluentSchemaRegistry, registered: dict[str, SubjectReport]
) -> None:
    reader = load_schema(default_schemas_dir() / TRANSACTION_READER_SCHEMA)
    decoder = EventDecoder(registry, reader)
    value = RecordEncoder(registry, "transactions-value").encode({**BASE_EVENT, "device_id": None})
    assert decoder.decode(value)["card_id"] == BASE_EVENT["card_id"]
    with pytest.raises(DecodeError) as caught:
        decoder.decode(frame(987_655, b"\x00"))
    assert caught.value.code == "unknown_schema_id"


def test_a_subject_missing_at_start_is_one_line_naming_the_command(
    registry_settings: Settings, registered: dict[str, SubjectReport]
) -> None:
    missing = registry_settings.model_copy(
        update={
            "schemas": registry_settings.schemas.model_copy(
                update={"scored_subject": "nobody-registered-this-value"}
            )
        }
    )
    with pytest.raises(SchemaRegistryError) as at_start:
        build_codecs(missing)
    with pytest.raises(SchemaRegistryError) as checked:
        check_schemas(missing)

    for error in (at_start.value, checked.value):
        message = str(error)
        assert "\n" not in message
        assert "nobody-registered-this-value" in message and "not registered at" in message
        assert "run `fraud-worker schemas register`" in message
    # With every subject there, the same check passes and counts what the registry holds.
    assert "the registry holds" in check_schemas(registry_settings)


def test_a_version_that_is_not_there_is_one_line(
    registry: ConfluentSchemaRegistry, registered: dict[str, SubjectReport]
) -> None:
    with pytest.raises(SchemaRegistryError, match="has no version 9") as caught:
        registry.version_id("transactions-value", 9)
    assert "\n" not in str(caught.value)


def test_wrong_password_is_one_line_naming_the_settings(
    apicurio: RegistryServer, password: str
) -> None:
    env = {**operator_env(apicurio, password), "FRAUD_SCHEMAS__REGISTRY_PASSWORD": "wrong-pw-42"}

    line = one_error_line(fraud_worker("schemas", "list", env=env))

    assert "HTTP 401" in line and "FRAUD_SCHEMAS__REGISTRY_PASSWORD" in line
    assert "wrong-pw-42" not in line and password not in line


def test_no_credentials_is_refused_by_the_registry(apicurio: RegistryServer) -> None:
    with pytest.raises(SchemaRegistryError, match="HTTP 401"):
        ConfluentSchemaRegistry(apicurio.url).latest_id("transactions-value")


def test_an_unreachable_registry_is_one_line(apicurio: RegistryServer, password: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/apis/ccompat/v7"
    env = {**operator_env(apicurio, password), "FRAUD_SCHEMAS__REGISTRY_URL": url}

    line = one_error_line(fraud_worker("schemas", "register", env=env))

    assert "is unreachable" in line and url in line and password not in line


def test_the_api_root_instead_of_the_confluent_api_is_named(
    apicurio: RegistryServer, password: str
) -> None:
    root = apicurio.url.removesuffix("/apis/ccompat/v7")
    env = {**operator_env(apicurio, password), "FRAUD_SCHEMAS__REGISTRY_URL": root}

    line = one_error_line(fraud_worker("schemas", "list", env=env))

    assert "HTTP 404" in line and "/apis/ccompat/v7" in line


def test_schemas_list_shows_each_subject_with_its_level(
    apicurio: RegistryServer, password: str, registered: dict[str, SubjectReport]
) -> None:
    result = fraud_worker("schemas", "list", env=operator_env(apicurio, password))

    assert result.returncode == 0, result.stderr
    for subject in registered:
        line = next(line for line in result.stdout.splitlines() if line.startswith(subject + " "))
        assert line.endswith("BACKWARD")


def test_https_with_the_configured_ca(
    apicurio: RegistryServer,
    password: str,
    tls_files: dict[str, Path],
    registered: dict[str, SubjectReport],
) -> None:
    settings = load_settings(
        schemas={
            "registry_url": apicurio.https_url,
            "registry_user": "worker",
            "registry_password": password,
            "registry_ca_location": tls_files["ca"],
        }
    )
    _, encoders = build_codecs(settings)
    assert (
        encoders.scored.schema_id
        == registered["transactions.scored-value"].registrations[-1].schema_id
    )


@pytest.mark.parametrize("ca", [None, "other_ca"])
def test_an_untrusted_certificate_is_one_line_naming_the_ca_setting(
    apicurio: RegistryServer, password: str, tls_files: dict[str, Path], ca: str | None
) -> None:
    env = {**operator_env(apicurio, password), "FRAUD_SCHEMAS__REGISTRY_URL": apicurio.https_url}
    if ca is not None:
        env["FRAUD_SCHEMAS__REGISTRY_CA_LOCATION"] = str(tls_files[ca])

    line = one_error_line(fraud_worker("schemas", "list", env=env))

    assert "CERTIFICATE_VERIFY_FAILED" in line and "FRAUD_SCHEMAS__REGISTRY_CA_LOCATION" in line
    assert password not in line
