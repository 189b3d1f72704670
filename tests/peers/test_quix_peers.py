"""The Quix Streams peers of ``bench e2e`` run from their own venv against the real broker
and Redis, read every event and answer each one (figures printed by the benchmark, never
asserted)."""

from __future__ import annotations

from pathlib import Path

from worker.bench.e2e import QUIX, run_bench
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
