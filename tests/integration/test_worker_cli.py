"""The command line and the HTTP endpoint, against the real stack."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
import yaml
from typer.testing import CliRunner

from tests.integration.harness import read_topic, running_worker, worker_settings
from worker.cli import app
from worker.health import Health, serve
from worker.settings import Settings


def _env(settings: Settings, tmp_path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    config = tmp_path / "worker.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    return {"FRAUD_CONFIG_FILE": str(config)}


def test_simulate_then_review_through_the_cli(
    live_stack: Settings,
    make_topic: Callable[[int], str],
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    # A review threshold of 0 sends every result to the review topic.
    settings = worker_settings(live_stack, make_topic, review_threshold=0.0)
    for key, value in _env(settings, tmp_path).items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    # An older producer (schema 1) still decodes: its events reach the review topic too.
    args = ["simulate", "--events", "400", "--customers", "200", "--days", "5", "--schema-id", "1"]
    produced = runner.invoke(app, args)
    assert produced.exit_code == 0, produced.output
    assert "produced 400 events" in produced.output
    with running_worker(settings):
        read_topic(settings, settings.topics.scored, "scored", 400)
    shown = runner.invoke(app, ["review", "--json", "--limit", "500", "--idle-s", "2"])
    assert shown.exit_code == 0, shown.output
    items = [json.loads(line) for line in shown.output.splitlines() if line.startswith("{")]
    assert len(items) == 400
    decisions = {"decision:review", "decision:block"}
    assert all(decisions & set(item["review_reasons"]) for item in items)
    for item in items:  # the expected loss
        assert item["priority"] == pytest.approx(item["result"]["score"] * item["event"]["amount"])
    apart = runner.invoke(app, ["review", "--degraded", "--json", "--idle-s", "1"])
    assert apart.exit_code == 0 and not apart.output.strip().count("{"), "nothing degraded"
    table = runner.invoke(
        app, ["review", "--reason", "decision:review", "--source", "primary", "--limit", "5"]
    )
    rows = table.output.splitlines()[1:]
    assert len(rows) == 5 and all("primary" in row and "decision:review" in row for row in rows)


def test_check_config_masks_secrets_and_names_bad_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_REDIS__URL", "redis://user:hunter2@cache:6379/0")
    monkeypatch.setenv("FRAUD_KAFKA__CLIENT_CONFIG", '{"sasl.password": "hunter2"}')
    result = CliRunner().invoke(app, ["check-config", "--offline"])
    assert result.exit_code == 0 and "hunter2" not in result.output
    assert "redis://user:***@cache:6379/0" in result.output
    monkeypatch.setenv("FRAUD_WORKER__BATCH_MAX", "-3")
    bad = CliRunner().invoke(app, ["check-config"])
    assert bad.exit_code != 0
    assert "worker.batch_max (FRAUD_WORKER__BATCH_MAX)" in str(bad.exception)


def test_check_config_names_a_down_redis_without_its_password(
    live_stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("FRAUD_REDIS__URL", f"redis://user:hunter2@127.0.0.1:{port}/0")
    monkeypatch.setenv("FRAUD_KAFKA__BOOTSTRAP_SERVERS", live_stack.kafka_bootstrap)
    result = CliRunner().invoke(app, ["check-config"])
    assert result.exit_code != 0
    message = str(result.exception)
    assert message.startswith(f"redis: Redis at redis://user:***@127.0.0.1:{port}/0 did not answer")
    assert "FRAUD_REDIS__URL" in message
    assert "hunter2" not in message + result.output
    assert "ok    broker" in result.output


def test_metrics_health_and_readiness_endpoints(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    settings = worker_settings(live_stack, make_topic)
    with running_worker(settings) as worker:
        server = serve(0, worker.metrics.registry, worker.health)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            assert "fraud_breaker_state" in _get(f"{base}/metrics")
            assert "fraud_model_info" in _get(f"{base}/metrics")
            assert _get(f"{base}/healthz") == "ok\n"
            assert _wait_ready(worker.health), worker.health.not_ready_because()
            assert _get(f"{base}/readyz") == "ready\n"
            worker.stop()
            with pytest.raises(urllib.error.HTTPError) as info:
                _get(f"{base}/readyz")
            assert info.value.code == 503, "a stopping member is not ready"
            info.value.close()
        finally:
            server.shutdown()
            server.server_close()


def _wait_ready(health: Health, timeout_s: float = 15) -> bool:
    """Readiness follows what the Kafka edge reports (broker up, partitions owned)."""
    deadline = time.monotonic() + timeout_s
    while not health.ready and time.monotonic() < deadline:
        time.sleep(0.1)
    return health.ready


def _get(url: str) -> str:
    with urllib.request.urlopen(url) as response:
        return str(response.read().decode())
