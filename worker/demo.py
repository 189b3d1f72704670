"""``make demo`` / ``fraud-worker demo``: the main job, end to end, on the local stack.

A simulated stream and its chargebacks go into the input and labels topics; two workers share
the stream as one consumer group, the labels consumer counts the chargebacks into terminal
risk, and the re-scorer waits for degraded answers. Midway Redis is stopped for a few seconds
by real means and brought back. The summary shows the ladder absorbing the outage (cache and
primary → fallback → back again) with nothing lost, and the loop: chargebacks raising the risk
of compromised terminals, the live quality of each level, the review stream during and after
the outage, and the degraded answers re-scored once the primary was back.

A real Prometheus scrapes every process of the demo (``worker.monitoring``) and plays the
chart's alert rules 30 times faster: the summary says whether each query of the chart's
dashboard returned data and when the degraded-share alert went pending, fired and resolved;
a PNG timeline is written beside the text summary (``<stack dir>/demo/``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import httpx2
import numpy as np
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from tqdm import tqdm

from worker.checks import probe_broker
from worker.codec import EventDecoder, RecordEncoder, default_schemas_dir, frame, load_schema
from worker.codec.configured import schema_registry
from worker.demo_loop import (
    RiskWatch,
    degraded_kept_apart,
    fraud_ids,
    review_stream,
    risk_table,
)
from worker.demo_triage import DemoTriage, analyst_decides, queue_summary, start_demo_triage
from worker.errors import ConfigError, StackError
from worker.kafka.config import client_config, reader_config
from worker.kafka.topics import caught_up, end_offsets, ensure_topics
from worker.monitoring import server as prom
from worker.monitoring.observe import Monitoring, observe
from worker.monitoring.server import DemoPrometheus, Target
from worker.monitoring.timeline_png import write_timeline
from worker.quality.figures import evaluate_columns
from worker.quality.results import DECISION_NAMES, SOURCE_NAMES, Results
from worker.runtime import feature_store, redis_client
from worker.settings import Settings
from worker.simulator import SimulationConfig, Transactions, simulate
from worker.simulator.labels import ChargebackConfig, LabelFeed, chargebacks
from worker.simulator.stream import stream_with_labels
from worker.stack import Stack

GARBAGE = [b"not avro", frame(2, b"\x04\xff\xfe"), b"\x00\x00\x00\x03\xe7payload"]


@dataclass
class DemoRun:
    settings: Settings
    events: int
    rate: float
    outage_s: float
    sent_at: dict[str, float] = field(default_factory=dict)
    outage: tuple[float, float] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    side: list[subprocess.Popen[bytes]] = field(default_factory=list)
    metrics_ports: list[int] = field(default_factory=list)
    # The labels consumer's, the re-scorer's and the live-quality follower's /metrics.
    side_ports: dict[str, int] = field(default_factory=dict)
    chargebacks: int = 0
    outage_at_s: float = 0.0  # seconds into the stream when Redis is stopped


# The demo's breakers try Redis again after 1 to 2 s (5 to 60 s by default), so that the way back
# up shows within its few seconds; a variable set by the user wins.
DEMO_BREAKER_ENV = {"FRAUD_BREAKER__OPEN_WAIT_S": "1", "FRAUD_BREAKER__MAX_OPEN_WAIT_S": "2"}
# Every primary answer is shadowed by the fallback and the rules: the summary then measures
# every level on the same events.
DEMO_WORKER_ENV = {**DEMO_BREAKER_ENV, "FRAUD_WORKER__SHADOW_SAMPLE_RATE": "1"}
# The side processes' endpoints, scraped by the demo's Prometheus: command → port setting.
SIDE_PORT_ENV = {"labels": "FRAUD_LABELS__METRICS_PORT", "rescore": "FRAUD_RESCORE__METRICS_PORT"}
# `evaluate --follow` as the chart's quality component runs it, recomputing each second (5 s
# by default) so that the live-quality panels fill within the demo's minute. It reads the
# topics from their beginning (a long-used stack holds millions of records): niced, so that
# on a small machine it does not take the CPU the workers need to keep up with the stream.
QUALITY_ARGS = ["evaluate", "--follow", "--refresh-s", "1", "--metrics-port"]
QUALITY_NICE = ("nice", "-n", "10")
# Seconds of stream after Redis is back: the scaled rate window (4 s), the alert's resolution
# and a margin, so that the alert resolves while the primary answers, not for want of answers.
AFTER_OUTAGE_MIN_S = 15.0
# About 76,000 events over 40 simulated days: long enough for chargebacks (7 days late) to
# reach terminal risk, short enough to stream in under a minute.
DEMO_SIMULATION = SimulationConfig(n_customers=1000, n_terminals=2000, n_days=40)


METRICS_PORT_ENV = "FRAUD_WORKER__METRICS_PORT"


def free_port() -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def metrics_ports(environ: Mapping[str, str], workers: int = 2) -> list[int]:
    """The two workers' endpoint ports: the user's FRAUD_WORKER__METRICS_PORT and the next
    ones when it is set (0 keeps the endpoints off), else free ports picked here."""
    given = environ.get(METRICS_PORT_ENV)
    if given is None:
        return [free_port() for _ in range(workers)]
    base = int(given)
    return [base + index if base else 0 for index in range(workers)]


def _start(
    args: list[str], env: dict[str, str], log_path: Path, prefix: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    command = [*prefix, sys.executable, "-m", "worker", *args]
    with log_path.open("wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def start_workers(run: DemoRun, log_dir: Path) -> None:
    """Two workers, the labels consumer, the re-scorer and the live-quality follower, each
    logging to ``log_dir``, each with its /metrics on the port picked for it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for index, port in enumerate(run.metrics_ports):
        env = {**DEMO_WORKER_ENV, **os.environ, METRICS_PORT_ENV: str(port)}
        run.workers.append(_start(["run"], env, log_dir / f"worker-{index}.log"))
    for command, variable in SIDE_PORT_ENV.items():
        env = {**DEMO_BREAKER_ENV, **os.environ, variable: str(run.side_ports[command])}
        run.side.append(_start([command], env, log_dir / f"{command}.log"))
    quality = [*QUALITY_ARGS, str(run.side_ports["quality"])]
    run.side.append(_start(quality, dict(os.environ), log_dir / "quality.log", QUALITY_NICE))


