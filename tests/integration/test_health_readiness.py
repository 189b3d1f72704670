"""``/readyz`` of a real ``fraud-worker run``: not ready without its models and rules (unless a
degraded start is allowed), not ready while the broker is unreachable; librdkafka's own log
lines come out through the worker's JSON formatter."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from tests.factories import free_port, http_get
from tests.integration.harness import worker_settings
from worker.settings import Settings

FRAUD_WORKER = str(Path(sys.executable).with_name("fraud-worker"))


@contextmanager
def worker_process(
    settings: Settings, tmp_path: Path, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``fraud-worker run`` with these settings (a file) and overrides (the environment);
    its stderr goes to ``tmp_path / "stderr.log"``."""
    config = tmp_path / "worker.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    stderr = (tmp_path / "stderr.log").open("wb")
    proc = subprocess.Popen(
        [FRAUD_WORKER, "run"],
        env={
            **clean,
            "FRAUD_CONFIG_FILE": str(config),
            "FRAUD_WORKER__METRICS_PORT": str(port),
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stderr.close()


def wait_for(url: str, wanted: Callable[[int, str], bool], timeout_s: float = 45) -> str:
    deadline = time.monotonic() + timeout_s
    code, body = 0, ""
    while time.monotonic() < deadline:
        code, body = http_get(url, timeout_s=2)
        if wanted(code, body):
            return body
        time.sleep(0.3)
    raise AssertionError(f"{url}: last answer {code} {body!r}")


def test_not_ready_without_models_and_rules(
    live_stack: Settings, make_topic: Callable[[int], str], tmp_path: Path
) -> None:
    settings = worker_settings(live_stack, make_topic)
    missing = {
        "FRAUD_WORKER__MODELS_DIR": str(tmp_path / "no-models"),
        "FRAUD_WORKER__RULES_PATH": str(tmp_path / "no-rules.yaml"),
    }
    with worker_process(settings, tmp_path, **missing) as (base, proc):
        body = wait_for(f"{base}/readyz", lambda code, _body: code != 0)
        assert body.startswith("not ready: artifacts failed to load: manifest: ")
        for level in ("primary", "fallback", "rules"):
            assert f"; {level}: " in body
        metrics = wait_for(f"{base}/metrics", lambda code, _body: code == 200)
        assert 'fraud_artifact_load_failed{artifact="rules"} 1.0' in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert "FRAUD_WORKER__ALLOW_DEGRADED_START" in (tmp_path / "stderr.log").read_text()


def test_a_degraded_start_is_ready_when_allowed(
    live_stack: Settings, make_topic: Callable[[int], str], tmp_path: Path
) -> None:
    settings = worker_settings(live_stack, make_topic)
    with worker_process(
        settings,
        tmp_path,
        FRAUD_WORKER__RULES_PATH=str(tmp_path / "no-rules.yaml"),
        FRAUD_WORKER__ALLOW_DEGRADED_START="true",
    ) as (base, _proc):
        assert wait_for(f"{base}/readyz", lambda code, _body: code == 200) == "ready\n"
        metrics = http_get(f"{base}/metrics")[1]
        assert 'fraud_artifact_load_failed{artifact="rules"} 1.0' in metrics
        assert 'fraud_artifact_load_failed{artifact="primary"} 0.0' in metrics


def test_not_ready_while_the_broker_is_unreachable_and_its_logs_are_json(
    live_stack: Settings, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    with worker_process(
        live_stack,
        tmp_path,
        FRAUD_KAFKA__BOOTSTRAP_SERVERS=dead,
        FRAUD_WORKER__LOG_JSON="true",
    ) as (base, proc):
        body = wait_for(f"{base}/readyz", lambda code, _body: code != 0)
        assert body == "not ready: the Kafka broker is unreachable\n"
        time.sleep(1)  # a few connection failures get logged
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    lines = (tmp_path / "stderr.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line, librdkafka's too
    rdkafka = [e for e in entries if e["logger"] == "librdkafka"]
    assert rdkafka and any("Connection refused" in e["message"] for e in rdkafka)
