"""``fraud-worker bench e2e``: end-to-end throughput, CPU, memory and latency of three designs
over the same prefilled input on the same broker, one after another (ratios, not absolute
times: our machines are shared and noisy), then our worker again at a fixed rate.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from worker.bench.core import machine_info
from worker.codec import EventDecoder, RecordEncoder, default_schemas_dir, load_schema
from worker.codec.avro import TRANSACTION_READER_SCHEMA
from worker.codec.configured import schema_registry
from worker.kafka.config import client_config, reader_config
from worker.kafka.topics import delete_topics, ensure_topics
from worker.settings import Settings
from worker.simulator import SimulationConfig, simulate

PARTITIONS = 6
DESIGNS = ("passthrough", "per-message", "ours", "ours-exactly-once")


@dataclass(frozen=True)
class DesignResult:
    design: str
    events: int
    events_per_s: float
    cpu_s_per_1k: float
    peak_rss_mb: float
    latency_ms: dict[str, float]


def simulated(events: int, seed: int) -> list[dict[str, Any]]:
    days = math.ceil(events / 9000) + 2
    transactions = simulate(
        SimulationConfig(n_customers=5000, n_terminals=10000, n_days=days, seed=seed)
    )
    return transactions.event_dicts(0, min(events, len(transactions)))


def produce_events(
    settings: Settings, topic: str, events: list[dict[str, Any]], rate: float | None = None
) -> dict[str, int]:
    """Produce events (at ``rate``/s if given); returns each one's produce timestamp (ms).

    Values are encoded before the clock starts and each message carries the timestamp we
    give it, with no delivery callback, so the generator spends as little CPU as it can on
    the cores it shares with the designs it feeds.
    """
    registry = schema_registry(settings)
    input_v2 = registry.version_id(settings.schemas.input_subject, 2)
    encoder = RecordEncoder.for_schema_id(registry, input_v2)
    messages = [
        (event["transaction_id"], event["card_id"].encode(), encoder.encode(event))
        for event in events
    ]
    producer = Producer(client_config(settings, **{"linger.ms": 5, "compression.type": "lz4"}))
    sent: dict[str, int] = {}
    start = time.monotonic()
    done = 0
    while done < len(messages):
        due = (
            len(messages)
            if not rate
            else min(len(messages), int((time.monotonic() - start) * rate) + 1)
        )
        now_ms = int(time.time() * 1000)
        for tx, key, value in messages[done:due]:
            while True:
                try:
                    producer.produce(topic, value, key, timestamp=now_ms)
                    break
                except BufferError:
                    producer.poll(0.05)
            sent[tx] = now_ms
        done = due
        producer.poll(0)
        if rate and done < len(messages):
            # Bursts at most every millisecond: a wake-up per event would cost the shared
            # cores more than the events themselves.
            time.sleep(max(0.001, start + done / rate - time.monotonic()))
    if producer.flush(60):
        raise RuntimeError("the load generator could not deliver every event")
    return sent


def output_times(settings: Settings, topic: str, design: str, expected: int) -> dict[str, int]:
    """Per transaction id, the timestamp (ms) of its first output record."""
    reader = "scored_result.v1.avsc" if design != "passthrough" else TRANSACTION_READER_SCHEMA
    decoder = EventDecoder(schema_registry(settings), load_schema(default_schemas_dir() / reader))
    consumer = Consumer(reader_config(settings, "bench-read"))
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    seen: dict[str, int] = {}
    deadline = time.monotonic() + 120
    while len(seen) < expected and time.monotonic() < deadline:
        for message in consumer.consume(2000, 0.5):
            if message.error() is None:
                tx = decoder.decode(message.value())["transaction_id"]
                seen.setdefault(tx, message.timestamp()[1])
    consumer.close()
    return seen


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1)}


@dataclass
class Bench:
    settings: Settings
    run_dir: Path
    run_id: str
    topics: list[str]

    def design_settings(self, design: str, input_topic: str, label: str) -> Path:
        """A config file for one run's process: own output topic, group and Redis keys."""
        output = f"bench.{self.run_id}.{label}.out"
        ensure_topics(AdminClient(client_config(self.settings)), {output: PARTITIONS})
        self.topics.append(output)
        data = self.settings.model_dump(mode="json")
        data["topics"].update(input=input_topic, scored=output)
        data["redis"]["key_prefix"] = f"bench:{self.run_id}:{label}:"
        data["worker"].update(group_id=f"bench-{self.run_id}-{label}", metrics_port=0)
        if design == "ours-exactly-once":
            data["worker"]["processing_guarantee"] = "exactly_once"
        path = self.run_dir / f"{label}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    def delete_redis_keys(self) -> None:
        """Every design wrote its cache and feature store under ``bench:<run>:``: drop them."""
        from worker.runtime import redis_client

        client = redis_client(self.settings)
        try:
            batch: list[bytes] = []
            for key in client.scan_iter(match=f"bench:{self.run_id}*", count=10_000):
                batch.append(key)
                if len(batch) == 10_000:
                    client.unlink(*batch)
                    batch = []
            if batch:
                client.unlink(*batch)
        finally:
            client.close()

    def run_design(
        self,
        design: str,
        input_topic: str,
        events: int,
        sent: dict[str, int],
        rate: float | None = None,
        to_send: list[dict[str, Any]] | None = None,
    ) -> DesignResult:
        label = design if rate is None else f"{design}-rate"
        config = self.design_settings(design, input_topic, label)
        stats = self.run_dir / f"{label}.stats.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
        env["FRAUD_CONFIG_FILE"] = str(config)
        command = [
            sys.executable,
            "-m",
            "worker.bench.runners",
            design,
            "--events",
            str(events),
            "--stats",
            str(stats),
        ]
        with (self.run_dir / f"{label}.log").open("wb") as log:
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        if to_send is not None:
            time.sleep(5)  # let the member join before the paced stream starts
            sent.update(produce_events(self.settings, input_topic, to_send, rate))
        if proc.wait(timeout=1800) != 0:
            raise RuntimeError(f"{label} failed; see {self.run_dir / f'{label}.log'}")
        figures = json.loads(stats.read_text())
        out = yaml.safe_load(config.read_text())["topics"]["scored"]
        done = output_times(self.settings, out, design, events)
        latency = [done[tx] - sent[tx] for tx in done if tx in sent]
        return DesignResult(
            design=design if rate is None else f"{design} at {rate:,.0f}/s",
            events=figures["events"],
            events_per_s=round(figures["events"] / figures["wall_s"], 1),
            cpu_s_per_1k=round(figures["cpu_s"] / figures["events"] * 1000, 3),
            peak_rss_mb=round(figures["peak_rss_mb"], 1),
            latency_ms=percentiles(latency),
        )


