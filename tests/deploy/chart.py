"""Render the Helm chart with the real helm (``ensure_helm``) and read its objects back."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "fraud-worker"
RELEASE = "fw"

# Every option the chart has, switched on: what lint and validation must also accept.
ALL_ON: dict[str, Any] = {
    "autoscaling": {"authentication": {"enabled": True}},
    "triage": {"enabled": True},
    "models": {"volume": {"persistentVolumeClaim": {"claimName": "fraud-models"}}},
    "monitoring": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "podMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "grafanaDashboard": {"enabled": True},
    },
    "extraEnv": [{"name": "FRAUD_SCHEMAS__REGISTRY_URL", "value": "http://registry:8081"}],
    "extraVolumes": [{"name": "kafka-ca", "secret": {"secretName": "kafka-ca"}}],
    "extraVolumeMounts": [{"name": "kafka-ca", "mountPath": "/etc/fraud-worker/kafka"}],
    "imagePullSecrets": [{"name": "registry-credentials"}],
}

SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "autoscaling-off": {"autoscaling": {"enabled": False}},
    "triage-on": {"triage": {"enabled": True}},
    "monitoring-on": {"monitoring": ALL_ON["monitoring"]},
    "all-on": ALL_ON,
}


def helm_run(
    helm: Path, *args: str, values: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """``helm <args> -f <values>``; the values as a file, as a user would pass them."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump(values or {}, file)
        file.flush()
        command = [str(helm), *args, "--values", file.name]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def render(helm: Path, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``helm template`` of the chart: every object it renders."""
    result = helm_run(helm, "template", RELEASE, str(CHART), values=values)
    assert result.returncode == 0, result.stderr
    return [obj for obj in yaml.safe_load_all(result.stdout) if obj]


def render_error(helm: Path, values: dict[str, Any]) -> str:
    """What ``helm template`` says when it refuses ``values``."""
    result = helm_run(helm, "template", RELEASE, str(CHART), values=values)
    assert result.returncode != 0, "the chart rendered values it should refuse"
    return result.stderr


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, component: str) -> dict[str, Any]:
    """The one object of ``kind`` that belongs to ``component`` (worker, labels, …)."""
    found = [
        obj
        for obj in of_kind(objects, kind)
        if obj["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"{len(found)} {kind} objects of {component}"
    return found[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def plain_env(container_spec: dict[str, Any]) -> dict[str, str]:
    """The container's variables that have literal values."""
    return {e["name"]: e["value"] for e in container_spec["env"] if "value" in e}


def secret_env(container_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The container's variables read from Secrets: name → secretKeyRef."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container_spec["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
