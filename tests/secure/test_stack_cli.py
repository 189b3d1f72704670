"""``fraud-worker stack up|status --profile secure`` as the user runs it, on the session's
secure stack (``up`` reuses the running servers): the client settings are printed with the
passwords masked and written, in the clear, to a 0600 client.env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.secure.conftest import SecureStack

pytestmark = pytest.mark.integration

FRAUD_WORKER = str(Path(sys.executable).with_name("fraud-worker"))


def stack(*args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    return subprocess.run(
        [FRAUD_WORKER, "stack", *args, "--profile", "secure"],
        env=clean, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def test_up_reuses_the_servers_and_prints_the_client_settings_masked(
    secure_stack: SecureStack,
) -> None:
    profile = secure_stack.profile
    before = stack("status")
    assert before.returncode == 0, before.stderr
    done = stack("up", "--no-topics")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == before.stdout.splitlines(), "the running servers are reused"
    assert lines[0].startswith("kafka    running  127.0.0.1:30092 (pid ")
    assert lines[1].startswith("redis    running  rediss://127.0.0.1:30379/0 (pid ")
    for name, value in profile.masked_env().items():
        assert f"  {name}={value}" in lines
    credentials = profile.credentials
    for secret in (credentials.kafka_admin, credentials.kafka_app, credentials.redis_app):
        assert secret not in done.stdout + done.stderr
    env = profile.client_env_path
    assert env.stat().st_mode & 0o777 == 0o600
    assert credentials.kafka_app in env.read_text() and credentials.redis_app in env.read_text()
    for private in ("credentials.json", "kafka/server.properties", "redis/redis.conf"):
        assert (profile.root / private).stat().st_mode & 0o777 == 0o600
    assert profile.root.stat().st_mode & 0o777 == 0o700
