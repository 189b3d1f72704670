"""``fraud-worker bench live``: a simulated half-year through real workers, then its live
quality per level — the issue's acceptance measurement, as one command.

A fresh seed (not the training seed) is simulated; ``fraud-worker simulate`` streams every
day of it with its chargebacks (7 days late, 90 % of frauds) into topics of this run's own;
two workers (shadow scoring on every primary answer, so the fallback and the rules are
measured on the same events) and the labels consumer run as separate processes, as deployed.
Once every event is scored, ``fraud-worker evaluate`` measures the held-out days (126-181,
the training report's test days) twice: against the simulation's truth, and against the
labels the feed delivered (what production can know). Figures are printed and written;
nothing is asserted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka.admin import AdminClient

from worker.kafka.config import client_config
from worker.kafka.topics import committed_total, delete_topics, ensure_topics, topic_size
from worker.runtime import redis_client
from worker.settings import Settings
from worker.simulator import SimulationConfig
from worker.training.dataset import SplitConfig

LEVELS = ("primary", "fallback (shadow)", "rules (shadow)", "all")
FIGURES = (
    ("average_precision", "AP"),
    ("roc_auc", "ROC AUC"),
    ("card_precision_at_100", "card P@100 (ours)"),
    ("card_precision_at_100_handbook", "card P@100 (handbook)"),
    ("brier", "Brier"),
)


@dataclass(frozen=True)
class LiveRun:
    seed: int = 7
    customers: int = 5000
    terminals: int = 10000
    days: int = 183
    workers: int = 2
    keep_topics: bool = False  # and the run's Redis keys


def run_settings(base: Settings, tag: str) -> Settings:
    """The base settings with this run's own topics, groups and Redis keys."""
    data = base.model_dump()
    topics = ("input", "scored", "review", "dead_letter", "labels", "shadow", "degraded")
    data["topics"] = {**data["topics"], **{t: f"bench.live.{tag}.{t}" for t in topics}}
    data["redis"] = {**data["redis"], "key_prefix": f"bench:{tag}:"}
    data["worker"] = {
        **data["worker"],
        "group_id": f"bench-live-{tag}",
        "shadow_sample_rate": 1.0,
        "metrics_port": 0,
        "log_level": "WARNING",
    }
    data["labels"] = {**data["labels"], "group_id": f"bench-live-labels-{tag}", "metrics_port": 0}
    return Settings.model_validate(data)