def run_bench(
    settings: Settings,
    events: int,
    per_message_events: int,
    out: Path,
    rate_mode: bool = True,
    designs: Sequence[str] = DESIGNS,
) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    out.mkdir(parents=True, exist_ok=True)
    run_dir = settings.stack.dir.resolve() / "bench" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    admin = AdminClient(client_config(settings))
    bench = Bench(settings, run_dir, run_id, [f"bench.{run_id}.in"])
    try:
        ensure_topics(admin, {bench.topics[0]: PARTITIONS})
        sent = produce_events(settings, bench.topics[0], simulated(events, seed=101))
        counts = {
            "passthrough": events,
            "per-message": min(per_message_events, events),
            "ours": events,
            "ours-exactly-once": events,
        }
        results = [bench.run_design(d, bench.topics[0], counts[d], sent) for d in designs]
        ours = [r for r in results if r.design == "ours"]
        if rate_mode and ours:
            results.append(_fixed_rate(bench, ours[0].events_per_s / 2, events))
    finally:
        delete_topics(admin, bench.topics)
        bench.delete_redis_keys()
    report = _report(results, events)
    report["machine"].update(_stack_versions(settings))
    _write(report, out)
    return report


def _fixed_rate(bench: Bench, rate: float, events: int) -> DesignResult:
    """Our worker again, fed at ``rate``/s: its latency under normal load."""
    topic = f"bench.{bench.run_id}.rate.in"
    ensure_topics(AdminClient(client_config(bench.settings)), {topic: PARTITIONS})
    bench.topics.append(topic)
    count = int(min(events, max(500, rate * 20)))
    stream = simulated(count, seed=202)
    sent: dict[str, int] = {}
    return bench.run_design("ours", topic, len(stream), sent, rate=rate, to_send=stream)


