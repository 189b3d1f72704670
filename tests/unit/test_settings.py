"""The settings object validates at start and names the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import ConfigError
from worker.settings import load_settings


def test_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAUD_CONFIG_FILE", raising=False)
    settings = load_settings()
    assert settings.kafka_bootstrap == f"127.0.0.1:{settings.stack.kafka_port}"
    assert settings.redis_url.startswith("redis://127.0.0.1:")
    assert settings.topics.all_topics()["transactions"] == 6


def test_a_bad_value_names_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_STACK__REDIS_PORT", "70000")
    with pytest.raises(ConfigError, match=r"stack\.redis_port \(FRAUD_STACK__REDIS_PORT\)"):
        load_settings()


def test_environment_overrides_the_yaml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text("topics:\n  input: from-file\n  scored: scored-from-file\n")
    monkeypatch.setenv("FRAUD_CONFIG_FILE", str(config))
    monkeypatch.setenv("FRAUD_TOPICS__SCORED", "scored-from-env")
    settings = load_settings()
    assert settings.topics.input == "from-file"
    assert settings.topics.scored == "scored-from-env"


def test_an_unknown_key_in_the_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text("topics:\n  inptu: typo\n")
    monkeypatch.setenv("FRAUD_CONFIG_FILE", str(config))
    with pytest.raises(ConfigError, match=r"topics\.inptu"):
        load_settings()


def test_a_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_CONFIG_FILE", "/nonexistent/worker.yaml")
    with pytest.raises(ConfigError, match="FRAUD_CONFIG_FILE"):
        load_settings()