def scrape_targets(run: DemoRun, settings: Settings) -> list[Target]:
    """Every demo process with an endpoint, under the chart's job names."""
    host = "127.0.0.1"
    targets = [Target(prom.WORKER_JOB, f"{host}:{port}") for port in run.metrics_ports if port]
    jobs = {"labels": prom.LABELS_JOB, "rescore": prom.RESCORE_JOB, "quality": prom.QUALITY_JOB}
    targets += [Target(jobs[name], f"{host}:{port}") for name, port in run.side_ports.items()]
    targets.append(Target(prom.TRIAGE_JOB, f"{settings.triage.host}:{settings.triage.port}"))
    return targets


def wait_ready(run: DemoRun, timeout_s: float = 90) -> None:
    """Wait until every worker's /readyz says ready (models loaded, partitions owned), so
    that the stream does not pile up behind workers still starting; with the endpoints off,
    a few seconds."""
    ports = [port for port in run.metrics_ports if port]
    if not ports:
        time.sleep(5)
        return
    deadline = time.monotonic() + timeout_s
    waiting = set(ports)
    while waiting and time.monotonic() < deadline:
        for port in sorted(waiting):
            try:
                with urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        waiting.discard(port)
            except OSError:  # not listening yet, or 503 (not ready)
                pass
        time.sleep(0.2)


