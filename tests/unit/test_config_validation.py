"""Settings that used to end in a traceback, an abort or a wait without end are refused at
start, in one line that names the key, the variable or the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import ConfigError
from worker.settings import load_settings


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAUD_CONFIG_FILE", raising=False)


def refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> str:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("FRAUD_TOPICS__INPUT", "", "topics.input"),
        ("FRAUD_TOPICS__SCORED", "has space", "topics.scored"),
        ("FRAUD_WORKER__GROUP_ID", "", "worker.group_id"),
        ("FRAUD_BREAKER__OPEN_WAIT_S", "inf", "breaker.open_wait_s"),
        ("FRAUD_BREAKER__MAX_OPEN_WAIT_S", "nan", "breaker.max_open_wait_s"),
        ("FRAUD_WORKER__BATCH_WAIT_MS", "100000000", "worker.batch_wait_ms"),
        ("FRAUD_STACK__READY_TIMEOUT_S", "inf", "stack.ready_timeout_s"),
        ("FRAUD_REDIS__URL", "http://cache:6379", "redis.url"),
        ("FRAUD_REDIS__URL", "redis://cache:port/0", "redis.url"),
    ],
)
def test_a_value_that_cannot_work_names_its_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, key: str
) -> None:
    assert f"{key} ({variable})" in refused(monkeypatch, variable, value)


def test_an_unknown_librdkafka_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(monkeypatch, "FRAUD_KAFKA__CLIENT_CONFIG", '{"sasl.mechanismz": "PLAIN"}')
    assert "FRAUD_KAFKA__CLIENT_CONFIG" in message and "sasl.mechanismz" in message


def test_a_bad_librdkafka_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(monkeypatch, "FRAUD_KAFKA__CLIENT_CONFIG", '{"auto.offset.reset": "soon"}')
    assert "FRAUD_KAFKA__CLIENT_CONFIG" in message and "auto.offset.reset" in message


def test_known_librdkafka_keys_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    config = (
        '{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", '
        '"sasl.username": "worker", "sasl.password": "secret"}'
    )
    monkeypatch.setenv("FRAUD_KAFKA__CLIENT_CONFIG", config)
    assert load_settings().kafka.client_config["sasl.mechanism"] == "PLAIN"


@pytest.mark.parametrize("variable", ["FRAUD_KAFKA__CLIENT_CONFIG", "FRAUD_KAFKA", "FRAUD_WORKER"])
def test_bad_json_in_a_variable_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    message = refused(monkeypatch, variable, "{sasl.password: oops")
    assert message.startswith(f"{variable}: not valid JSON")
    assert "oops" not in message, "a value may hold a secret: it is not echoed"


def test_bad_yaml_names_the_file_and_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text("worker:\n  group_id: a\n  batch_max: [1,\n")
    message = refused(monkeypatch, "FRAUD_CONFIG_FILE", str(config))
    assert message.startswith(f"FRAUD_CONFIG_FILE={config}: not valid YAML at line 4")


def test_yaml_that_is_not_a_mapping_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text("- kafka\n- worker\n")
    message = refused(monkeypatch, "FRAUD_CONFIG_FILE", str(config))
    assert str(config) in message and "mapping" in message


def test_an_empty_config_file_is_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text("")
    monkeypatch.setenv("FRAUD_CONFIG_FILE", str(config))
    assert load_settings().worker.group_id == "fraud-worker"


def test_the_endpoint_listens_on_loopback_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().worker.metrics_host == "127.0.0.1"
    monkeypatch.setenv("FRAUD_WORKER__METRICS_HOST", "0.0.0.0")
    assert load_settings().worker.metrics_host == "0.0.0.0"
