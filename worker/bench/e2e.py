"""``fraud-worker bench e2e``: end-to-end throughput, CPU, memory and latency of our worker and
its peers over the same prefilled input on the same broker — ratios, not absolute times: our
machines are shared and noisy, so the designs are interleaved over rounds and each figure is
a median with its range.

The peers: Kafka's own ProducerPerformance and ConsumerPerformance (the broker's ceiling), our
pass-through and a Quix Streams one (the I/O ceiling of a Python worker), our per-message
baseline and Quix Streams doing the same per-message scoring. CPU per event is split by
process — the design's, the Redis server's and the broker's, from /proc — and our worker is
then fed at fixed rates (half its maximum, and 1,000/s), three times each, for its latency,
with the other load on the machine beside each run.
"""

from __future__ import annotations

import functools
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupState,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from worker.bench.core import machine_info
from worker.bench.measure import (
    Snapshot,
    Window,
    load_average,
    machine_cpu_s,
    parse_consumer_performance,
    parse_producer_performance,
    per_event_us,
    process_cpu_s,
    spread,
)
from worker.codec import EventDecoder, RecordEncoder, default_schemas_dir, load_schema
from worker.codec.avro import TRANSACTION_READER_SCHEMA
from worker.codec.configured import schema_registry
from worker.errors import StackError
from worker.kafka.config import client_config, reader_config
from worker.kafka.topics import delete_topics, ensure_topics
from worker.settings import Settings
from worker.simulator import SimulationConfig, simulate

PARTITIONS = 6
PRODUCER_PERF, CONSUMER_PERF = "kafka-producer-perf", "kafka-consumer-perf"
# The order of the report's table (and of the first round).
DESIGNS = (
    PRODUCER_PERF,
    CONSUMER_PERF,
    "passthrough",
    "quix-passthrough",
    "ours",
    "ours-exactly-once",
    "per-message",
    "quix-per-message",
)
NAMES = {PRODUCER_PERF: "kafka ProducerPerformance", CONSUMER_PERF: "kafka ConsumerPerformance"}
JAVA = frozenset({PRODUCER_PERF, CONSUMER_PERF})
QUIX = frozenset({"quix-passthrough", "quix-per-message"})
SLOW = frozenset({"per-message", "quix-per-message"})  # run on --per-message-events only
BYTES_OUT = frozenset({"passthrough", "quix-passthrough"})  # output = the input's bytes
LATENCY_RATE = 1000.0  # events/s, beside half of our maximum
LATENCY_SECONDS = 20.0  # how long each fixed-rate run feeds (at most --events events)
CPU_COLUMNS = ("worker", "redis", "broker")
DASH = "\N{EN DASH}"


@dataclass(frozen=True)
class RunFigures:
    """One run of one design."""

    design: str
    round: int
    events: int
    events_per_s: float
    # CPU µs per event of the design's process (its own figure, from its first message; the
    # perf tools: the whole JVM), the Redis server's and the broker's (over the run).
    cpu_us_per_event: dict[str, float | None]
    peak_rss_mb: float | None
    latency_ms: dict[str, float]
    # Cores busy with anything else during the run, and the one-minute load average after it.
    other_cores: float
    loadavg: float
    details: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Servers:
    """The stack's Redis server and broker, when this stack started them (else unknown)."""

    redis: int | None
    broker: int | None

    @classmethod
    def of(cls, settings: Settings) -> Servers:
        from worker.stack.manager import Stack

        stack = Stack(settings)
        redis = None if settings.redis.url else stack.redis.record()
        broker = None if settings.kafka.bootstrap_servers else stack.kafka.record()
        return cls(redis.pid if redis else None, broker.pid if broker else None)

    def snapshot(self) -> Snapshot:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        return Snapshot(
            at=time.monotonic(),
            machine_s=machine_cpu_s(),
            children_s=children.ru_utime + children.ru_stime,
            self_s=own.ru_utime + own.ru_stime,
            redis_s=process_cpu_s(self.redis),
            broker_s=process_cpu_s(self.broker),
        )


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


def record_size(settings: Settings, events: list[dict[str, Any]]) -> int:
    """The mean size of our Avro input records (ProducerPerformance's --record-size)."""
    registry = schema_registry(settings)
    encoder = RecordEncoder.for_schema_id(
        registry, registry.version_id(settings.schemas.input_subject, 2)
    )
    sample = events[:1000]
    return max(1, round(sum(len(encoder.encode(e)) for e in sample) / max(1, len(sample))))


