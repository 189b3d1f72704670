"""The Kubernetes manifest agrees with the worker: probe paths, metrics port, group."""

from __future__ import annotations

from pathlib import Path

import yaml

from worker.settings import Settings

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "worker.yaml"


def test_probes_port_and_scaler_match_the_worker() -> None:
    deployment, scaler = yaml.safe_load_all(MANIFEST.read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    defaults = Settings().worker
    assert container["ports"][0]["containerPort"] == defaults.metrics_port
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e.get("value") for e in container["env"]}
    # The worker listens on loopback unless told: in a pod, probes and scrapes come from outside.
    assert env["FRAUD_WORKER__METRICS_HOST"] == "0.0.0.0"
    assert defaults.metrics_host == "127.0.0.1"
    trigger = scaler["spec"]["triggers"][0]["metadata"]
    assert trigger["consumerGroup"] == env["FRAUD_WORKER__GROUP_ID"] == defaults.group_id
    assert scaler["spec"]["maxReplicaCount"] <= Settings().topics.input_partitions


FEEDBACK = MANIFEST.with_name("feedback.yaml")


def test_the_feedback_deployments_run_real_commands_on_their_own_ports_and_groups() -> None:
    from typer.main import get_command

    from worker.cli import app

    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    defaults = Settings()
    ports = {"labels": defaults.labels.metrics_port, "rescore": defaults.rescore.metrics_port}
    groups = {"labels": defaults.labels.group_id, "rescore": defaults.rescore.group_id}
    seen = set()
    for deployment in yaml.safe_load_all(FEEDBACK.read_text()):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        command = container["command"]
        assert command[0] == "fraud-worker" and command[1] in commands
        seen.add(command[1])
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["FRAUD_WORKER__METRICS_HOST"] == "0.0.0.0"
        port = container["ports"][0]["containerPort"]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port)
        if command[1] in ports:
            section = command[1].upper()
            assert port == ports[command[1]] == int(env[f"FRAUD_{section}__METRICS_PORT"])
            assert env[f"FRAUD_{section}__GROUP_ID"] == groups[command[1]]
        else:
            assert command[2:] == ["--follow", "--metrics-port", str(port)]
    assert seen == {"labels", "rescore", "evaluate"}
