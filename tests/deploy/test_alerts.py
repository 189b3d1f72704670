"""The chart's alert rules and dashboard: valid for Prometheus, unit-tested alert by alert,
and written against metrics that our code really exports, so a renamed metric breaks here.

``promtool`` is Debian's (``ensure_promtool`` installs it when missing and root).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from worker.breaker import BreakerState
from worker.errors import StackError
from worker.labels.consumer import LabelsMetrics
from worker.metrics import WorkerMetrics
from worker.quality.follow import LiveMetrics
from worker.rescore.metrics import RescoreMetrics
from worker.stack import prometheus
from worker.stack.prometheus import ensure_promtool
from worker.triage.metrics import TriageMetrics

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "deploy" / "helm" / "fraud-worker" / "files"
RULES = FILES / "alerts.yaml"
DASHBOARD = FILES / "dashboard.json"
RULE_TESTS = ROOT / "deploy" / "monitoring" / "alerts.test.yaml"

# Labels Prometheus adds to every scraped series (Kubernetes service discovery included).
TARGET_LABELS = {"namespace", "job", "instance", "pod"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "info": ("_info",),
}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
NUMBER = re.compile(r"(?<![a-zA-Z_:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
# A name, and whether a "(" follows it (a function's).
IDENTIFIER = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\(?)")
GRAFANA_VARIABLE = re.compile(r"\$\{?\w+\}?")


class _Queue:
    """The triage store as the queue collector asks it, at each scrape."""

    def depth_by_band(self) -> dict[str, int]:
        return {}

    def oldest_open_age_s(self) -> float | None:
        return 42.0


@pytest.fixture(scope="module")
def promtool() -> str:
    return ensure_promtool()


def _run(command: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(command, input=stdin, capture_output=True, check=False, timeout=120)


def _assert_ok(result: subprocess.CompletedProcess[bytes]) -> None:
    output = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, output


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _dashboard_exprs() -> list[str]:
    return [
        target["expr"] for panel in _panels(_dashboard()) for target in panel.get("targets", [])
    ]


def _as_promql(grafana_expr: str) -> str:
    """Grafana's variables replaced by what they stand for at query time."""
    expr = grafana_expr.replace("$__rate_interval", "5m")
    return GRAFANA_VARIABLE.sub(".*", expr)


def _minutes(duration: str) -> int:
    match = re.fullmatch(r"(\d+)m", duration)
    assert match, f"durations in the alert tests are whole minutes, not {duration!r}"
    return int(match.group(1))


def test_the_rules_file_is_valid(promtool: str) -> None:
    _assert_ok(_run([promtool, "check", "rules", str(RULES)]))


def test_every_alert_passes_its_unit_tests(promtool: str) -> None:
    _assert_ok(_run([promtool, "test", "rules", str(RULE_TESTS)]))


def test_every_alert_is_tested_firing_quiet_before_and_resolved() -> None:
    """Each alert: a check where it fires, a quiet one before the first firing (below the
    threshold or within ``for:``), and a quiet one after a firing (it resolves)."""
    checks: dict[str, list[tuple[int, bool]]] = {}
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in test.get("alert_rule_test", []):
            firing = bool(check["exp_alerts"])
            checks.setdefault(check["alertname"], []).append((_minutes(check["eval_time"]), firing))
    for alert in _alerts():
        name = alert["alert"]
        found = checks.get(name, [])
        fired = [minute for minute, firing in found if firing]
        quiet = [minute for minute, firing in found if not firing]
        assert fired, f"{name}: no test where it fires"
        assert any(minute < min(fired) for minute in quiet), f"{name}: no quiet check before it"
        assert any(minute > min(fired) for minute in quiet), f"{name}: no check that it resolves"
    assert set(checks) <= {alert["alert"] for alert in _alerts()}, "a test of an unknown alert"