def produce_stream(
    run: DemoRun, transactions: Transactions, feed: LabelFeed, watch: RiskWatch
) -> None:
    """Produce at the demo's rate, chargebacks in simulated time among the events; remember
    when each event left (end-to-end latency) and look at terminal risk as the days pass.
    Midway a few undecodable events and one label without a transaction id go out too: the
    workers' and the labels consumer's dead-letter paths (and their panels) at work."""
    registry = schema_registry(run.settings)
    input_v2 = registry.version_id(run.settings.schemas.input_subject, 2)
    encoder = RecordEncoder.for_schema_id(registry, input_v2)
    label_encoder = RecordEncoder(registry, run.settings.schemas.labels_subject)
    producer = Producer(client_config(run.settings, **{"linger.ms": 5}))
    topics = run.settings.topics
    sent = 0
    poison: dict[str, Any] | None = None
    for events, labels in stream_with_labels(transactions, feed, run.rate, 50, stop=run.events):
        for label in labels:
            producer.produce(topics.labels, label_encoder.encode(label), label["card_id"].encode())
            poison = poison or {**label, "transaction_id": ""}
        run.chargebacks += len(labels)
        for event in events:
            run.sent_at[event["transaction_id"]] = time.time()
            producer.produce(topics.input, encoder.encode(event), event["card_id"].encode())
        producer.poll(0)
        if sent < run.events // 2 <= sent + len(events):
            for value in GARBAGE:
                producer.produce(topics.input, value, b"garbage")
            if poison is not None:
                producer.produce(topics.labels, label_encoder.encode(poison), b"garbage")
        sent += len(events)
        watch.at(int(transactions.day[sent - 1]), run.chargebacks)
    producer.flush(30)


def redis_outage(run: DemoRun, stack: Stack, begin_after_s: float) -> None:
    """Stop the stack's Redis for ``outage_s`` seconds, then start it again."""
    time.sleep(begin_after_s)
    began = time.time()
    stack.redis.stop()
    time.sleep(run.outage_s)
    stack.redis.start()
    stack.redis.wait_ready(30)
    run.outage = (began, time.time())


def collect_results(
    run: DemoRun, start: list[TopicPartition], expected: set[str], timeout_s: float
) -> list[tuple[dict[str, Any], int]]:
    """Results of this run's events from the scored topic, with their timestamps (ms)."""
    decoder = EventDecoder(
        schema_registry(run.settings), load_schema(default_schemas_dir() / "scored_result.v1.avsc")
    )
    consumer = Consumer(reader_config(run.settings, "demo"))
    consumer.assign(start)
    results: list[tuple[dict[str, Any], int]] = []
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    with tqdm(total=len(expected), desc="scored", unit="ev") as bar:
        while seen < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                if message.error() is None:
                    record = decoder.decode(message.value())
                    if record["transaction_id"] in expected:
                        results.append((record, message.timestamp()[1]))
                        if record["transaction_id"] not in seen:
                            seen.add(record["transaction_id"])
                            bar.update(1)
    consumer.close()
    return results


def count_new(settings: Settings, before: list[TopicPartition]) -> int:
    after = end_offsets(settings, before[0].topic)
    return sum(a.offset - b.offset for a, b in zip(after, before, strict=True))


def stop_workers(run: DemoRun) -> list[int]:
    """SIGTERM to every process the demo started; their exit codes, workers first."""
    processes = [*run.workers, *run.side]
    for proc in processes:
        proc.send_signal(signal.SIGTERM)
    return [proc.wait(60) for proc in processes]


