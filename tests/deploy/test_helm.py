"""The Helm chart: lint, render, every object valid offline, and the promises it makes.

Rendered with the real helm (``ensure_helm``: built once with ``go install``); built-in kinds
validated by the Kubernetes client's models, KEDA's and the Prometheus operator's by hand.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart import (
    ALL_ON,
    CHART,
    SCENARIOS,
    container,
    helm_run,
    named,
    of_kind,
    plain_env,
    render,
    render_error,
    secret_env,
)
from tests.deploy.k8s_models import problems
from worker.settings import SECRET_KEYS, Settings

Objects = list[dict[str, Any]]


@pytest.mark.parametrize("values", [{}, ALL_ON], ids=["defaults", "all-on"])
def test_helm_lint_strict_passes(helm: Path, values: dict[str, Any]) -> None:
    result = helm_run(helm, "lint", "--strict", str(CHART), values=values)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_rendered_object_is_valid(helm: Path, scenario: str) -> None:
    objects = render(helm, SCENARIOS[scenario])
    assert [p for obj in objects for p in problems(obj)] == []
    names = [(obj["kind"], obj["metadata"]["name"]) for obj in objects]
    assert len(names) == len(set(names))


def test_the_validation_refuses_unknown_fields_and_wrong_types(helm: Path) -> None:
    deployment = named(render(helm), "Deployment", "worker")
    deployment["spec"]["replicas"] = "2"
    container(deployment)["livenessProbe"]["httpGet"]["pth"] = "/healthz"
    found = problems(deployment)
    assert len(found) == 2 and "replicas" in found[0] and "pth" in found[1]
    assert problems({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "spec": {}})


def test_the_autoscaled_worker_leaves_its_replicas_to_keda(helm: Path) -> None:
    objects = render(helm)
    deployment = named(objects, "Deployment", "worker")
    assert "replicas" not in deployment["spec"]
    (scaler,) = of_kind(objects, "ScaledObject")
    assert scaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    trigger = scaler["spec"]["triggers"][0]
    env = plain_env(container(deployment))
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    # KEDA's default is `latest`; the worker's consumer starts a new group at `earliest`.
    assert metadata["offsetResetPolicy"] == "earliest"
    assert metadata["consumerGroup"] == env["FRAUD_WORKER__GROUP_ID"]
    assert metadata["topic"] == env["FRAUD_TOPICS__INPUT"]
    assert metadata["bootstrapServers"] == env["FRAUD_KAFKA__BOOTSTRAP_SERVERS"]
    assert int(metadata["lagThreshold"]) > int(metadata["activationLagThreshold"]) > 0
    partitions = int(env["FRAUD_TOPICS__INPUT_PARTITIONS"])
    assert 1 <= scaler["spec"]["minReplicaCount"] <= scaler["spec"]["maxReplicaCount"]
    assert scaler["spec"]["maxReplicaCount"] <= partitions
    assert "authenticationRef" not in trigger and not of_kind(objects, "TriggerAuthentication")


def test_without_autoscaling_the_deployment_sets_its_replicas(helm: Path) -> None:
    objects = render(helm, {"autoscaling": {"enabled": False}, "worker": {"replicas": 3}})
    assert named(objects, "Deployment", "worker")["spec"]["replicas"] == 3
    assert not of_kind(objects, "ScaledObject") and not of_kind(objects, "TriggerAuthentication")


def test_keda_reads_sasl_and_tls_from_a_secret(helm: Path) -> None:
    values = {"autoscaling": {"authentication": {"enabled": True, "secretName": "keda-kafka"}}}
    objects = render(helm, values)
    (auth,) = of_kind(objects, "TriggerAuthentication")
    refs = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert set(refs) == {"sasl", "username", "password", "tls", "ca"}
    assert {ref["name"] for ref in refs.values()} == {"keda-kafka"}
    (scaler,) = of_kind(objects, "ScaledObject")
    assert scaler["spec"]["triggers"][0]["authenticationRef"] == {"name": auth["metadata"]["name"]}


def test_rendering_refuses_more_replicas_than_input_partitions(helm: Path) -> None:
    error = render_error(helm, {"autoscaling": {"maxReplicaCount": 7}})
    assert "autoscaling.maxReplicaCount (7) must not exceed topics.inputPartitions (6)" in error
    render(helm, {"autoscaling": {"maxReplicaCount": 12}, "topics": {"inputPartitions": 12}})


@pytest.mark.parametrize("component", ["worker", "labels", "rescore"])
def test_rendering_refuses_a_grace_period_a_stopping_member_outlasts(
    helm: Path, component: str
) -> None:
    error = render_error(helm, {component: {"terminationGracePeriodSeconds": 30}})
    assert f"{component}.terminationGracePeriodSeconds (30 s) must exceed" in error
    assert "(30500 ms)" in error


def test_the_grace_period_outlasts_the_worst_stop(helm: Path) -> None:
    """SIGTERM: the batch in flight (its budget), the flush, the commit; the chart's numbers
    are the settings' own defaults."""
    defaults = Settings().worker
    for deployment in of_kind(render(helm, ALL_ON), "Deployment"):
        env = plain_env(container(deployment))
        assert int(env["FRAUD_WORKER__FLUSH_TIMEOUT_MS"]) == defaults.flush_timeout_ms
        if container(deployment)["command"][1] == "evaluate":
            continue  # produces nothing: no flush to wait for
        grace_ms = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] * 1000
        assert grace_ms > defaults.flush_timeout_ms + defaults.batch_budget_ms
    worker = plain_env(container(named(render(helm), "Deployment", "worker")))
    assert int(worker["FRAUD_WORKER__BATCH_BUDGET_MS"]) == defaults.batch_budget_ms


