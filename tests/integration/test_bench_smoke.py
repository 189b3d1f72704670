"""The benchmarks keep working: a tiny end-to-end run (every design of ours, one round) and
the scoring-core run complete and report every figure. Timings are printed by the benchmark,
never asserted here.

The peers — Quix Streams in a venv of their own (``<stack dir>/bench-venv``, minutes to build
from PyPI) and Kafka's perf tools (by Maven into ``<stack dir>/bench-tools``, three JVM starts
a run) — are ``make bench-test``'s (``tests/peers/``).
"""

from __future__ import annotations

import json
from pathlib import Path

from worker.bench.core import main as core_main
from worker.bench.e2e import DESIGNS, JAVA, NAMES, QUIX, run_bench
from worker.settings import Settings

MODELS = Path(__file__).resolve().parents[2] / "models"
RULES = Path(__file__).resolve().parents[2] / "rules" / "rules.yaml"
DESIGNS_HERE = [d for d in DESIGNS if d not in QUIX | JAVA]


def test_the_end_to_end_benchmark_completes_and_reports(
    live_stack: Settings, tmp_path: Path
) -> None:
    report = run_bench(
        live_stack,
        events=2000,
        per_message_events=200,
        out=tmp_path,
        designs=DESIGNS_HERE,
        rounds=1,
        latency_repeats=1,
    )
    designs = [r["design"] for r in report["results"]]
    assert designs == [NAMES.get(d, d) for d in DESIGNS_HERE]
    assert [r["design"] for r in report["latency"]][1] == "ours at 1,000/s"
    assert report["latency"][0]["design"].startswith("ours at ")
    for result in [*report["results"], *report["latency"]]:
        assert result["runs"] == 1 and result["events"] > 0
        rate = result["events_per_s"]
        assert rate["min"] <= rate["median"] <= rate["max"]
        # The CPU split: every process's figure exists (the stack started Redis and the
        # broker, so their pids are known) and none is negative.
        for column in ("worker", "redis", "broker"):
            assert result["cpu_us_per_event"][column] >= 0
        assert set(result["latency_ms"]) == {"p50", "p95", "p99"}
        assert result["other_cores"]["median"] >= 0 and result["loadavg"]["median"] >= 0
    for run in report["runs"]:
        if "outputs" in run["details"]:  # every design answered every event it read
            assert run["details"]["outputs"] == run["events"], run["design"]
    rss = {r["design"]: r["peak_rss_mb"] for r in report["results"]}
    assert rss["ours"] > 0 and rss["passthrough"] > 0
    assert set(report["ratios"]) == {
        "ours_vs_passthrough",
        "ours_vs_per_message",
        "exactly_once_vs_ours",
    }
    assert report["machine"]["cores"] >= 1
    for name in ("e2e.json", "e2e.md", "e2e.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "e2e.json").read_text())["events"] == 2000


def test_the_scoring_core_benchmark_completes_and_reports(
    live_stack: Settings, tmp_path: Path
) -> None:
    text = core_main(tmp_path, MODELS, RULES, live_stack.redis_url)
    report = json.loads((tmp_path / "core.json").read_text())
    assert set(report["median_ms_per_batch"]) == {"1", "64", "512", "4096"}
    stages = set(report["median_ms_per_batch"]["512"])
    assert {
        "primary_onnx_cpu",
        "fallback_lightgbm_1thread",
        "rules",
        "feature_store_read",
    } <= stages
    assert "ladder_total_cpu" in text