def read_new(
    settings: Settings, start: list[TopicPartition], reader: str, timeout_s: float = 30
) -> list[dict[str, Any]]:
    """Every record of a topic from ``start`` up to its end now, decoded with ``reader``."""
    decoder = EventDecoder(schema_registry(settings), load_schema(default_schemas_dir() / reader))
    end = {tp.partition: tp.offset for tp in end_offsets(settings, start[0].topic)}
    left = {tp.partition: end[tp.partition] - tp.offset for tp in start}
    consumer = Consumer(reader_config(settings, "demo"))
    consumer.assign(start)
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while sum(left.values()) > 0 and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                partition = int(message.partition() or 0)
                if message.error() is None and left.get(partition, 0) > 0:
                    left[partition] -= 1
                    records.append(decoder.decode(message.value()))
    finally:
        consumer.close()
    return records


def wait_caught_up(settings: Settings, timeout_s: float = 60) -> None:
    """Wait for the re-scorer and the labels consumer to finish what the stream gave them."""
    pairs = [
        (settings.rescore.group_id, settings.topics.degraded),
        (settings.labels.group_id, settings.topics.labels),
    ]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(caught_up(settings, group, topic) for group, topic in pairs):
            return
        time.sleep(1)


@dataclass
class Outputs:
    """What this run produced besides the scored results."""

    review: list[dict[str, Any]]
    degraded: list[dict[str, Any]]
    shadow: list[dict[str, Any]]
    dead_letters: int


def collect_outputs(settings: Settings, starts: dict[str, list[TopicPartition]]) -> Outputs:
    topics = settings.topics
    return Outputs(
        review=read_new(settings, starts[topics.review], "review_item.v2.avsc"),
        degraded=read_new(settings, starts[topics.degraded], "review_item.v2.avsc"),
        shadow=read_new(settings, starts[topics.shadow], "scored_result.v1.avsc", 60),
        dead_letters=count_new(settings, starts[topics.dead_letter]),
    )


def run_demo(
    settings: Settings,
    events: int,
    rate: float,
    outage_s: float,
    announce: Callable[[str], None] = print,
    prometheus_port: int = 0,
) -> str:
    """Run the demo; its summary is returned, and written with the PNG timeline to
    ``<stack dir>/demo/`` (summary.txt, timeline.png). ``prometheus_port`` 0: a free one."""
    return demo(settings, events, rate, outage_s, announce, prometheus_port).text


def demo(
    settings: Settings,
    events: int,
    rate: float,
    outage_s: float,
    announce: Callable[[str], None] = print,
    prometheus_port: int = 0,
) -> DemoReport:
    """``run_demo`` with what it found, for tests to check."""
    probe_broker(settings)
    ensure_topics(AdminClient(client_config(settings)), settings.topics.all_topics())
    triage = start_demo_triage(settings)
    announce(triage.describe())
    seed = int(time.time()) % 100_000  # fresh transaction ids every run
    transactions = simulate(replace(DEMO_SIMULATION, seed=seed))
    feed = chargebacks(transactions, seed, ChargebackConfig())
    run = plan_run(settings, min(events, len(transactions)), rate, outage_s)
    prometheus = start_prometheus(run, prometheus_port, announce)
    began = time.time()
    frauds = fraud_ids(transactions, run.events)
    try:
        streamed = stream_through(run, Stack(settings), transactions, feed)
        decided = triage_at_work(run, triage, streamed.outputs, frauds)
        queue = queue_summary(settings, triage)  # the app has caught up with the topics
        endpoints = len(scrape_targets(run, settings))
        monitoring = observe(prometheus, run.outage, streamed.results, began, endpoints)
        streamed.codes = stop_workers(run)
    finally:
        _terminate_left(run)
        prometheus.stop()
    text = "\n".join(
        [
            summarize(
                run,
                streamed.results,
                streamed.expected,
                streamed.codes,
                len(streamed.outputs.review),
                streamed.outputs.dead_letters,
            ),
            "",
            *loop_summary(run, streamed.results, streamed.outputs, frauds, streamed.watch),
            "",
            decided,
            queue,
            "",
            *monitoring.lines,
        ]
    )
    return write_outputs(settings.stack.dir / "demo", text, run, streamed, monitoring)


