"""A wrong password or an untrusted certificate stops the worker, the labels consumer and the
triage app at start: exit 1 and one line on stderr naming the setting, no traceback. Run as
the user runs them: the installed ``fraud-worker`` with the variables of client.env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import free_port
from tests.integration.test_cli_errors import one_error_line
from tests.secure.conftest import SecureStack

pytestmark = pytest.mark.integration

FRAUD_WORKER = str(Path(sys.executable).with_name("fraud-worker"))
KAFKA_CONFIG = "FRAUD_KAFKA__CLIENT_CONFIG"


def fraud_worker(
    command: str, env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    quiet = {
        "FRAUD_WORKER__METRICS_PORT": "0",
        "FRAUD_LABELS__METRICS_PORT": "0",
        "FRAUD_WORKER__LOG_LEVEL": "ERROR",
        "FRAUD_TRIAGE__DATA_DIR": str(tmp_path / "triage"),
        "FRAUD_TRIAGE__PORT": str(free_port()),
    }
    return subprocess.run(
        [FRAUD_WORKER, command],
        env={**clean, **quiet, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def with_kafka(stack: SecureStack, **keys: str) -> dict[str, str]:
    env = stack.profile.client_env()
    config = {**json.loads(env[KAFKA_CONFIG]), **keys}
    return {**env, KAFKA_CONFIG: json.dumps(config)}


@pytest.mark.parametrize("command", ["run", "labels", "triage"])
def test_a_wrong_kafka_password_names_sasl_password(
    secure_stack: SecureStack, command: str, tmp_path: Path
) -> None:
    env = with_kafka(secure_stack, **{"sasl.password": "not-the-password"})
    line = one_error_line(fraud_worker(command, env, tmp_path))
    assert "sasl.password" in line and KAFKA_CONFIG in line and "authentication" in line.lower()
    assert "not-the-password" not in line


@pytest.mark.parametrize("command", ["run", "labels", "triage"])
def test_an_untrusted_broker_certificate_names_ssl_ca_location(
    secure_stack: SecureStack, other_ca: Path, command: str, tmp_path: Path
) -> None:
    env = with_kafka(secure_stack, **{"ssl.ca.location": str(other_ca)})
    line = one_error_line(fraud_worker(command, env, tmp_path))
    assert "ssl.ca.location" in line and KAFKA_CONFIG in line and "certificate" in line


# Both members run the same start-up check: one of them per Redis case keeps the suite short.
@pytest.mark.parametrize("command", ["run"])
def test_a_wrong_redis_password_names_the_redis_url(
    secure_stack: SecureStack, command: str, tmp_path: Path
) -> None:
    env = {**secure_stack.profile.client_env()}
    env["FRAUD_REDIS__URL"] = secure_stack.profile.redis_url("not-the-password")
    line = one_error_line(fraud_worker(command, env, tmp_path))
    assert "FRAUD_REDIS__URL" in line and "not-the-password" not in line


@pytest.mark.parametrize("command", ["labels"])
def test_an_untrusted_redis_certificate_names_the_redis_ca_setting(
    secure_stack: SecureStack, other_ca: Path, command: str, tmp_path: Path
) -> None:
    env = {**secure_stack.profile.client_env(), "FRAUD_REDIS__SSL_CA_CERTS": str(other_ca)}
    line = one_error_line(fraud_worker(command, env, tmp_path))
    assert "FRAUD_REDIS__SSL_CA_CERTS" in line and "CERTIFICATE_VERIFY_FAILED" in line


def test_the_client_env_of_stack_up_is_what_a_client_needs(
    secure_stack: SecureStack, tmp_path: Path
) -> None:
    """client.env, sourced by a shell, makes check-config pass against the secure stack."""
    path = secure_stack.profile.client_env_path
    assert path.stat().st_mode & 0o777 == 0o600
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    result = subprocess.run(
        ["bash", "-c", f'set -a; . "{path}"; set +a; exec "{FRAUD_WORKER}" check-config'],
        env={**clean, "FRAUD_WORKER__LOG_LEVEL": "ERROR"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "ok    broker" in result.stdout and "ok    redis" in result.stdout
    assert secure_stack.profile.credentials.kafka_app not in result.stdout
    assert secure_stack.profile.credentials.redis_app not in result.stdout