def _fraud_worker(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "worker", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _wait(what: str, done: Any, timeout_s: float, every_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not finish within {timeout_s:.0f} s")
        time.sleep(every_s)


def run_live(base: Settings, run: LiveRun, out: Path) -> dict[str, Any]:
    """Stream, score, evaluate; the evaluations' figures and the run's timings."""
    tag = uuid.uuid4().hex[:8]
    settings = run_settings(base, tag)
    work = base.stack.dir / "bench-live"  # logs, settings and the truth file: not results
    work.mkdir(parents=True, exist_ok=True)
    config = work / "settings.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    env = {**os.environ, "FRAUD_CONFIG_FILE": str(config)}
    admin = AdminClient(client_config(settings))
    ensure_topics(admin, settings.topics.all_topics())
    processes = [
        *(_fraud_worker(["run"], env, work / f"worker-{i}.log") for i in range(run.workers)),
        _fraud_worker(["labels"], env, work / "labels.log"),
    ]
    timings: dict[str, float] = {}
    try:
        began = time.monotonic()
        truth = work / "truth.npz"
        simulate = [
            "simulate", "--events", str(10**9), "--seed", str(run.seed),
            "--customers", str(run.customers), "--terminals", str(run.terminals),
            "--days", str(run.days), "--truth-out", str(truth),
        ]  # fmt: skip
        produced = subprocess.run(
            [sys.executable, "-m", "worker", *simulate],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        timings["simulate_and_produce_s"] = time.monotonic() - began
        events = topic_size(settings, settings.topics.input)
        labels = topic_size(settings, settings.topics.labels)
        worker_group, labels_group = settings.worker.group_id, settings.labels.group_id
        topics = settings.topics
        _wait(
            "scoring", lambda: committed_total(settings, worker_group, topics.input) >= events, 3600
        )
        _wait(
            "the labels consumer",
            lambda: committed_total(settings, labels_group, topics.labels) >= labels,
            600,
        )
        timings["scored_all_s"] = time.monotonic() - began
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(120) for process in processes]
    reports = {
        "truth": _evaluate(env, run, out / "live-truth", ["--truth", str(truth)]),
        "labels": _evaluate(env, run, out / "live-labels", []),
    }
    timings["total_s"] = time.monotonic() - began
    if not run.keep_topics:
        delete_topics(admin, list(settings.topics.all_topics()))
        forget_keys(settings)
    return {
        "run": run.__dict__,
        "events": events,
        "chargebacks": labels,
        "simulate_output": produced.stdout.strip(),
        "exit_codes": codes,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "levels": {name: _levels(report) for name, report in reports.items()},
        "analyst_load": {name: report.get("analyst_load") for name, report in reports.items()},
    }


def forget_keys(settings: Settings) -> int:
    """Delete this run's feature-store keys (the stack's Redis persists them otherwise)."""
    client = redis_client(settings, timeout_s=30.0)
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{settings.redis.key_prefix}*", count=10_000):
        batch.append(key)
        if len(batch) == 10_000:
            deleted += int(client.unlink(*batch))
            batch = []
    if batch:
        deleted += int(client.unlink(*batch))
    return deleted


def _evaluate(env: dict[str, str], run: LiveRun, out: Path, extra: list[str]) -> dict[str, Any]:
    split = SplitConfig()
    start = SimulationConfig().start_date
    first = start + timedelta(days=split.test_start)
    last = start + timedelta(days=split.test_start + split.test_days - 1)
    args = [
        "evaluate", "--out", str(out), "--first-date", first.isoformat(),
        "--last-date", last.isoformat(), "--no-progress", *extra,
    ]  # fmt: skip
    subprocess.run([sys.executable, "-m", "worker", *args], env=env, check=True)
    report: dict[str, Any] = json.loads((out / "evaluation.json").read_text())
    return report


def _levels(report: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    levels = report.get("levels", {})
    return {
        name: {key: levels[name].get(key) for key, _ in FIGURES}
        | {"events": levels[name]["events"]}
        for name in LEVELS
        if name in levels
    }


def markdown(report: dict[str, Any]) -> str:
    run = report["run"]
    lines = [
        f"Seed {run['seed']} (training used 42), {run['customers']:,} customers, "
        f"{run['terminals']:,} terminals, {run['days']} days: {report['events']:,} events and "
        f"{report['chargebacks']:,} chargebacks streamed through {run['workers']} workers and "
        f"the labels consumer; measured on days 126-181.",
        "",
    ]
    for against, title in (
        ("truth", "against the simulation's truth"),
        ("labels", "against the labels the feed delivered (unreported frauds count as legitimate)"),
    ):
        lines += [
            f"**{title}**",
            "",
            "| level | events | " + " | ".join(n for _, n in FIGURES) + " |",
        ]
        lines.append("|---" * (len(FIGURES) + 2) + "|")
        for name, figures in report["levels"][against].items():
            cells = [_cell(figures.get(key)) for key, _ in FIGURES]
            lines.append(f"| {name} | {figures['events']:,} | " + " | ".join(cells) + " |")
        lines.append("")
    times = report["timings_s"]
    lines.append(
        f"Simulate and produce {times['simulate_and_produce_s']:.0f} s; every event scored "
        f"after {times['scored_all_s']:.0f} s; {times['total_s']:.0f} s with both evaluations."
    )
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "live.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (out / "live.md").write_text(markdown(report) + "\n")