def plan_run(settings: Settings, events: int, rate: float, outage_s: float) -> DemoRun:
    """The run's figures, when the outage begins, and every process's metrics port."""
    run = DemoRun(settings, events, rate, outage_s)
    run.outage_at_s = outage_start_s(events / rate, outage_s)
    run.metrics_ports = metrics_ports(os.environ)
    run.side_ports = {name: free_port() for name in ("labels", "rescore", "quality")}
    return run


def start_prometheus(run: DemoRun, port: int, announce: Callable[[str], None]) -> DemoPrometheus:
    """The demo's Prometheus, in the stack's folder, scraping every process of the run."""
    prometheus = DemoPrometheus(
        run.settings.stack.dir.resolve() / "prometheus", port or free_port()
    )
    prometheus.start(scrape_targets(run, run.settings))
    announce(
        f"Prometheus scrapes the demo: open {prometheus.url}/alerts or {prometheus.url}/graph "
        f"while it runs (the chart's alerts, {prometheus.scale:g} times faster; its folder: "
        f"{prometheus.folder})"
    )
    return prometheus


def outage_start_s(stream_s: float, outage_s: float, before_s: float = 10.0) -> float:
    """When Redis is stopped: ``before_s`` into the stream (a baseline for the plot and the
    rates), earlier when the stream is short, so that at least ``AFTER_OUTAGE_MIN_S`` of it
    follow the outage: the alert must resolve while the primary answers again."""
    if outage_s <= 0:
        return 0.0
    spare = stream_s - outage_s - AFTER_OUTAGE_MIN_S
    if spare < 0:
        raise ConfigError(
            f"--events/--rate stream for {stream_s:.0f} s: an outage of {outage_s:g} s needs "
            f"at least {outage_s + AFTER_OUTAGE_MIN_S:.0f} s (more --events, a lower --rate "
            "or a shorter --outage-s)"
        )
    return min(before_s, spare)


@dataclass
class Streamed:
    """What the stream gave: results, outputs, the risk watch; exit codes once stopped."""

    results: list[tuple[dict[str, Any], int]]
    expected: set[str]
    outputs: Outputs
    watch: RiskWatch
    codes: list[int] = field(default_factory=list)


def stream_through(
    run: DemoRun, stack: Stack, transactions: Transactions, feed: LabelFeed
) -> Streamed:
    """Start the demo's processes, stream, fail Redis meanwhile, collect what came out."""
    settings = run.settings
    topics = settings.topics
    watched = (topics.scored, topics.review, topics.dead_letter, topics.degraded, topics.shadow)
    starts = {t: end_offsets(settings, t) for t in watched}
    watch = RiskWatch(transactions, feature_store(settings, redis_client(settings, 2.0)))
    start_workers(run, settings.stack.dir / "demo")
    wait_ready(run)  # both members loaded their models and own partitions
    producer = threading.Thread(target=produce_stream, args=(run, transactions, feed, watch))
    producer.start()
    outage = None
    if not settings.redis.url and run.outage_s > 0:
        outage = threading.Thread(target=redis_outage, args=(run, stack, run.outage_at_s))
        outage.start()
    expected = set(transactions.transaction_id[: run.events].tolist())
    results = collect_results(run, starts[topics.scored], expected, run.events / run.rate + 120)
    producer.join()
    if outage:
        outage.join()
    wait_caught_up(settings)
    return Streamed(results, expected, collect_outputs(settings, starts), watch)


def triage_at_work(run: DemoRun, triage: DemoTriage, outputs: Outputs, frauds: set[str]) -> str:
    """After the stream: one review item without a transaction id (the app dead-letters it:
    its poison path at work, as the workers' and the labels consumer's were), and the demo
    analyst's decision through the app's pages."""
    settings = run.settings
    if outputs.review:
        item = outputs.review[0]
        poison = {**item, "result": {**item["result"], "transaction_id": ""}}
        encoder = RecordEncoder(schema_registry(settings), settings.schemas.review_subject)
        producer = Producer(client_config(settings))
        producer.produce(settings.topics.review, encoder.encode(poison), b"garbage")
        producer.flush(30)
    try:
        return analyst_decides(settings, triage, frauds)
    except (StackError, httpx2.HTTPError) as exc:  # the summary says so; the run stands
        return f"the demo analyst could not decide an item in the app: {exc}"