@pytest.mark.parametrize("name", [alert["alert"] for alert in _alerts()])
def test_the_unit_tests_catch_an_alert_that_fires_a_minute_early(
    promtool: str, tmp_path: Path, name: str
) -> None:
    """With one alert's ``for:`` a minute shorter the unit tests must fail: each alert is
    checked exactly at the edge of its ``for:``."""
    document = yaml.safe_load(RULES.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == name:
                rule["for"] = f"{_minutes(rule['for']) - 1}m"
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(document))
    tests = yaml.safe_load(RULE_TESTS.read_text())
    tests["rule_files"] = ["alerts.yaml"]
    tests["tests"] = list(_checks_of(tests["tests"], name))
    (tmp_path / "alerts.test.yaml").write_text(yaml.safe_dump(tests))
    result = _run([promtool, "test", "rules", str(tmp_path / "alerts.test.yaml")])
    assert result.returncode != 0, f"{name} fired a minute early and no test noticed"


def _checks_of(tests: list[dict[str, Any]], name: str) -> Iterator[dict[str, Any]]:
    """The unit tests of one alert only (quicker than all of them)."""
    for test in tests:
        checks = [c for c in test.get("alert_rule_test", []) if c["alertname"] == name]
        if checks:
            yield {**test, "alert_rule_test": checks, "promql_expr_test": []}


