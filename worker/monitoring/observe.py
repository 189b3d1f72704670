"""What the demo's Prometheus saw, asked once the stream is over: the alert's timeline and
every dashboard query over the demo's span, and the summary's section that tells them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from worker.monitoring.queries import (
    AlertTimeline,
    QueryResult,
    alert_lines,
    alert_timeline,
    dashboard_lines,
    dashboard_results,
)
from worker.monitoring.server import SCRAPE_INTERVAL_S, DemoPrometheus


@dataclass(frozen=True)
class Monitoring:
    """What the demo's Prometheus saw, and the summary's section of it."""

    alert: AlertTimeline
    dashboard: list[QueryResult]
    last_answer_s: float  # Unix time of the last result
    lines: list[str]


def observe(
    prometheus: DemoPrometheus,
    outage: tuple[float, float] | None,
    results: list[tuple[dict[str, Any], int]],
    began: float,
    endpoints: int,
) -> Monitoring:
    """Ask Prometheus, once the last answers are in, for the dashboard's queries and the
    alert over ``[began, now]`` (a few scrapes more first, so the last second is in)."""
    time.sleep(3 * SCRAPE_INTERVAL_S)
    end = time.time()
    alert = alert_timeline(prometheus, began, end)
    dashboard = dashboard_results(prometheus, began, end)
    last_answer = max((ts for _, ts in results), default=0) / 1000
    lines = [
        f"=== Prometheus (the chart's rules and dashboard, played {prometheus.scale:g} times "
        "faster) ===",
        f"Prometheus {prometheus.url} scraped {endpoints} endpoints each second (jobs: the "
        f"chart's); its data: {prometheus.folder / 'data'}",
        *alert_lines(alert, outage, answers_until=last_answer, scale=prometheus.scale),
        "",
        *dashboard_lines(dashboard),
    ]
    return Monitoring(alert, dashboard, last_answer, lines)