def _terminate_left(run: DemoRun) -> None:
    """After a failure midway: no demo process is left running."""
    for proc in [*run.workers, *run.side]:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@dataclass(frozen=True)
class DemoReport:
    """The summary, where it and the timeline were written, and what Prometheus saw."""

    text: str
    run: DemoRun
    monitoring: Monitoring
    summary_path: Path
    timeline_path: Path


def write_outputs(
    folder: Path, text: str, run: DemoRun, streamed: Streamed, monitoring: Monitoring
) -> DemoReport:
    """summary.txt and timeline.png in ``folder``; the summary then names them."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = folder / "summary.txt"
    summary.write_text(text + "\n")
    t0 = min((ts for _, ts in streamed.results), default=0) / 1000
    png = write_timeline(
        folder / "timeline.png", streamed.results, t0, run.outage, monitoring.alert
    )
    text += f"\n\nsummary written to {summary}\ntimeline (PNG) written to {png}"
    return DemoReport(text, run, monitoring, summary, png)


def loop_summary(
    run: DemoRun,
    results: list[tuple[dict[str, Any], int]],
    outputs: Outputs,
    frauds: set[str],
    watch: RiskWatch,
) -> list[str]:
    """The feedback loop's part of the summary."""
    return [
        "=== the feedback loop ===",
        f"chargebacks sent to {run.settings.topics.labels}: {run.chargebacks} "
        "(90 % of frauds, 7 simulated days after them)",
        *risk_table(watch.snapshots),
        "",
        *live_quality([r for r, _ in results], outputs.shadow, frauds),
        "",
        *review_stream(outputs.review, frauds, run.sent_at, run.outage),
        degraded_kept_apart(outputs.degraded, frauds),
    ]


def live_quality(
    scored: list[dict[str, Any]], shadow: list[dict[str, Any]], frauds: set[str]
) -> list[str]:
    """Each level's quality on this run's events, against the simulation's truth (what
    ``fraud-worker evaluate`` measures; the shadow rows score the primary's events)."""
    report = evaluate_columns(
        Results.from_columns(_columns(scored)),
        Results.from_columns(_columns(shadow)),
        np.array(sorted(frauds), dtype=object).astype(np.bytes_),
        daily=False,
    )
    lines = [
        "live quality per level on this run's events (truth: the simulation's labels):",
        f"  {'level':<20} {'events':>8} {'frauds':>7} {'AP':>6} {'card P@100':>11} "
        f"{'(handbook)':>11}",
    ]
    for name, figures in report["levels"].items():
        lines.append(
            f"  {name:<20} {figures['events']:>8} {figures['frauds']:>7} "
            f"{_figure(figures, 'average_precision'):>6} "
            f"{_figure(figures, 'card_precision_at_100'):>11} "
            f"{_figure(figures, 'card_precision_at_100_handbook'):>11}"
        )
    lines.append(
        "  (a short run: a few days per level; `fraud-worker evaluate` measures a stream of "
        "any length)"
    )
    return lines


def _figure(figures: dict[str, Any], name: str) -> str:
    value = figures.get(name)
    return "-" if value is None else f"{value:.3f}"


