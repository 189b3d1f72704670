"""``make demo`` / ``fraud-worker demo``: the main job, end to end, on the local stack.

A simulated stream goes into the input topic, two workers share it as one consumer group, and
midway Redis is stopped for a few seconds by real means and brought back: the summary shows
the ladder absorbing the outage (cache and primary → fallback → back again) with nothing lost.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from tqdm import tqdm

from worker.checks import probe_broker
from worker.codec import EventDecoder, RecordEncoder, default_schemas_dir, frame, load_schema
from worker.codec.configured import schema_registry
from worker.kafka.config import client_config, reader_config
from worker.kafka.topics import ensure_topics
from worker.settings import Settings
from worker.simulator import SimulationConfig, simulate
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
    metrics_ports: list[int] = field(default_factory=list)


def end_offsets(settings: Settings, topic: str) -> list[TopicPartition]:
    consumer = Consumer(reader_config(settings, "demo"))
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return [
            TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p))[1])
            for p in parts
        ]
    finally:
        consumer.close()


# The demo's breakers try Redis again after 1 to 2 s (5 to 60 s by default), so that the way back
# up shows within its few seconds; a variable set by the user wins.
DEMO_BREAKER_ENV = {"FRAUD_BREAKER__OPEN_WAIT_S": "1", "FRAUD_BREAKER__MAX_OPEN_WAIT_S": "2"}


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


def start_workers(run: DemoRun, log_dir: Path) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    for index, port in enumerate(run.metrics_ports):
        env = {**DEMO_BREAKER_ENV, **os.environ, METRICS_PORT_ENV: str(port)}
        with (log_dir / f"worker-{index}.log").open("wb") as log:
            run.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "worker", "run"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )


def produce_stream(run: DemoRun, transactions: Any) -> None:
    """Produce at the demo's rate; remember when each event left, for end-to-end latency."""
    encoder = RecordEncoder.for_schema_id(schema_registry(run.settings), 2)
    producer = Producer(client_config(run.settings, **{"linger.ms": 5}))
    topic = run.settings.topics.input
    interval = 1.0 / run.rate
    start = time.monotonic()
    for i, event in enumerate(transactions.event_dicts(0, run.events)):
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        run.sent_at[event["transaction_id"]] = time.time()
        producer.produce(topic, encoder.encode(event), event["card_id"].encode())
        producer.poll(0)
        if i == run.events // 2:
            for value in GARBAGE:
                producer.produce(topic, value, b"garbage")
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
    for proc in run.workers:
        proc.send_signal(signal.SIGTERM)
    return [proc.wait(60) for proc in run.workers]


def run_demo(settings: Settings, events: int, rate: float, outage_s: float) -> str:
    probe_broker(settings)
    stack = Stack(settings)
    ensure_topics(AdminClient(client_config(settings)), settings.topics.all_topics())
    seed = int(time.time()) % 100_000  # fresh transaction ids every run
    transactions = simulate(
        SimulationConfig(n_customers=5000, n_terminals=10000, n_days=30, seed=seed)
    )
    run = DemoRun(settings, min(events, len(transactions)), rate, outage_s)
    run.metrics_ports = metrics_ports(os.environ)
    starts = {
        t: end_offsets(settings, t)
        for t in (settings.topics.scored, settings.topics.review, settings.topics.dead_letter)
    }
    start_workers(run, settings.stack.dir / "demo")
    time.sleep(3)  # let both members join before the stream starts
    producer = threading.Thread(target=produce_stream, args=(run, transactions))
    producer.start()
    outage = None
    if not settings.redis.url:
        outage = threading.Thread(target=redis_outage, args=(run, stack, run.events / rate * 0.4))
        outage.start()
    expected = set(transactions.transaction_id[: run.events].tolist())
    results = collect_results(
        run, starts[settings.topics.scored], expected, timeout_s=run.events / rate + 120
    )
    producer.join()
    if outage:
        outage.join()
    codes = stop_workers(run)
    return summarize(
        run,
        results,
        expected,
        codes,
        count_new(settings, starts[settings.topics.review]),
        count_new(settings, starts[settings.topics.dead_letter]),
    )


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
        f"events in: {run.events} valid + {len(GARBAGE)} undecodable, at {run.rate:.0f}/s; "
        f"two workers in one group (exit codes {exit_codes})",
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
        "  fraud-worker review --source fallback     # what the outage sent to analysts",
        "  fraud-worker review --reason decision:block",
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