def _declared_ports(spec: dict[str, Any]) -> set[str]:
    return {port["name"] for port in spec["ports"]}


def _check_probes(spec: dict[str, Any]) -> None:
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        action = spec[probe].get("httpGet") or spec[probe]["tcpSocket"]
        assert action["port"] in _declared_ports(spec), (spec["name"], probe)
    startup = spec["startupProbe"]
    # Models load before the endpoint answers: minutes, not the liveness probe's seconds.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


def test_every_pod_is_locked_down_probed_and_sized(helm: Path) -> None:
    for deployment in of_kind(render(helm, ALL_ON), "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        spec = container(deployment)
        security = spec["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"/tmp"} <= {mount["mountPath"] for mount in spec["volumeMounts"]}
        assert spec["resources"]["requests"]["cpu"] and spec["resources"]["limits"]["memory"]
        _check_probes(spec)


def test_secrets_are_only_referenced_never_written(helm: Path) -> None:
    objects = render(helm, ALL_ON)
    assert not of_kind(objects, "Secret")
    must_be_secret = {
        "FRAUD_REDIS__URL",
        "FRAUD_KAFKA__CLIENT_CONFIG",
        "FRAUD_TRIAGE__DATABASE_URL",
        "FRAUD_TRIAGE__SECRET_KEY",
    }
    for deployment in of_kind(objects, "Deployment"):
        spec = container(deployment)
        for name in plain_env(spec):
            assert name not in must_be_secret
            assert not any(word in name.lower() for word in SECRET_KEYS), name
    worker = secret_env(container(named(objects, "Deployment", "worker")))
    assert worker["FRAUD_REDIS__URL"] == {"name": "fraud-worker", "key": "redis-url"}
    # A PLAINTEXT cluster has no client config to give.
    assert worker["FRAUD_KAFKA__CLIENT_CONFIG"]["optional"] is True


@pytest.mark.parametrize("scenario", ["defaults", "all-on"])
def test_every_variable_is_a_setting_the_worker_accepts(
    helm: Path, scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The literal values, as the container's environment, load as valid settings."""
    for deployment in of_kind(render(helm, SCENARIOS[scenario]), "Deployment"):
        env = plain_env(container(deployment))
        sections = {name.removeprefix("FRAUD_").split("__")[0].lower() for name in env}
        assert sections <= set(Settings.model_fields)
        with monkeypatch.context() as patch:
            for name in [n for n in os.environ if n.startswith("FRAUD_")]:
                patch.delenv(name)
            for name, value in env.items():
                patch.setenv(name, value)
            settings = Settings()
        assert settings.worker.metrics_host == "0.0.0.0"
        assert settings.kafka.bootstrap_servers == "kafka:9092"


def test_the_disruption_budget_covers_the_workers(helm: Path) -> None:
    objects = render(helm)
    (budget,) = of_kind(objects, "PodDisruptionBudget")
    # maxUnavailable, not minAvailable: a single worker can still be drained off a node.
    assert budget["spec"]["maxUnavailable"] == 1 and "minAvailable" not in budget["spec"]
    pod_labels = named(objects, "Deployment", "worker")["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert not of_kind(
        render(helm, {"worker": {"podDisruptionBudget": {"enabled": False}}}), "PodDisruptionBudget"
    )


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_each_service_selects_its_component_on_its_metrics_port(helm: Path) -> None:
    objects = render(helm, ALL_ON)
    deployments = of_kind(objects, "Deployment")
    assert len(of_kind(objects, "Service")) == len(deployments) == 5
    for deployment in deployments:
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        service = named(objects, "Service", component)
        pod = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(service["spec"]["selector"], pod)
        assert [
            s["metadata"]["name"]
            for s in of_kind(objects, "Service")
            if _selects(s["spec"]["selector"], pod)
        ] == [service["metadata"]["name"]]
        (port,) = service["spec"]["ports"]
        assert port["targetPort"] in _declared_ports(container(deployment))
        # One Prometheus job per component, whichever monitor scrapes it.
        assert pod["fraud-worker.io/job"] == service["metadata"]["labels"]["fraud-worker.io/job"]
        assert pod["fraud-worker.io/job"] == deployment["metadata"]["name"]


def test_the_monitors_select_every_component(helm: Path) -> None:
    objects = render(helm, ALL_ON)
    (service_monitor,) = of_kind(objects, "ServiceMonitor")
    assert service_monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = service_monitor["spec"]["selector"]["matchLabels"]
    ports = {e["port"] for e in service_monitor["spec"]["endpoints"]}
    for service in of_kind(objects, "Service"):
        assert _selects(selector, service["metadata"]["labels"])
        assert service["spec"]["ports"][0]["name"] in ports
    (pod_monitor,) = of_kind(objects, "PodMonitor")
    selector = pod_monitor["spec"]["selector"]["matchLabels"]
    ports = {e["port"] for e in pod_monitor["spec"]["podMetricsEndpoints"]}
    for deployment in of_kind(objects, "Deployment"):
        assert _selects(selector, deployment["spec"]["template"]["metadata"]["labels"])
        assert _declared_ports(container(deployment)) <= ports
    for monitor in (service_monitor, pod_monitor):
        assert monitor["spec"]["jobLabel"] == "fraud-worker.io/job"
    assert not {"ServiceMonitor", "PodMonitor"} & {obj["kind"] for obj in render(helm)}


def test_the_alert_rules_and_dashboard_are_the_chart_files(helm: Path) -> None:
    objects = render(helm, ALL_ON)
    (rule,) = of_kind(objects, "PrometheusRule")
    alerts = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"]
    assert any("alert" in r for group in alerts["groups"] for r in group["rules"])
    (dashboard,) = of_kind(objects, "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = dashboard["data"].values()
    assert json.loads(text) == json.loads((CHART / "files" / "dashboard.json").read_text())
    kinds = {obj["kind"] for obj in render(helm)}
    assert not {"PrometheusRule", "ConfigMap"} & kinds


def test_the_triage_app_is_an_optional_deployment_and_service(helm: Path) -> None:
    assert not [o for o in render(helm) if "triage" in o["metadata"]["name"]]
    objects = render(helm, {"triage": {"enabled": True}})
    deployment = named(objects, "Deployment", "triage")
    spec = container(deployment)
    assert spec["command"] == ["fraud-worker", "triage"]
    defaults = Settings().triage
    env = plain_env(spec)
    assert env["FRAUD_TRIAGE__HOST"] == "0.0.0.0" and defaults.host == "127.0.0.1"
    assert int(env["FRAUD_TRIAGE__PORT"]) == spec["ports"][0]["containerPort"] == defaults.port
    assert env["FRAUD_TRIAGE__GROUP_ID"] == defaults.group_id
    secrets = secret_env(spec)
    assert secrets["FRAUD_TRIAGE__DATABASE_URL"] == {"name": "fraud-triage", "key": "database-url"}
    assert secrets["FRAUD_TRIAGE__SECRET_KEY"] == {"name": "fraud-triage", "key": "secret-key"}
    assert "FRAUD_REDIS__URL" not in secrets
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    service = named(objects, "Service", "triage")
    assert service["spec"]["ports"][0]["port"] == defaults.port


def test_models_come_from_a_volume_when_one_is_given(helm: Path) -> None:
    claim = {"persistentVolumeClaim": {"claimName": "fraud-models"}}
    objects = render(helm, {"models": {"volume": claim, "mountPath": "/models"}})
    for component in ("worker", "rescore"):
        deployment = named(objects, "Deployment", component)
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["models"] == {"name": "models", **claim}
        spec = container(deployment)
        assert plain_env(spec)["FRAUD_WORKER__MODELS_DIR"] == "/models"
        mount = {m["name"]: m for m in spec["volumeMounts"]}["models"]
        assert mount == {"name": "models", "mountPath": "/models", "readOnly": True}
    labels = container(named(objects, "Deployment", "labels"))
    assert "FRAUD_WORKER__MODELS_DIR" not in plain_env(labels)


def test_the_feedback_members_are_toggled_in_values(helm: Path) -> None:
    off = {name: {"enabled": False} for name in ("labels", "rescore", "quality")}
    objects = render(helm, off)
    assert [d["metadata"]["name"] for d in of_kind(objects, "Deployment")] == ["fw-fraud-worker"]
    assert len(of_kind(objects, "Service")) == 1


def test_the_values_schema_refuses_a_typo_and_a_wrong_guarantee(helm: Path) -> None:
    result = helm_run(helm, "template", "fw", str(CHART), values={"autoscalng": {}})
    assert result.returncode != 0 and "autoscalng" in result.stderr
    bad = {"worker": {"processingGuarantee": "at_most_once"}}
    result = helm_run(helm, "template", "fw", str(CHART), values=bad)
    assert result.returncode != 0 and "processingGuarantee" in result.stderr
