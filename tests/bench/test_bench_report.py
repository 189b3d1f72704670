"""The end-to-end benchmark's report from its runs: medians and ranges over interleaved
rounds, ratios from medians, the markdown table. Synthetic runs: no Kafka, no Redis."""

from __future__ import annotations

import math

from worker.bench.e2e import (
    DESIGNS,
    NAMES,
    RunFigures,
    _report,
    markdown,
    rotated,
    summarize,
)


def _run(design: str, round_no: int, rate: float, worker_us: float = 10.0) -> RunFigures:
    return RunFigures(
        design=design,
        round=round_no,
        events=1000,
        events_per_s=rate,
        cpu_us_per_event={"worker": worker_us, "redis": 3.0, "broker": None},
        peak_rss_mb=200.0,
        latency_ms={"p50": 10.0, "p95": 20.0, "p99": 30.0 + round_no},
        other_cores=0.1 * round_no,
        loadavg=1.0,
    )


def test_each_round_runs_every_design_once_in_a_rotated_order() -> None:
    designs = ["a", "b", "c"]
    orders = [rotated(designs, r) for r in range(4)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    assert rotated([], 2) == []


def test_the_summary_is_the_median_and_the_range_over_rounds() -> None:
    runs = [_run("ours", r, rate) for r, rate in enumerate((30.0, 10.0, 20.0))]
    (ours,) = summarize(runs)
    assert ours["runs"] == 3
    assert ours["events_per_s"] == {"median": 20.0, "min": 10.0, "max": 30.0}
    assert ours["cpu_us_per_event"] == {"worker": 10.0, "redis": 3.0, "broker": None}
    assert ours["p99_ms"] == {"median": 31.0, "min": 30.0, "max": 32.0}
    assert ours["other_cores"] == {"median": 0.1, "min": 0.0, "max": 0.2}


def test_ratios_come_from_the_medians() -> None:
    runs = [
        *(_run("ours", r, rate) for r, rate in enumerate((40.0, 50.0, 60.0))),
        *(_run("passthrough", r, rate) for r, rate in enumerate((100.0, 200.0, 900.0))),
        *(_run("quix-passthrough", r, 50.0) for r in range(3)),
    ]
    report = _report(runs, [], events=1000, rounds=3)
    assert report["ratios"] == {"ours_vs_passthrough": 0.25, "ours_vs_quix_passthrough": 1.0}
    assert [r["design"] for r in report["results"]] == ["ours", "passthrough", "quix-passthrough"]
    assert len(report["runs"]) == 9


def test_the_markdown_has_a_row_per_design_and_per_fixed_rate() -> None:
    perf = RunFigures(
        design=NAMES["kafka-producer-perf"],
        round=0,
        events=1000,
        events_per_s=500_000.0,
        cpu_us_per_event={"worker": 2.0, "redis": 0.0, "broker": 1.0},
        peak_rss_mb=None,
        latency_ms={"p50": math.nan, "p95": math.nan, "p99": math.nan},
        other_cores=0.0,
        loadavg=0.5,
    )
    rate = _run("ours at 1,000/s", 0, 990.0)
    report = _report([perf, _run("ours", 0, 20.0)], [rate], events=1000, rounds=1)
    text = markdown(report)
    assert "| kafka ProducerPerformance | 1,000 | 500,000 (500,000\N{EN DASH}500,000) |" in text
    assert "| 2.0 · 0.0 · 1.0 | - |" in text  # a JVM's peak RSS is not measured
    assert "| ours at 1,000/s | 1 |" in text
    assert "10.0 · 3.0 · -" in text  # an unknown broker reads "-"


def test_every_design_has_a_runner_or_a_perf_tool() -> None:
    from worker.bench.e2e import JAVA
    from worker.bench.runners import RUNNERS

    assert set(DESIGNS) == set(RUNNERS) | JAVA