def _columns(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Decoded result records as the columns ``Results`` takes (codes for the enums)."""
    names = ("transaction_id", "card_id", "event_time_ms", "score")
    columns: dict[str, list[Any]] = {name: [r[name] for r in records] for name in names}
    columns["decision"] = [DECISION_NAMES.index(r["decision"]) for r in records]
    columns["source"] = [SOURCE_NAMES.index(r["source"]) for r in records]
    return columns


def summarize(
    run: DemoRun,
    results: list[tuple[dict[str, Any], int]],
    expected: set[str],
    exit_codes: list[int],
    review: int,
    dead: int,
) -> str:
    ids = Counter(r["transaction_id"] for r, _ in results)
    repeated = sum(v - 1 for v in ids.values())
    by = Counter((r["source"], r["decision"]) for r, _ in results)
    e2e = np.array([ts / 1000 - run.sent_at[r["transaction_id"]] for r, ts in results]) * 1000
    scoring = np.array([r["scoring_latency_ms"] for r, _ in results])
    lines = [
        "",
        "=== demo summary ===",
        f"events in: {run.events} valid + {len(GARBAGE)} undecodable (and one label without "
        f"a transaction id), at {run.rate:.0f}/s; "
        f"two workers in one group, the labels consumer, the re-scorer, the live-quality "
        f"follower (exit codes {exit_codes})",
        f"results out: {len(results)} for {len(ids)} distinct events; "
        f"missing: {len(expected - set(ids))}; repeated (redelivered): {repeated}",
        f"review topic: {review} items; dead-letter topic: {dead} records",
        "",
        f"{'source':<14}"
        + "".join(f"{d:>9}" for d in ("allow", "review", "block"))
        + f"{'total':>9}",
    ]
    for source in ("cache", "primary", "fallback", "rules", "safe_default"):
        row = [by[(source, d)] for d in ("allow", "review", "block")]
        lines.append(f"{source:<14}" + "".join(f"{n:>9}" for n in row) + f"{sum(row):>9}")
    lines += ["", timeline(run, results), ""]
    for name, values in (("end-to-end (produce → result)", e2e), ("scoring per batch", scoring)):
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        lines.append(f"{name:<32} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   p99 {p99:7.1f} ms")
    lines += [
        "",
        "where to look next:",
        "  fraud-worker review                       # the review items, with their priority",
        "  fraud-worker review --degraded            # degraded answers kept apart",
        "  fraud-worker evaluate --out eval/         # every level's live quality, from the labels",
        f"  the workers' /metrics, /healthz, /readyz were on {_ports(run)}",
        f"    (free ports; {METRICS_PORT_ENV}=N gives them N and N+1)",
        "  `fraud-worker run` serves them on 127.0.0.1:9400 (FRAUD_WORKER__METRICS_HOST/PORT)",
        "  models/report/README.md                   # how good each ladder level is",
        f"  {run.settings.stack.dir / 'demo'}/worker-*.log       # the workers' logs",
    ]
    return "\n".join(lines)


def _ports(run: DemoRun) -> str:
    if not any(run.metrics_ports):
        return "no port (the endpoint was off)"
    return "ports " + ", ".join(str(port) for port in run.metrics_ports)


def timeline(run: DemoRun, results: list[tuple[dict[str, Any], int]]) -> str:
    """Results per second by source: the outage shows as a band of fallback answers."""
    if not results:
        return "(no results)"
    t0 = min(ts for _, ts in results) / 1000
    buckets: dict[int, Counter[str]] = {}
    for record, ts in results:
        buckets.setdefault(int(ts / 1000 - t0), Counter())[record["source"]] += 1
    outage = ""
    if run.outage:
        outage = f"  (Redis down from {run.outage[0] - t0:.0f} s to {run.outage[1] - t0:.0f} s)"
    lines = [
        f"results per second by source{outage}:",
        "  second   cache primary fallback  rules default",
    ]
    for second in sorted(buckets):
        c = buckets[second]
        lines.append(
            f"  {second:>6} {c['cache']:>7} {c['primary']:>7} {c['fallback']:>8} "
            f"{c['rules']:>6} {c['safe_default']:>7}"
        )
    return "\n".join(lines)