def test_every_alert_says_how_bad_and_what_to_do() -> None:
    text = RULES.read_text().splitlines()
    for alert in _alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning"}, name
        assert alert["annotations"]["summary"].strip(), name
        assert len(alert["annotations"]["description"]) > 80, f"{name}: no runbook text"
        assert _minutes(alert["for"]) > 0, name
        line = next(i for i, row in enumerate(text) if row.strip() == f"- alert: {name}")
        assert text[line - 1].strip().startswith("#"), f"{name}: its for: is not explained"


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """promtool parses each query as a recording rule's expression."""
    exprs = _dashboard_exprs()
    rules = [
        {"record": f"dashboard:query_{i}", "expr": _as_promql(expr)} for i, expr in enumerate(exprs)
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    _assert_ok(_run([promtool, "check", "rules", str(path)]))


def _exported() -> dict[str, frozenset[str]]:
    """Every series name our processes expose, with its label names."""
    registries = [
        WorkerMetrics().registry,
        LabelsMetrics().registry,
        RescoreMetrics().registry,
        LiveMetrics().registry,
        TriageMetrics(_Queue()).registry,
    ]
    names: dict[str, frozenset[str]] = {}
    for registry in registries:
        names.update(_names_of(registry))
    return names


def _names_of(registry: CollectorRegistry) -> dict[str, frozenset[str]]:
    wrappers = registry._names_to_collectors
    names: dict[str, frozenset[str]] = {}
    for family in registry.collect():
        labels = set(getattr(wrappers.get(family.name), "_labelnames", ()))
        labels |= {label for sample in family.samples for label in sample.labels}
        for suffix in SUFFIXES[family.type]:
            extra = {"le"} if suffix == "_bucket" else set()
            names[family.name + suffix] = frozenset((labels | extra) - {"le"} | extra)
    return names


def _metric_names(expr: str) -> set[str]:
    """The series names an expression reads: what is left once strings, label matchers,
    grouping clauses, ranges, numbers, function names and operators are taken out."""
    text = STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = GROUPING.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = NUMBER.sub(" ", text)
    return {
        name for name, call in IDENTIFIER.findall(text) if not call and name not in PROMQL_WORDS
    }


def _every_expr() -> list[str]:
    return [rule["expr"] for rule in _rules()] + [_as_promql(e) for e in _dashboard_exprs()]


def test_the_metric_name_reader_finds_names_and_only_names() -> None:
    expr = (
        'sum by (le, stage) (rate(fraud_stage_seconds_bucket{stage="batch", job=~"a|b"}[5m]))'
        " / on (job) group_left sum(x:y:rate2m) > 1e3 and deriv(lag[10m]) > 0.5"
    )
    assert _metric_names(expr) == {"fraud_stage_seconds_bucket", "x:y:rate2m", "lag"}


def test_every_metric_in_the_rules_and_the_dashboard_is_exported() -> None:
    exported = _exported()
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    used = {name for expr in _every_expr() for name in _metric_names(expr)}
    for variable in _dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((\w+), *\w+\)", variable["definition"])
            assert found, f"the {variable['name']} variable reads no metric"
            used.add(found.group(1))
    unknown = sorted(used - set(exported) - recorded)
    assert not unknown, f"not exported by any of our registries: {unknown}"


def test_every_label_matcher_names_a_label_of_its_metric() -> None:
    exported = _exported()
    for expr in _every_expr():
        for name, matchers in SELECTOR.findall(STRING.sub('""', expr)):
            if name not in exported:
                continue  # a recorded series: its labels are the rule's grouping
            labels = set(MATCHER_LABEL.findall(matchers))
            unknown = labels - exported[name] - TARGET_LABELS
            assert not unknown, f"{name} has no label {sorted(unknown)} (in {expr})"


def test_the_dashboard_is_grafana_json_on_a_datasource_variable() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 39
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = list(_panels(dashboard))
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_dashboard_has_the_panels_an_operator_looks_for() -> None:
    titles = " | ".join(panel["title"].lower() for panel in _panels(_dashboard()))
    for wanted in (
        "answers per second by source",
        "degraded share",
        "breaker states",
        "stage latency",
        "end-to-end latency",
        "batch size",
        "consumer lag",
        "dead letters",
        "review stream rate",
        "live average precision",
        "triage queue depth",
        "oldest open item",
    ):
        assert wanted in titles, wanted


def _filled_worker_registry() -> CollectorRegistry:
    """A worker's registry with a sample in every family, as after some batches."""
    metrics = WorkerMetrics()
    metrics.results.labels("primary", "allow").inc(3)
    metrics.degraded.labels("feature_store").inc()
    metrics.input_flags.labels("amount_missing").inc()
    metrics.review.inc()
    metrics.kept_apart.labels("fallback").inc()
    metrics.rule_raised.labels("primary").inc()
    metrics.shadow_results.labels("fallback").inc()
    metrics.shadow_failures.labels("fallback").inc()
    metrics.dead_letters.labels("unknown_schema").inc()
    metrics.stage_seconds.labels("batch").observe(0.012)
    metrics.batch_size.observe(64)
    metrics.breaker_changed("cache", BreakerState.CLOSED, BreakerState.OPEN)
    metrics.lag.labels("transactions", "0").set(5)
    metrics.observe_edge({"cache": 2}, 1)
    metrics.model.info({"model_version": "v1", "provider": "CPUExecutionProvider"})
    metrics.observe_load(("manifest", "primary"), {"primary": "unreadable"})
    return metrics.registry


def test_what_our_processes_expose_passes_promtool_check_metrics(promtool: str) -> None:
    """The exposition linter: help text, base units, counters ending in _total."""
    labels = LabelsMetrics()
    labels.labels.labels("chargeback", "fraud").inc()
    labels.lag.labels("transactions.labels", "0").set(1)
    rescore = RescoreMetrics()
    rescore.age_seconds.observe(120)
    live = LiveMetrics()
    live.gauges["average_precision"].labels("all", "false").set(0.5)
    triage = TriageMetrics(_Queue())
    triage.decided("fraud")
    for registry in (
        _filled_worker_registry(),
        labels.registry,
        rescore.registry,
        live.registry,
        triage.registry,
    ):
        _assert_ok(_run([promtool, "check", "metrics"], generate_latest(registry)))


def test_without_promtool_and_root_the_error_names_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(prometheus, "PROMTOOL", tmp_path / "promtool")
    monkeypatch.setattr(prometheus.shutil, "which", lambda _name: None)
    monkeypatch.setattr(prometheus.os, "geteuid", lambda: 1000)
    with pytest.raises(StackError, match=r"apt-get install .*prometheus`$"):
        prometheus.ensure_promtool()
