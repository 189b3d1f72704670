"""What the demo's Prometheus saw: every query of the chart's Grafana dashboard over the
demo's span (did each return data?), and the degraded-share alert's timeline."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from worker.monitoring.rules import (
    CHART_RULES,
    TIME_SCALE,
    alert_for,
    require_chart_file,
    scale_duration,
)

DASHBOARD = CHART_RULES.with_name("dashboard.json")
ALERT = "FraudDegradedShareHigh"
# `$name`, `${name}`, `${name:format}` and the old `[[name]]`.
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


class RangeQueries(Protocol):
    def query_range(
        self, expr: str, start_s: float, end_s: float, step_s: float = ...
    ) -> list[dict[str, Any]]: ...


def grafana_values(scale: float = TIME_SCALE, scrape_s: float = 1) -> dict[str, str]:
    """What Grafana would put in a query at the demo's speed: ``$__rate_interval`` is the
    scaled 2m of the rules (Grafana's own choice, 4 x the scrape interval, is the same 4 s
    at a 1 s scrape); template variables stand for "All" (``.*``)."""
    return {
        "__rate_interval": scale_duration("2m", scale),
        "__interval": f"{scrape_s:g}s",
        "namespace": ".*",
        "job": ".*",
    }


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Grafana's variables replaced; one not in ``values`` (a template variable) is "All"."""

    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return values.get(name, ".*")

    return VARIABLE.sub(value, expr)


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel with queries, rows' nested panels included."""
    for panel in dashboard["panels"]:
        if panel.get("targets"):
            yield panel
        yield from (inner for inner in panel.get("panels", []) if inner.get("targets"))


@dataclass(frozen=True)
class QueryResult:
    panel: str
    legend: str
    expr: str  # as asked, variables substituted
    series: int
    samples: int  # non-NaN samples over the span

    @property
    def has_data(self) -> bool:
        return self.samples > 0


def dashboard_results(
    prometheus: RangeQueries,
    start_s: float,
    end_s: float,
    dashboard_path: Path = DASHBOARD,
    values: Mapping[str, str] | None = None,
) -> list[QueryResult]:
    """Each query of the dashboard asked over ``[start_s, end_s]`` at 1 s steps."""
    dashboard = json.loads(require_chart_file(dashboard_path).read_text())
    values = values if values is not None else grafana_values()
    results = []
    for panel in panels(dashboard):
        for target in panel["targets"]:
            expr = substitute(target["expr"], values)
            matrix = prometheus.query_range(expr, start_s, end_s)
            samples = sum(1 for s in matrix for _t, v in s["values"] if not math.isnan(float(v)))
            legend = str(target.get("legendFormat", ""))
            results.append(QueryResult(panel["title"], legend, expr, len(matrix), samples))
    return results


def dashboard_lines(results: list[QueryResult]) -> list[str]:
    with_data = sum(r.has_data for r in results)
    lines = [f"dashboard queries with data: {with_data} of {len(results)}"]
    for r in results:
        mark = "data" if r.has_data else "NO DATA"
        lines.append(
            f"  {mark:<7} {r.panel[:44]:<44} {r.legend[:30]:<30} {r.series:>3} series "
            f"{r.samples:>5} samples"
        )
    return lines


@dataclass(frozen=True)
class AlertTimeline:
    """Unix times of the alert's states (None: never reached)."""

    pending_at: float | None
    firing_at: float | None
    resolved_at: float | None  # the first evaluation after the last firing one

    @property
    def fired_and_resolved(self) -> bool:
        return self.firing_at is not None and self.resolved_at is not None


def alert_timeline(
    prometheus: RangeQueries, start_s: float, end_s: float, alert: str = ALERT, step_s: float = 1
) -> AlertTimeline:
    """From ``ALERTS{alertname=…}``: first pending sample, first firing one, and the step
    after the last firing one, when it stopped before the span's end."""
    matrix = prometheus.query_range(f'ALERTS{{alertname="{alert}"}}', start_s, end_s, step_s)
    times: dict[str, list[float]] = {"pending": [], "firing": []}
    for series in matrix:
        state = series["metric"].get("alertstate", "")
        times.setdefault(state, []).extend(float(t) for t, _v in series["values"])
    pending, firing = sorted(times["pending"]), sorted(times["firing"])
    resolved = None
    if firing and firing[-1] + step_s <= end_s:
        resolved = firing[-1] + step_s
    return AlertTimeline(pending[0] if pending else None, firing[0] if firing else None, resolved)


def alert_lines(
    timeline: AlertTimeline,
    outage: tuple[float, float] | None,
    answers_until: float,
    scale: float = TIME_SCALE,
) -> list[str]:
    """The alert's states in seconds from the outage's start and end, and the verdict:
    firing during the outage, resolved after it while answers still came."""
    begin, end = outage if outage else (math.nan, math.nan)

    def when(at: float | None, what: str) -> str:
        if at is None:
            return f"  {what:<9} never"
        return (
            f"  {what:<9} {at - begin:+6.1f} s from the outage's start, "
            f"{at - end:+6.1f} s from its end"
        )

    verdict = "fired during the outage and resolved after it, answers still coming"
    if not fired_in_outage_resolved_after(timeline, outage, answers_until):
        verdict = "did NOT fire during the outage and resolve after it while answers came"
    return [
        f"{ALERT} (degraded share > 10 % for {alert_for(ALERT)}, here "
        f"{alert_for(ALERT, scale)}): {verdict}",
        when(timeline.pending_at, "pending"),
        when(timeline.firing_at, "firing"),
        when(timeline.resolved_at, "resolved"),
        f"  (the last answer came {answers_until - end:+.1f} s from the outage's end)"
        if outage
        else "  (no outage: Redis is external)",
    ]


def fired_in_outage_resolved_after(
    timeline: AlertTimeline, outage: tuple[float, float] | None, answers_until: float
) -> bool:
    """Firing began inside the outage; it resolved after the outage and before the last
    answer (not for want of answers: the share is NaN then, which also ends an alert)."""
    if outage is None or timeline.firing_at is None or timeline.resolved_at is None:
        return False
    begin, end = outage
    return begin <= timeline.firing_at <= end < timeline.resolved_at <= answers_until
