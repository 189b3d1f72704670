"""The chart's manifests agree with the worker: probe paths, metrics ports and hosts, groups,
and commands the CLI really has."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.chart import container, named, of_kind, plain_env, render
from worker.settings import Settings


def test_probes_port_and_scaler_match_the_worker(helm: Path) -> None:
    objects = render(helm)
    deployment = named(objects, "Deployment", "worker")
    (scaler,) = of_kind(objects, "ScaledObject")
    spec = container(deployment)
    defaults = Settings().worker
    assert spec["ports"][0]["containerPort"] == defaults.metrics_port
    assert spec["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = plain_env(spec)
    assert int(env["FRAUD_WORKER__METRICS_PORT"]) == defaults.metrics_port
    # The worker listens on loopback unless told: in a pod, probes and scrapes come from outside.
    assert env["FRAUD_WORKER__METRICS_HOST"] == "0.0.0.0"
    assert defaults.metrics_host == "127.0.0.1"
    assert env["FRAUD_WORKER__PROCESSING_GUARANTEE"] == defaults.processing_guarantee
    trigger = scaler["spec"]["triggers"][0]["metadata"]
    assert trigger["consumerGroup"] == env["FRAUD_WORKER__GROUP_ID"] == defaults.group_id
    assert trigger["topic"] == Settings().topics.input
    assert scaler["spec"]["maxReplicaCount"] <= Settings().topics.input_partitions


def test_the_feedback_deployments_run_real_commands_on_their_own_ports_and_groups(
    helm: Path,
) -> None:
    from typer.main import get_command

    from worker.cli import app

    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    defaults = Settings()
    ports = {"labels": defaults.labels.metrics_port, "rescore": defaults.rescore.metrics_port}
    groups = {"labels": defaults.labels.group_id, "rescore": defaults.rescore.group_id}
    seen = set()
    for deployment in of_kind(render(helm, {"triage": {"enabled": True}}), "Deployment"):
        spec = container(deployment)
        command = spec["command"]
        assert command[0] == "fraud-worker" and command[1] in commands
        seen.add(command[1])
        env = plain_env(spec)
        assert env["FRAUD_WORKER__METRICS_HOST"] == "0.0.0.0"
        port = spec["ports"][0]["containerPort"]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port)
        if command[1] in ports:
            section = command[1].upper()
            assert port == ports[command[1]] == int(env[f"FRAUD_{section}__METRICS_PORT"])
            assert env[f"FRAUD_{section}__GROUP_ID"] == groups[command[1]]
        elif command[1] == "evaluate":
            assert command[2:] == ["--follow", "--metrics-port", str(port)]
    assert seen == {"run", "labels", "rescore", "evaluate", "triage"}