def _stack_versions(settings: Settings) -> dict[str, str]:
    """The Redis server's version, and the Kafka the local stack runs (from its pom)."""
    from worker.runtime import redis_client

    versions: dict[str, str] = {}
    client = redis_client(settings)
    try:
        versions["redis_server"] = str(client.info("server").get("redis_version", "unknown"))
    except Exception:  # a version is a nicety; the figures stand without it
        versions["redis_server"] = "unknown"
    finally:
        client.close()
    pom = Path(__file__).resolve().parents[2] / "deploy" / "local" / "pom.xml"
    if pom.exists():
        text = pom.read_text()
        start = text.find("<kafka.version>")
        if start >= 0:
            versions["kafka_local_stack"] = text[start + 15 : text.find("<", start + 15)]
    return versions


def _report(results: list[DesignResult], events: int) -> dict[str, Any]:
    rate = {r.design: r.events_per_s for r in results}
    pairs = {
        "ours_vs_passthrough": ("ours", "passthrough", 3),
        "ours_vs_per_message": ("ours", "per-message", 1),
        "exactly_once_vs_ours": ("ours-exactly-once", "ours", 3),
    }
    ratios = {
        name: round(rate[a] / rate[b], digits)
        for name, (a, b, digits) in pairs.items()
        if a in rate and b in rate
    }
    return {
        "machine": machine_info(),
        "events": events,
        "results": [asdict(r) for r in results],
        "ratios": ratios,
        "notes": "Throughput runs read a prefilled backlog, so their latency is mostly queueing; "
        "the fixed-rate run shows latency under normal load (half of our maximum).",
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| design | events | events/s | CPU-s / 1k events | peak RSS MB "
        "| latency p50 / p95 / p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lat = r["latency_ms"]
        lines.append(
            f"| {r['design']} | {r['events']:,} | {r['events_per_s']:,.0f} "
            f"| {r['cpu_s_per_1k']:.3f} | {r['peak_rss_mb']:.0f} "
            f"| {lat['p50']:,.1f} / {lat['p95']:,.1f} / {lat['p99']:,.1f} |"
        )
    names = {
        "ours_vs_passthrough": "ours / pass-through",
        "ours_vs_per_message": "ours / per-message",
        "exactly_once_vs_ours": "exactly-once / at-least-once",
    }
    ratios = "; ".join(f"{names[k]}: {v:g}" for k, v in report["ratios"].items())
    lines += ["", ratios, "", report["notes"]]
    return "\n".join(lines)


def _write(report: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "e2e.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "e2e.md").write_text(markdown(report) + "\n")
    results = report["results"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    names = [r["design"] for r in results]
    left.barh(names, [r["events_per_s"] for r in results], color="tab:blue")
    left.set_xscale("log")
    left.set_xlabel("events/s (log scale)")
    left.set_title("Throughput")
    for i, key in enumerate(("p50", "p95", "p99")):
        right.barh(
            np.arange(len(results)) + i * 0.27,
            [r["latency_ms"][key] for r in results],
            height=0.27,
            label=key,
        )
    right.set_yticks(np.arange(len(results)) + 0.27, names)
    right.set_xscale("log")
    right.set_xlabel("end-to-end latency, ms (log scale)")
    right.set_title("Latency (throughput runs include the backlog)")
    right.legend()
    fig.tight_layout()
    fig.savefig(out / "e2e.png", metadata={"Software": None})
    plt.close(fig)
