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
