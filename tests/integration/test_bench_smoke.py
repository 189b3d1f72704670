"""The benchmarks keep working: a tiny end-to-end run and the scoring-core run complete and
report every figure. Timings are printed by the benchmark, never asserted here."""

from __future__ import annotations

import json
from pathlib import Path

from worker.bench.core import main as core_main
from worker.bench.e2e import run_bench
from worker.settings import Settings

MODELS = Path(__file__).resolve().parents[2] / "models"
RULES = Path(__file__).resolve().parents[2] / "rules" / "rules.yaml"


def test_the_end_to_end_benchmark_completes_and_reports(
    live_stack: Settings, tmp_path: Path
) -> None:
    report = run_bench(live_stack, events=2000, per_message_events=200, out=tmp_path)
    designs = [r["design"] for r in report["results"]]
    assert designs[:4] == ["passthrough", "per-message", "ours", "ours-exactly-once"]
    assert designs[4].startswith("ours at ")
    for result in report["results"]:
        assert result["events"] > 0
        assert set(result["latency_ms"]) == {"p50", "p95", "p99"}
        assert result["peak_rss_mb"] > 0 and result["cpu_s_per_1k"] >= 0
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
