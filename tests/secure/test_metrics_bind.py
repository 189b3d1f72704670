"""Each long-running member serves /metrics, /healthz and /readyz on the address that
FRAUD_WORKER__METRICS_HOST names, and nowhere else (127.0.0.2: a loopback address that is
not 127.0.0.1). Run against the secure stack, as a deployment over TLS would run them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from tests.factories import free_port
from tests.secure.conftest import SecureStack

pytestmark = pytest.mark.integration

FRAUD_WORKER = str(Path(sys.executable).with_name("fraud-worker"))
HOST = "127.0.0.2"


def answers(host: str, port: int) -> bool:
    try:
        with urlopen(f"http://{host}:{port}/healthz", timeout=1):
            return True
    except HTTPError:
        return True  # an answer all the same (503 while starting)
    except OSError:
        return False


def refused(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) != 0


@pytest.mark.parametrize(
    ("command", "port_variable"),
    [
        ("run", "FRAUD_WORKER__METRICS_PORT"),
        ("labels", "FRAUD_LABELS__METRICS_PORT"),
        ("rescore", "FRAUD_RESCORE__METRICS_PORT"),
    ],
)
def test_a_member_serves_its_endpoint_on_the_configured_host_only(
    secure_stack: SecureStack, command: str, port_variable: str, tmp_path: Path
) -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    env = {
        **clean,
        **secure_stack.profile.client_env(),
        "FRAUD_WORKER__METRICS_HOST": HOST,
        "FRAUD_WORKER__METRICS_PORT": "0",
        port_variable: str(port),
        "FRAUD_WORKER__GROUP_ID": f"bind-{port}",
        "FRAUD_LABELS__GROUP_ID": f"bind-labels-{port}",
        "FRAUD_RESCORE__GROUP_ID": f"bind-rescore-{port}",
    }
    log = tmp_path / "member.log"
    with log.open("wb") as out:
        member = subprocess.Popen(
            [FRAUD_WORKER, command], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 90
        while not answers(HOST, port):
            assert member.poll() is None, f"{command} exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no endpoint on {HOST}:{port}"
            time.sleep(0.3)
        assert refused("127.0.0.1", port)
    finally:
        member.terminate()
        code = member.wait(60)
    assert code == 0, log.read_text()[-3000:]
