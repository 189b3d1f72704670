"""The demo with the real Prometheus (Debian's) scraping its real workers, labels consumer,
re-scorer, live-quality follower and triage app while the real Redis of this folder's own
stack is stopped: the scaled degraded-share alert fires during the outage and resolves after
it while answers still come, every query of the chart's dashboard returns data, and the
summary and its PNG timeline are written. One shortened demo serves every check."""

from __future__ import annotations

import pytest

from worker.demo import DemoReport, demo
from worker.monitoring.queries import fired_in_outage_resolved_after
from worker.settings import Settings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# 37.5 s of stream: 4.5 s, an 18 s outage (the alert fires about 12 s in), 15 s after it.
EVENTS, RATE, OUTAGE_S = 30_000, 800.0, 18.0

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def report(prom_stack: Settings) -> DemoReport:
    return demo(prom_stack, EVENTS, RATE, OUTAGE_S, announce=lambda _line: None)


def test_the_alert_fires_during_the_outage_and_resolves_after_it(report: DemoReport) -> None:
    seen, outage = report.monitoring, report.run.outage
    assert outage is not None, "Redis was not stopped"
    assert fired_in_outage_resolved_after(seen.alert, outage, seen.last_answer_s), "\n".join(
        seen.lines
    )
    assert seen.alert.pending_at is not None
    assert outage[0] <= seen.alert.pending_at < seen.alert.firing_at  # type: ignore[operator]


def test_every_dashboard_query_returns_data(report: DemoReport) -> None:
    empty = [f"{r.panel}: {r.expr}" for r in report.monitoring.dashboard if not r.has_data]
    assert len(report.monitoring.dashboard) > 30
    assert not empty, "\n".join(empty)


def test_the_summary_and_its_png_timeline_are_written(report: DemoReport) -> None:
    assert report.timeline_path.read_bytes()[:8] == PNG_MAGIC
    assert report.timeline_path.parent == report.summary_path.parent
    summary = report.summary_path.read_text()
    assert "=== Prometheus" in summary
    assert "fired during the outage and resolved after it" in summary
    assert str(report.timeline_path) in report.text


def test_nothing_was_lost_and_every_process_exited_cleanly(report: DemoReport) -> None:
    assert "missing: 0;" in report.text
    assert "exit codes [0, 0, 0, 0, 0]" in report.text