def output_times(settings: Settings, topic: str, design: str, expected: int) -> dict[str, int]:
    """Per transaction id, the broker's append time (ms) of its first output record."""
    reader = TRANSACTION_READER_SCHEMA if design in BYTES_OUT else "scored_result.v1.avsc"
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


def rotated(designs: Sequence[str], round_no: int) -> list[str]:
    """Round ``r`` runs the designs in the same cycle, starting ``r`` places later: no design
    always runs first (after the prefill) or last."""
    shift = round_no % max(1, len(designs))
    return [*designs[shift:], *designs[:shift]]


NAN_LATENCY = {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}


@dataclass
class Bench:
    settings: Settings
    run_dir: Path
    run_id: str
    topics: list[str]
    servers: Servers
    quix_python: str | None = None  # the bench venv's python
    java: str | None = None
    perf_jars: Path | None = None
    record_size: int = 200
    perf_topic: str | None = None  # ConsumerPerformance's input when it reads more than ours
    profile: bool = False  # our Python designs under cProfile: <run dir>/<label>.prof

    @functools.cached_property
    def admin(self) -> AdminClient:
        # One client for the run: a future outlives no client that was dropped meanwhile.
        return AdminClient(client_config(self.settings))

    def output_topic(self, label: str) -> str:
        """A fresh topic for one run's output. The broker stamps each record as it appends
        it (LogAppendTime), so latency is the input's produce time to the result's append
        time for every design alike (Quix keeps the input's timestamp on what it produces)."""
        topic = f"bench.{self.run_id}.{label}.out"
        config = {"message.timestamp.type": "LogAppendTime"}
        futures = self.admin.create_topics([NewTopic(topic, PARTITIONS, 1, config=config)])
        try:
            futures[topic].result(timeout=30)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
        self.topics.append(topic)
        return topic

    def design_settings(self, design: str, input_topic: str, label: str) -> Path:
        """A config file for one run's process: own output topic, group and Redis keys."""
        output = self.output_topic(label)
        data = self.settings.model_dump(mode="json")
        data["topics"].update(input=input_topic, scored=output)
        data["redis"]["key_prefix"] = f"bench:{self.run_id}:{label}:"
        data["worker"].update(group_id=f"bench-{self.run_id}-{label}", metrics_port=0)
        if design == "ours-exactly-once":
            data["worker"]["processing_guarantee"] = "exactly_once"
        path = self.run_dir / f"{label}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    def delete_redis_keys(self, label: str = "") -> None:
        """Drop what a run (``label``), or every run, wrote under ``bench:<run>:``."""
        from worker.runtime import redis_client

        client = redis_client(self.settings)
        pattern = f"bench:{self.run_id}:{label}:*" if label else f"bench:{self.run_id}*"
        try:
            batch: list[bytes] = []
            for key in client.scan_iter(match=pattern, count=10_000):
                batch.append(key)
                if len(batch) == 10_000:
                    client.unlink(*batch)
                    batch = []
            if batch:
                client.unlink(*batch)
        finally:
            client.close()

    def forget(self, label: str, topic: str) -> None:
        """A run's output topic and Redis keys go once measured: 30 runs of 200,000 results
        would otherwise sit on the broker's disk and in Redis till the end."""
        delete_topics(self.admin, [topic])
        self.topics.remove(topic)
        self.delete_redis_keys(label)

    def run(self, design: str, input_topic: str, events: int, round_no: int) -> RunFigures:
        if design in JAVA:
            return self.run_java(design, input_topic, events, round_no)
        return self.run_python(design, input_topic, events, f"{design}-r{round_no}", round_no)

    def run_python(
        self,
        design: str,
        input_topic: str,
        events: int,
        label: str,
        round_no: int,
        rate: float | None = None,
        to_send: list[dict[str, Any]] | None = None,
    ) -> RunFigures:
        config = self.design_settings(design, input_topic, label)
        out = yaml.safe_load(config.read_text())["topics"]["scored"]
        stats = self.run_dir / f"{label}.stats.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
        env["FRAUD_CONFIG_FILE"] = str(config)
        python = self.quix_python if design in QUIX else sys.executable
        if python is None:
            raise StackError(f"{design} needs the bench venv; run it through run_bench")
        command = [python, "-m", "worker.bench.runners", design]
        command += ["--events", str(events), "--stats", str(stats)]
        if self.profile and design not in QUIX:
            command += ["--profile", str(self.run_dir / f"{label}.prof")]
        sent: dict[str, int] = {}
        before = self.servers.snapshot()
        with (self.run_dir / f"{label}.log").open("wb") as log:
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        if to_send is not None:
            # The paced stream starts once the member owns the input's partitions.
            self.wait_joined(f"bench-{self.run_id}-{label}", proc)
            sent = produce_events(self.settings, input_topic, to_send, rate)
        if proc.wait(timeout=1800) != 0:
            raise RuntimeError(f"{label} failed; see {self.run_dir / f'{label}.log'}")
        window = Window.between(before, self.servers.snapshot())
        loadavg = load_average()
        figures = json.loads(stats.read_text())
        done = output_times(self.settings, out, design, events)
        self.forget(label, out)
        # Latency only for a paced stream: a prefilled backlog's age says nothing.
        latency = [done[tx] - sent[tx] for tx in done if tx in sent]
        n = figures["events"]
        return RunFigures(
            design=NAMES.get(design, design) if rate is None else f"{design} at {rate:,.0f}/s",
            round=round_no,
            events=n,
            events_per_s=round(n / figures["wall_s"], 1),
            cpu_us_per_event=self.cpu_split(figures["cpu_s"], window, n),
            peak_rss_mb=round(figures["peak_rss_mb"], 1),
            latency_ms=percentiles(latency) if sent else dict(NAN_LATENCY),
            other_cores=window.other_cores(),
            loadavg=loadavg,
            details={"outputs": len(done)},  # distinct transaction ids in the output
        )

    def wait_joined(
        self, group: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0
    ) -> None:
        """Until ``group`` is stable with every input partition assigned (or its process
        exits, or ``timeout_s``: the stream then starts anyway and the latency shows it)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                found = self.admin.describe_consumer_groups([group])[group].result(timeout=5)
            except KafkaException:
                found = None
            if found is not None and found.state == ConsumerGroupState.STABLE:
                owned = sum(len(m.assignment.topic_partitions) for m in found.members)
                if owned >= PARTITIONS:
                    return
            time.sleep(0.2)

    def cpu_split(self, worker_s: float, window: Window, events: int) -> dict[str, float | None]:
        return {
            "worker": per_event_us(worker_s, events),
            "redis": per_event_us(window.redis_s, events),
            "broker": per_event_us(window.broker_s, events),
        }

    def perf_tool(self, tool: list[str], label: str) -> tuple[str, Window]:
        """Run one of Kafka's perf tools in a JVM of its own; its output and CPU window."""
        if self.java is None or self.perf_jars is None:
            raise StackError("Kafka's perf tools are not prepared; run them through run_bench")
        command = [
            self.java,
            "-Xmx512m",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp",
            f"{self.perf_jars}/*",
            *tool,
        ]
        before = self.servers.snapshot()
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
        window = Window.between(before, self.servers.snapshot())
        (self.run_dir / f"{label}.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"{label} failed; see {self.run_dir / f'{label}.log'}")
        return result.stdout, window

    def producer_performance(self, topic: str, records: int, label: str) -> tuple[str, Window]:
        bootstrap = self.settings.kafka_bootstrap
        return self.perf_tool(
            [
                "org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
                "--num-records", str(records), "--record-size", str(self.record_size),
                "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}",
                # As our producers: librdkafka's batches of up to 1 MB, linger 5 ms, lz4.
                "linger.ms=5", "compression.type=lz4", "batch.size=1000000",
            ],
            label,
        )  # fmt: skip

    def run_java(self, design: str, input_topic: str, events: int, round_no: int) -> RunFigures:
        """ProducerPerformance into a topic of its own, or ConsumerPerformance over the
        perf input (``perf_topic``, else the prefilled input), in a JVM whose whole CPU time
        is the "worker" column."""
        label = f"{design}-r{round_no}"
        if design == PRODUCER_PERF:
            topic = self.output_topic(label)
            output, window = self.producer_performance(topic, events, label)
            details = parse_producer_performance(output)
            delete_topics(self.admin, [topic])
            self.topics.remove(topic)
        else:
            tool = [
                "org.apache.kafka.tools.ConsumerPerformance",
                "--bootstrap-server", self.settings.kafka_bootstrap,
                "--topic", self.perf_topic or input_topic, "--messages", str(events),
                "--group", f"bench-{self.run_id}-{label}", "--timeout", "60000",
            ]  # fmt: skip
            output, window = self.perf_tool(tool, label)
            details = parse_consumer_performance(output)
        n = int(details["records"])
        return RunFigures(
            design=NAMES[design],
            round=round_no,
            events=n,
            events_per_s=round(details["records_per_s"], 1),
            cpu_us_per_event=self.cpu_split(window.child_s, window, n),
            peak_rss_mb=None,
            latency_ms=dict(NAN_LATENCY),
            other_cores=window.other_cores(),
            loadavg=load_average(),
            details=details,
        )


def prepare_tools(settings: Settings, designs: Sequence[str]) -> dict[str, Any]:
    """Build (once) what the chosen designs need beyond our venv: the Quix venv, the jars."""
    from worker.stack.benchtools import ensure_bench_venv, ensure_perf_tools
    from worker.stack.kafka import java_executable

    tools: dict[str, Any] = {}
    if QUIX & set(designs):
        tools["quix_python"] = str(ensure_bench_venv(settings.stack.dir))
    if JAVA & set(designs):
        tools["java"] = java_executable()
        tools["perf_jars"] = ensure_perf_tools(settings.stack.dir)
    return tools


def run_bench(
    settings: Settings,
    events: int,
    per_message_events: int,
    out: Path,
    rate_mode: bool = True,
    designs: Sequence[str] = DESIGNS,
    rounds: int = 3,
    latency_repeats: int = 3,
    perf_events: int = 2_000_000,
    profile: bool = False,
) -> dict[str, Any]:
    """Every design over the same prefilled ``events`` (the per-message ones over the first
    ``per_message_events``; Kafka's perf tools over ``perf_events``: a JVM needs a few
    seconds to warm up, which 200,000 records do not outlast). ``profile``: our designs run
    under cProfile (slower: for where the time goes, not for the figures)."""
    tools = prepare_tools(settings, designs)
    run_id = uuid.uuid4().hex[:8]
    out.mkdir(parents=True, exist_ok=True)
    run_dir = settings.stack.dir.resolve() / "bench" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    bench = Bench(settings, run_dir, run_id, [f"bench.{run_id}.in"], Servers.of(settings), **tools)
    bench.profile = profile
    admin = bench.admin
    runs: list[RunFigures] = []
    latency_runs: list[RunFigures] = []
    try:
        ensure_topics(admin, {bench.topics[0]: PARTITIONS})
        prefill = simulated(events, seed=101)
        bench.record_size = record_size(settings, prefill)
        produce_events(settings, bench.topics[0], prefill)
        counts = {d: min(per_message_events, events) if d in SLOW else events for d in designs}
        if JAVA & set(designs):
            counts.update({d: perf_events for d in JAVA})
        if CONSUMER_PERF in designs and perf_events > events:
            bench.perf_topic = f"bench.{run_id}.perf.in"
            ensure_topics(admin, {bench.perf_topic: PARTITIONS})
            bench.topics.append(bench.perf_topic)
            bench.producer_performance(bench.perf_topic, perf_events, "perf-prefill")
        for round_no in range(rounds):
            for design in rotated(designs, round_no):
                runs.append(bench.run(design, bench.topics[0], counts[design], round_no))
        ours = [r.events_per_s for r in runs if r.design == "ours"]
        if rate_mode and ours:
            rates = (statistics.median(ours) / 2, LATENCY_RATE)
            for repeat in range(latency_repeats):
                for rate in rates:
                    latency_runs.append(_fixed_rate(bench, rate, events, repeat))
    finally:
        delete_topics(admin, bench.topics)
        bench.delete_redis_keys()
    report = _report(runs, latency_runs, events, rounds)
    report["machine"].update(_stack_versions(settings))
    if profile:
        report["profiles"] = sorted(str(path) for path in run_dir.glob("*.prof"))
    _write(report, out)
    return report


def _fixed_rate(bench: Bench, rate: float, events: int, repeat: int) -> RunFigures:
    """Our worker again, fed at ``rate``/s: its latency under a steady load."""
    label = f"rate{rate:.0f}-{repeat}"
    topic = f"bench.{bench.run_id}.{label}.in"
    ensure_topics(bench.admin, {topic: PARTITIONS})
    bench.topics.append(topic)
    count = int(min(events, max(500, rate * LATENCY_SECONDS)))
    stream = simulated(count, seed=202)
    figures = bench.run_python(
        "ours", topic, len(stream), f"ours-{label}", repeat, rate=rate, to_send=stream
    )
    delete_topics(bench.admin, [topic])
    bench.topics.remove(topic)
    return figures


def _stack_versions(settings: Settings) -> dict[str, str]:
    """The Redis server's version, and the Kafka the local stack runs (from its pom)."""
    from worker.runtime import redis_client
    from worker.stack.benchtools import kafka_version

    versions: dict[str, str] = {}
    client = redis_client(settings)
    try:
        versions["redis_server"] = str(client.info("server").get("redis_version", "unknown"))
    except Exception:  # a version is a nicety; the figures stand without it
        versions["redis_server"] = "unknown"
    finally:
        client.close()
    try:
        versions["kafka_local_stack"] = kafka_version()
    except StackError:
        versions["kafka_local_stack"] = "unknown"
    return versions


def summarize(runs: Sequence[RunFigures]) -> list[dict[str, Any]]:
    """Per design (in the order first run): medians over its runs, and ranges."""
    order = list(dict.fromkeys(r.design for r in runs))
    summary = []
    for design in order:
        mine = [r for r in runs if r.design == design]
        rate = spread([r.events_per_s for r in mine])
        p99 = spread([r.latency_ms["p99"] for r in mine])
        other = spread([r.other_cores for r in mine], digits=2)
        loadavg = spread([r.loadavg for r in mine], digits=2)
        summary.append(
            {
                "design": design,
                "runs": len(mine),
                "events": mine[0].events,
                "events_per_s": rate.as_dict() if rate else None,
                "cpu_us_per_event": {
                    col: _median([r.cpu_us_per_event[col] for r in mine]) for col in CPU_COLUMNS
                },
                "peak_rss_mb": _median([r.peak_rss_mb for r in mine]),
                "latency_ms": {p: _median([r.latency_ms[p] for r in mine]) for p in NAN_LATENCY},
                "p99_ms": p99.as_dict() if p99 else None,
                "other_cores": other.as_dict() if other else None,
                "loadavg": loadavg.as_dict() if loadavg else None,
            }
        )
    return summary


def _median(values: Sequence[float | None]) -> float | None:
    found = spread([v for v in values if v is not None], digits=2)
    return found.median if found else None


RATIOS = {
    "ours_vs_passthrough": ("ours", "passthrough", 3),
    "ours_vs_quix_passthrough": ("ours", "quix-passthrough", 3),
    "ours_vs_per_message": ("ours", "per-message", 1),
    "ours_vs_quix_per_message": ("ours", "quix-per-message", 1),
    "exactly_once_vs_ours": ("ours-exactly-once", "ours", 3),
    "passthrough_vs_kafka_consumer": ("passthrough", NAMES[CONSUMER_PERF], 3),
}


def _report(
    runs: list[RunFigures], latency_runs: list[RunFigures], events: int, rounds: int
) -> dict[str, Any]:
    results = summarize(runs)
    rate = {r["design"]: r["events_per_s"]["median"] for r in results if r["events_per_s"]}
    ratios = {
        name: round(rate[a] / rate[b], digits)
        for name, (a, b, digits) in RATIOS.items()
        if a in rate and b in rate and rate[b] > 0
    }
    return {
        "machine": machine_info(),
        "events": events,
        "rounds": rounds,
        "results": results,
        "latency": summarize(latency_runs),
        "ratios": ratios,
        "runs": [asdict(r) for r in [*runs, *latency_runs]],
        "notes": "Medians over the rounds (range in brackets); the designs are interleaved, each "
        "round in a rotated order. CPU µs per event: the design's process from its first message "
        "(the perf tools: their whole JVM, start-up included), the Redis server and the broker "
        "over the run. Kafka's perf tools run on their own record count (--perf-events, random "
        "payloads of our mean event size). Latency: the fixed-rate runs, from the input's "
        "produce time to the result's append time. Other load: cores busy with anything but "
        "the design, Redis, the broker and the benchmark (/proc/stat).",
    }


def _cell(value: float | None, fmt: str = "{:,.1f}") -> str:
    return "-" if value is None or value != value else fmt.format(value)


def _rate_cell(rate: dict[str, float] | None) -> str:
    if rate is None:
        return "-"
    return f"{rate['median']:,.0f} ({rate['min']:,.0f}{DASH}{rate['max']:,.0f})"


def _cpu_cell(cpu: dict[str, float | None]) -> str:
    return " · ".join(_cell(cpu[col]) for col in CPU_COLUMNS)


def _latency_cell(lat: dict[str, float | None]) -> str:
    return " / ".join(_cell(lat[p]) for p in ("p50", "p95", "p99"))


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"{report['rounds']} round(s), medians (range):",
        "",
        "| design | events | events/s | CPU µs/event: worker · Redis · broker | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['design']} | {r['events']:,} | {_rate_cell(r['events_per_s'])} "
            f"| {_cpu_cell(r['cpu_us_per_event'])} | {_cell(r['peak_rss_mb'], '{:,.0f}')} |"
        )
    if report["latency"]:
        lines += [
            "",
            "| fixed rate | runs | events/s | CPU µs/event: worker · Redis · broker "
            "| latency p50 / p95 / p99 ms | p99 range ms | other load, cores | load average |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in report["latency"]:
            p99, other, load = r["p99_ms"], r["other_cores"], r["loadavg"]
            lines.append(
                f"| {r['design']} | {r['runs']} | {_rate_cell(r['events_per_s'])} "
                f"| {_cpu_cell(r['cpu_us_per_event'])} | {_latency_cell(r['latency_ms'])} "
                f"| {_range(p99, '{:,.1f}')} | {_range(other, '{:.2f}')} "
                f"| {_range(load, '{:.2f}')} |"
            )
    names = {
        "ours_vs_passthrough": "ours / pass-through",
        "ours_vs_quix_passthrough": "ours / Quix pass-through",
        "ours_vs_per_message": "ours / per-message",
        "ours_vs_quix_per_message": "ours / Quix per-message",
        "exactly_once_vs_ours": "exactly-once / at-least-once",
        "passthrough_vs_kafka_consumer": "pass-through / ConsumerPerformance",
    }
    ratios = "; ".join(f"{names[k]}: {v:g}" for k, v in report["ratios"].items())
    lines += ["", ratios, "", report["notes"]]
    return "\n".join(lines)


def _range(values: dict[str, float] | None, fmt: str) -> str:
    if values is None:
        return "-"
    low, mid, high = (fmt.format(values[k]) for k in ("min", "median", "max"))
    return f"{mid} ({low}{DASH}{high})"


def _write(report: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "e2e.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "e2e.md").write_text(markdown(report) + "\n")
    results = [r for r in report["results"] if r["events_per_s"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    names = [r["design"] for r in results]
    medians = np.array([r["events_per_s"]["median"] for r in results])
    errors = np.array(
        [
            [m - r["events_per_s"]["min"] for m, r in zip(medians, results, strict=True)],
            [r["events_per_s"]["max"] - m for m, r in zip(medians, results, strict=True)],
        ]
    )
    left.barh(names, medians, xerr=errors, color="tab:blue", capsize=3)
    left.set_xscale("log")
    left.set_xlabel("events/s, median and range (log scale)")
    left.set_title(f"Throughput, {report['rounds']} round(s)")
    timed = [r for r in report["latency"] if _has_latency(r)]
    for i, key in enumerate(("p50", "p95", "p99")):
        right.barh(
            np.arange(len(timed)) + i * 0.27,
            [r["latency_ms"][key] for r in timed],
            height=0.27,
            label=key,
        )
    right.set_yticks(np.arange(len(timed)) + 0.27, [r["design"] for r in timed])
    right.set_xscale("log")
    right.set_xlabel("end-to-end latency, ms, median (log scale)")
    right.set_title("Latency at fixed rates")
    right.legend()
    fig.tight_layout()
    fig.savefig(out / "e2e.png", metadata={"Software": None})
    plt.close(fig)


def _has_latency(result: dict[str, Any]) -> bool:
    p50 = result["latency_ms"]["p50"]
    return p50 is not None and not math.isnan(p50) and p50 > 0
