"""The peers of ``bench e2e`` against the real broker and Redis (figures printed by the
benchmark, never asserted): the Quix Streams designs run from their own venv, read every
event and answer each one; Kafka's perf tools (by Maven) report the broker's ceiling."""

from __future__ import annotations

from pathlib import Path

from worker.bench.e2e import CONSUMER_PERF, JAVA, NAMES, PRODUCER_PERF, QUIX, run_bench
from worker.settings import Settings


def test_the_quix_peers_answer_every_event_beside_ours(
    live_stack: Settings, tmp_path: Path
) -> None:
    designs = ["passthrough", "quix-passthrough", "ours", "per-message", "quix-per-message"]
    report = run_bench(
        live_stack,
        events=2000,
        per_message_events=300,
        out=tmp_path,
        rate_mode=False,
        designs=designs,
        rounds=1,
        latency_repeats=1,
    )
    assert [r["design"] for r in report["results"]] == designs
    quix_runs = [run for run in report["runs"] if run["design"] in QUIX]
    assert len(quix_runs) == 2
    for run in quix_runs:
        assert run["details"]["outputs"] == run["events"] > 0, run["design"]
        assert run["cpu_us_per_event"]["worker"] > 0
    assert {"ours_vs_quix_passthrough", "ours_vs_quix_per_message"} <= set(report["ratios"])


def test_kafkas_perf_tools_report_the_brokers_ceiling(live_stack: Settings, tmp_path: Path) -> None:
    designs = [PRODUCER_PERF, CONSUMER_PERF, "passthrough"]
    report = run_bench(
        live_stack,
        events=2000,
        per_message_events=200,
        out=tmp_path,
        rate_mode=False,
        designs=designs,
        rounds=1,
        perf_events=3000,  # more than the input: ConsumerPerformance reads a perf topic
    )
    assert [r["design"] for r in report["results"]] == [NAMES.get(d, d) for d in designs]
    for run in report["runs"]:
        assert run["events"] > 0 and run["events_per_s"] > 0, run["design"]
        if run["design"] in {NAMES[d] for d in JAVA}:
            assert run["cpu_us_per_event"]["broker"] >= 0
    assert set(report["ratios"]) == {"passthrough_vs_kafka_consumer"}
