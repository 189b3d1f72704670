"""The dashboard's queries as the demo asks them, the alert's timeline read from
``ALERTS``, the demo's scrape jobs (the chart's), and when the demo's outage begins."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart import CHART, helm_run
from worker.demo import AFTER_OUTAGE_MIN_S, outage_start_s
from worker.errors import ConfigError
from worker.monitoring import server
from worker.monitoring.queries import (
    DASHBOARD,
    AlertTimeline,
    alert_lines,
    alert_timeline,
    fired_in_outage_resolved_after,
    grafana_values,
    panels,
    substitute,
)
from worker.monitoring.server import Target, scrape_config
from worker.stack.prometheus import ensure_promtool


class RecordedAlerts:
    """``query_range`` answering from a fixed matrix (the logic under test is ours)."""

    def __init__(self, matrix: list[dict[str, Any]]) -> None:
        self.matrix = matrix
        self.asked: list[str] = []

    def query_range(
        self, expr: str, start_s: float, end_s: float, step_s: float = 1
    ) -> list[dict[str, Any]]:
        self.asked.append(expr)
        return self.matrix


def _series(state: str, times: range) -> dict[str, Any]:
    return {"metric": {"alertstate": state}, "values": [[t, "1"] for t in times]}


def test_grafana_variables_become_the_demo_speed_values() -> None:
    values = grafana_values()
    expr = 'rate(x{namespace=~"$namespace", job=~"${job}", a=~"[[job]]"}[$__rate_interval])'
    assert substitute(expr, values) == 'rate(x{namespace=~".*", job=~".*", a=~".*"}[4s])'
    assert substitute('y{pod=~"${pod:regex}"}', values) == 'y{pod=~".*"}'


def test_every_dashboard_query_substituted_is_valid_promql(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [
        substitute(t["expr"], grafana_values()) for p in panels(dashboard) for t in p["targets"]
    ]
    assert len(exprs) > 30
    assert not [e for e in exprs if "$" in e]
    rules = [{"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [ensure_promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_timeline_is_read_from_alerts() -> None:
    alerts = RecordedAlerts(
        [_series("pending", range(102, 112)), _series("firing", range(112, 127))]
    )
    timeline = alert_timeline(alerts, 100, 160)
    assert timeline == AlertTimeline(pending_at=102, firing_at=112, resolved_at=127)
    assert alerts.asked == ['ALERTS{alertname="FraudDegradedShareHigh"}']


def test_an_alert_still_firing_at_the_end_has_not_resolved() -> None:
    alerts = RecordedAlerts(
        [_series("pending", range(102, 112)), _series("firing", range(112, 160))]
    )
    assert alert_timeline(alerts, 100, 159).resolved_at is None


@pytest.mark.parametrize(
    ("timeline", "last_answer", "expected"),
    [
        (AlertTimeline(102, 112, 127), 140, True),
        (AlertTimeline(102, 112, 127), 125, False),  # resolved for want of answers
        (AlertTimeline(102, 112, 119), 140, False),  # resolved inside the outage
        (AlertTimeline(102, 121, 127), 140, False),  # fired only after the outage
        (AlertTimeline(102, None, None), 140, False),
    ],
)
def test_the_verdict_wants_firing_in_the_outage_and_resolving_while_answers_come(
    timeline: AlertTimeline, last_answer: float, expected: bool
) -> None:
    assert fired_in_outage_resolved_after(timeline, (100, 120), last_answer) is expected
    verdict = alert_lines(timeline, (100, 120), last_answer)[0]
    assert ("did NOT" not in verdict) is expected


def test_the_scrape_config_has_one_job_per_component_at_1_s() -> None:
    targets = [Target("fraud-worker", "127.0.0.1:1"), Target("fraud-worker", "127.0.0.1:2"),
               Target("fraud-worker-labels", "127.0.0.1:3")]  # fmt: skip
    config = scrape_config(targets, Path("/r/alerts.yaml"))
    assert config["global"] == {"scrape_interval": "1s", "scrape_timeout": "1s",
                                "evaluation_interval": "1s"}  # fmt: skip
    assert config["rule_files"] == ["/r/alerts.yaml"]
    assert config["scrape_configs"] == [
        {
            "job_name": "fraud-worker",
            "static_configs": [{"targets": ["127.0.0.1:1", "127.0.0.1:2"]}],
        },
        {"job_name": "fraud-worker-labels", "static_configs": [{"targets": ["127.0.0.1:3"]}]},
    ]


def test_the_demo_jobs_are_the_charts_job_labels(helm: Path) -> None:
    """The job names the demo scrapes under are what the chart's monitors give a release
    called fraud-worker (``fraud-worker.io/job`` of each component's pods)."""
    values = {"triage": {"enabled": True}}
    result = helm_run(helm, "template", "fraud-worker", str(CHART), values=values)
    assert result.returncode == 0, result.stderr
    jobs = {
        obj["spec"]["template"]["metadata"]["labels"]["fraud-worker.io/job"]
        for obj in yaml.safe_load_all(result.stdout)
        if obj and obj["kind"] == "Deployment"
    }
    assert jobs == {server.WORKER_JOB, server.LABELS_JOB, server.RESCORE_JOB,
                    server.QUALITY_JOB, server.TRIAGE_JOB}  # fmt: skip


def test_the_outage_leaves_time_after_it_for_the_alert_to_resolve() -> None:
    assert outage_start_s(50, 20) == 10
    assert outage_start_s(40, 20) == pytest.approx(40 - 20 - AFTER_OUTAGE_MIN_S)
    assert outage_start_s(10, 0) == 0
    with pytest.raises(ConfigError, match=r"--events/--rate .* --outage-s"):
        outage_start_s(30, 20)
