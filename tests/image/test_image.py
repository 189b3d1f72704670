"""The image that ``make image`` builds is a working worker: run by podman against the local
stack (host network, so 127.0.0.1:19092 and :16379 are the stack's), as uid 10001 with a
read-only root filesystem and only /tmp writable (as the Helm chart runs it), it scores events
with the models baked into the image and exits 0 on ``podman stop`` (SIGTERM to PID 1).

Built once per module: a few minutes the first time, seconds when podman's layers are cached."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.factories import free_port, http_get
from tests.integration.harness import (
    encoded,
    produce,
    read_topic,
    simulated_events,
    wait_for,
    worker_settings,
)
from worker.settings import Settings
from worker.stack.image import build_image, podman_env

MODELS = Path(__file__).resolve().parents[2] / "models"


@dataclass(frozen=True)
class Podman:
    """podman with our containers.conf, and the image under test."""

    env: dict[str, str]
    image: str

    def __call__(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout_s
        )

    def checked(self, *args: str, timeout_s: float = 120) -> str:
        done = self(*args, timeout_s=timeout_s)
        assert done.returncode == 0, f"podman {args}: {done.stderr[-3000:]}"
        return done.stdout.strip()


@pytest.fixture(scope="module")
def podman(live_stack: Settings) -> Podman:
    built = build_image(live_stack.stack.dir)
    return Podman(podman_env(live_stack.stack.dir), built.tags[0])


def worker_env(settings: Settings, metrics_port: int) -> dict[str, str]:
    """The worker's settings as the chart passes them: environment variables only."""
    topics = settings.topics.model_dump()
    env = {f"FRAUD_TOPICS__{key.upper()}": str(value) for key, value in topics.items()}
    return {
        **env,
        "FRAUD_KAFKA__BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
        "FRAUD_REDIS__URL": settings.redis_url,
        "FRAUD_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "FRAUD_WORKER__GROUP_ID": settings.worker.group_id,
        "FRAUD_WORKER__METRICS_PORT": str(metrics_port),
    }


@pytest.fixture
def container(podman: Podman) -> Iterator[str]:
    """A container name, removed after the test whatever became of it."""
    name = f"fraud-worker-test-{uuid.uuid4().hex[:8]}"
    yield name
    podman("rm", "-f", "-t", "0", name)


def test_the_image_runs_as_uid_10001_with_the_models_baked_in(podman: Podman) -> None:
    assert podman.checked("image", "inspect", "--format", "{{.Config.User}}", podman.image) == (
        "10001:10001"
    )
    ids = podman.checked("run", "--rm", "--entrypoint", "id", podman.image)
    assert ids.startswith("uid=10001(10001) gid=10001(10001) "), ids
    manifest = podman.checked(
        "run", "--rm", "--entrypoint", "cat", podman.image, "/opt/fraud-worker/models/manifest.json"
    )
    assert json.loads(manifest) == json.loads((MODELS / "manifest.json").read_text())


def test_a_read_only_container_scores_events_and_exits_0_on_sigterm(
    podman: Podman, container: str, live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    settings = worker_settings(live_stack, make_topic)
    produce(settings, encoded(simulated_events(50)))
    port = free_port()
    env = [
        arg for key, value in worker_env(settings, port).items() for arg in ("-e", f"{key}={value}")
    ]
    podman.checked(
        "run", "-d", "--name", container, "--network=host", "--read-only", "--tmpfs", "/tmp",
        *env, podman.image,
    )  # fmt: skip
    results = read_topic(settings, settings.topics.scored, "scored", 50, timeout_s=180)
    # Bound to 0.0.0.0 by the image (the host network shares it with us on loopback).
    wait_for(lambda: http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200, timeout_s=60)
    pid1 = podman.checked("exec", container, "cat", "/proc/1/cmdline").split("\0")
    assert any(part.endswith("/fraud-worker") for part in pid1) and "run" in pid1
    podman.checked("stop", "-t", "90", container, timeout_s=120)
    state = podman.checked("inspect", "--format", "{{.State.ExitCode}}", container)
    logs = podman("logs", container).stderr[-2000:]
    assert state == "0", logs
    version = json.loads((MODELS / "manifest.json").read_text())["model_version"]
    assert len(results) == 50
    assert {r["source"] for r, _ in results} <= {"primary", "fallback"}
    assert {r["model_version"] for r, _ in results} == {version}
