"""Offline checks of rendered objects: the Kubernetes Python client's models for the built-in
kinds (pydantic, unknown fields forbidden, types strict), required fields read by hand for the
custom resources of KEDA and the Prometheus operator (their schemas cannot be fetched here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client
from pydantic import BaseModel, ValidationError

BUILT_IN: dict[tuple[str, str], type[BaseModel]] = {
    ("apps/v1", "Deployment"): client.V1Deployment,
    ("v1", "Service"): client.V1Service,
    ("v1", "ServiceAccount"): client.V1ServiceAccount,
    ("v1", "ConfigMap"): client.V1ConfigMap,
    ("policy/v1", "PodDisruptionBudget"): client.V1PodDisruptionBudget,
}


def problems(obj: dict[str, Any]) -> list[str]:
    """What is wrong with one rendered object (nothing: an empty list)."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    where = f"{key[1]} {obj.get('metadata', {}).get('name')}"
    if key in BUILT_IN:
        try:
            BUILT_IN[key].model_validate(obj)
        except ValidationError as exc:
            return [f"{where}: {error['loc']}: {error['msg']}" for error in exc.errors()]
        return []
    if key in CUSTOM:
        return [f"{where}: {problem}" for problem in CUSTOM[key](obj.get("spec") or {})]
    return [f"{where}: a kind this check does not know (add it to BUILT_IN or CUSTOM)"]


def _missing(data: dict[str, Any], *fields: str) -> list[str]:
    return [f"{field} is required" for field in fields if data.get(field) in (None, "", [], {})]


def _strings(data: dict[str, Any], what: str) -> list[str]:
    """KEDA's trigger metadata is map[string]string: a number there is refused by the API."""
    return [f"{what}.{key} must be a string" for key, v in data.items() if not isinstance(v, str)]


def _scaled_object(spec: dict[str, Any]) -> list[str]:
    found = _missing(spec, "scaleTargetRef", "triggers")
    found += _missing(spec.get("scaleTargetRef") or {}, "name")
    for trigger in spec.get("triggers") or []:
        found += _missing(trigger, "type", "metadata")
        found += _strings(trigger.get("metadata") or {}, "metadata")
        if "authenticationRef" in trigger:
            found += _missing(trigger["authenticationRef"], "name")
    for field in ("minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"):
        if field in spec and not isinstance(spec[field], int):
            found.append(f"{field} must be an integer")
    return found


def _trigger_authentication(spec: dict[str, Any]) -> list[str]:
    found = _missing(spec, "secretTargetRef")
    for ref in spec.get("secretTargetRef") or []:
        found += _missing(ref, "parameter", "name", "key")
    return found


def _selector(spec: dict[str, Any]) -> list[str]:
    return _missing(spec, "selector") + _missing(spec.get("selector") or {}, "matchLabels")


def _service_monitor(spec: dict[str, Any]) -> list[str]:
    found = _selector(spec) + _missing(spec, "endpoints")
    return found + [p for e in spec.get("endpoints") or [] for p in _missing(e, "port")]


def _pod_monitor(spec: dict[str, Any]) -> list[str]:
    found = _selector(spec) + _missing(spec, "podMetricsEndpoints")
    return found + [p for e in spec.get("podMetricsEndpoints") or [] for p in _missing(e, "port")]


def _prometheus_rule(spec: dict[str, Any]) -> list[str]:
    found = _missing(spec, "groups")
    for group in spec.get("groups") or []:
        found += _missing(group, "name", "rules")
        for rule in group.get("rules") or []:
            found += _missing(rule, "expr")
            if ("alert" in rule) == ("record" in rule):
                found.append(f"rule {rule}: exactly one of alert and record")
    return found


CUSTOM: dict[tuple[str, str], Callable[[dict[str, Any]], list[str]]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): _scaled_object,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): _trigger_authentication,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _service_monitor,
    ("monitoring.coreos.com/v1", "PodMonitor"): _pod_monitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): _prometheus_rule,
}
