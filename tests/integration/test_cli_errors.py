"""A user's mistake on the command line is one line on stderr that names the setting or the
fix, and a non-zero exit — never a traceback, never an abort. Run as the user runs it: the
installed ``fraud-worker`` in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.settings import Settings

FRAUD_WORKER = str(Path(sys.executable).with_name("fraud-worker"))


def dead_address() -> str:
    """A loopback port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def fraud_worker(*args: str, timeout_s: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    return subprocess.run(
        [FRAUD_WORKER, *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FRAUD_KAFKA__CLIENT_CONFIG": "{bad json"}, "FRAUD_KAFKA__CLIENT_CONFIG"),
        ({"FRAUD_KAFKA__CLIENT_CONFIG": '{"no.such.key": "1"}'}, "no.such.key"),
        ({"FRAUD_REDIS__URL": "http://cache:6379/0"}, "FRAUD_REDIS__URL"),
        ({"FRAUD_TOPICS__INPUT": ""}, "FRAUD_TOPICS__INPUT"),
        ({"FRAUD_BREAKER__OPEN_WAIT_S": "inf"}, "FRAUD_BREAKER__OPEN_WAIT_S"),
        ({"FRAUD_WORKER__BATCH_WAIT_MS": "86400000"}, "FRAUD_WORKER__BATCH_WAIT_MS"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(env: dict[str, str], named: str) -> None:
    line = one_error_line(fraud_worker("check-config", "--offline", **env))
    assert named in line


def test_a_bad_yaml_file_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text("topics: [transactions,\n")
    line = one_error_line(fraud_worker("check-config", "--offline", FRAUD_CONFIG_FILE=str(config)))
    assert str(config) in line and "YAML" in line


def test_an_empty_group_id_does_not_abort_the_worker(live_stack: Settings) -> None:
    result = fraud_worker("run", FRAUD_WORKER__GROUP_ID="", FRAUD_WORKER__METRICS_PORT="0")
    assert "FRAUD_WORKER__GROUP_ID" in one_error_line(result)


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_a_metrics_port_in_use_is_one_line_naming_the_setting(
    live_stack: Settings, taken_port: int
) -> None:
    result = fraud_worker(
        "run",
        FRAUD_WORKER__METRICS_PORT=str(taken_port),
        FRAUD_WORKER__LOG_LEVEL="ERROR",
        FRAUD_KAFKA__BOOTSTRAP_SERVERS=live_stack.kafka_bootstrap,
    )
    line = one_error_line(result)
    assert f"FRAUD_WORKER__METRICS_PORT={taken_port}" in line and "in use" in line


@pytest.mark.parametrize(
    "command",
    [
        ["simulate", "--events", "10", "--customers", "20", "--terminals", "20", "--days", "2"],
        ["review", "--limit", "1"],
        ["topics", "describe"],
        ["topics", "create"],
    ],
)
def test_a_command_against_a_down_broker_says_so(command: list[str]) -> None:
    address = dead_address()
    result = fraud_worker(*command, FRAUD_KAFKA__BOOTSTRAP_SERVERS=address)
    line = one_error_line(result)
    assert address in line and "FRAUD_KAFKA__BOOTSTRAP_SERVERS" in line
    assert "produced" not in result.stdout


def test_check_config_checks_the_broker_and_redis() -> None:
    address = dead_address()
    result = fraud_worker("check-config", FRAUD_KAFKA__BOOTSTRAP_SERVERS=address)
    line = one_error_line(result)
    assert line.startswith("error: broker: ") and address in line
    assert "FAIL  broker" in result.stdout
    assert "ok    redis" in result.stdout
    offline = fraud_worker("check-config", "--offline", FRAUD_KAFKA__BOOTSTRAP_SERVERS=address)
    assert offline.returncode == 0, offline.stderr
    assert "skipped (--offline)" in offline.stdout


def test_check_config_checks_that_models_and_rules_load(tmp_path: Path) -> None:
    result = fraud_worker(
        "check-config",
        "--offline",
        FRAUD_WORKER__MODELS_DIR=str(tmp_path / "models"),
        FRAUD_WORKER__RULES_PATH=str(tmp_path / "rules.yaml"),
        FRAUD_WORKER__LOG_LEVEL="ERROR",
    )
    assert "4 checks failed (manifest, primary, fallback, rules)" in one_error_line(result)
    for name in ("manifest", "primary", "fallback", "rules"):
        assert f"FAIL  {name}" in result.stdout
    assert "ok    schemas" in result.stdout
