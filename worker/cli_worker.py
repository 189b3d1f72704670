"""``fraud-worker run | simulate | review | check-config``."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any

import typer
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from prometheus_client import CollectorRegistry

from worker.checks import BROKER_HINT, BrokerUnavailable, probe_broker, run_checks
from worker.cli_common import command_settings
from worker.codec import (
    EventDecoder,
    RecordEncoder,
    SchemaRegistry,
    default_schemas_dir,
    load_schema,
)
from worker.codec.configured import schema_registry
from worker.errors import ConfigError, FraudWorkerError
from worker.health import Health
from worker.health import start_endpoint as serve_endpoint
from worker.kafka.config import client_config, reader_config
from worker.member import signals_while_starting
from worker.settings import Settings, masked

log = logging.getLogger(__name__)


def run_command() -> None:
    """Run one worker: a member of the consumer group, until SIGTERM/SIGINT."""
    from worker.checks import require_access
    from worker.loop import Worker
    from worker.metrics import WorkerMetrics
    from worker.runtime import build_runtime

    settings = command_settings()
    early = signals_while_starting()
    require_access(settings)  # a refused password or certificate: one line, before the models
    runtime = build_runtime(settings)
    metrics = WorkerMetrics()
    worker = Worker(settings, runtime, metrics)  # exports load failures, Health reports them
    if settings.worker.metrics_port:
        try:
            server = start_endpoint(settings, metrics.registry, worker.health)
        except ConfigError:
            runtime.close()
            raise
        log.info("metrics, /healthz and /readyz on %s:%d", *server.server_address[:2])
    log.info("model %s on %s", runtime.ladder.model_version, runtime.provider)
    if runtime.problems and not settings.worker.allow_degraded_start:
        log.warning(
            "not ready while artifacts fail to load (set FRAUD_WORKER__ALLOW_DEGRADED_START=true "
            "to serve without them): %s",
            "; ".join(runtime.problems),
        )
    worker.install_signal_handlers(early)
    raise SystemExit(worker.run())


def start_endpoint(
    settings: Settings, registry: CollectorRegistry, health: Health
) -> ThreadingHTTPServer:
    """The worker's /metrics, /healthz, /readyz (``FRAUD_WORKER__METRICS_HOST/PORT``)."""
    worker = settings.worker
    return serve_endpoint(worker.metrics_host, worker.metrics_port, registry, health)


class ChecksFailed(FraudWorkerError):
    """check-config found a problem; the lines above the error name each one and its fix."""


def check_config_command(
    offline: Annotated[
        bool, typer.Option("--offline", help="Skip the broker, Redis and Schema Registry.")
    ] = False,
) -> None:
    """Print the effective configuration (secrets masked), then check that models, rules and
    schemas load and that the broker and Redis answer; exit 1 naming what failed."""
    settings = command_settings()
    typer.echo(json.dumps(masked(settings), indent=2, default=str))
    results = run_checks(settings, offline)
    for result in results:
        typer.echo(result.line())
    failed = [result for result in results if not result.ok]
    if len(failed) == 1:
        raise ChecksFailed(f"{failed[0].name}: {failed[0].detail}")
    if failed:
        names = ", ".join(result.name for result in failed)
        raise ChecksFailed(f"{len(failed)} checks failed ({names}); each FAIL line names its fix")


def simulate_command(
    events: Annotated[int, typer.Option(min=1, help="How many events to produce.")] = 10_000,
    rate: Annotated[float, typer.Option(help="Events per second; 0 = as fast as possible.")] = 0,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 7,
    customers: Annotated[int, typer.Option(min=10)] = 5000,
    terminals: Annotated[int, typer.Option(min=10)] = 10000,
    days: Annotated[
        int, typer.Option(min=1, help="Days to simulate (events come in time order).")
    ] = 30,
    schema_version: Annotated[
        int,
        typer.Option(
            min=1,
            help="Version of the input subject's writer schema (1, 2 or 3); the registry gives "
            "its id.",
        ),
    ] = 2,
    schema_id: Annotated[
        int | None, typer.Option(help="A writer schema id instead of --schema-version.")
    ] = None,
    labels: Annotated[
        bool,
        typer.Option(
            help="Also publish chargebacks (fraud labels) to the labels topic, in simulated "
            "time among the events."
        ),
    ] = True,
    label_delay_days: Annotated[
        float, typer.Option(min=0, help="Simulated days from a fraud to its chargeback.")
    ] = 7.0,
    label_coverage: Annotated[
        float, typer.Option(min=0, max=1, help="Share of frauds that are ever reported.")
    ] = 0.9,
    truth_out: Annotated[
        Path | None,
        typer.Option(help="Write the produced events' true labels here (for `evaluate --truth`)."),
    ] = None,
) -> None:
    """Produce simulated card transactions (Confluent-framed Avro) into the input topic, and
    their chargebacks into the labels topic."""
    from worker.simulator import SimulationConfig, simulate
    from worker.simulator.labels import ChargebackConfig, chargebacks
    from worker.simulator.stream import stream_with_labels

    settings = command_settings()
    probe_broker(settings)
    config = SimulationConfig(n_customers=customers, n_terminals=terminals, n_days=days, seed=seed)
    transactions = simulate(config)
    stop = min(events, len(transactions))
    coverage = label_coverage if labels else 0.0
    feed = chargebacks(transactions, seed, ChargebackConfig(label_delay_days, coverage))
    if truth_out is not None:
        from worker.quality.truth import write_truth

        write_truth(
            truth_out, transactions.transaction_id[:stop], transactions.labels.is_fraud[:stop]
        )
    registry = schema_registry(settings)
    if schema_id is None:
        schema_id = registry.version_id(settings.schemas.input_subject, schema_version)
    encoder = RecordEncoder.for_schema_id(registry, schema_id)
    label_encoder = RecordEncoder(registry, settings.schemas.labels_subject)
    producer = Producer(client_config(settings, **{"linger.ms": 10, "compression.type": "lz4"}))
    deliveries = Deliveries()
    topics = settings.topics
    sent_labels = 0
    started = time.monotonic()
    for batch, due in stream_with_labels(transactions, feed, rate or None, stop=stop):
        for label in due:
            key, value = label["card_id"].encode(), label_encoder.encode(label)
            _produce(producer, topics.labels, key, value, deliveries)
        sent_labels += len(due)
        for event in batch:
            key, value = event["card_id"].encode(), encoder.encode(event)
            _produce(producer, topics.input, key, value, deliveries)
        producer.poll(0)
    unsent = producer.flush(FLUSH_TIMEOUT_S)
    elapsed = time.monotonic() - started
    deliveries.check(stop + sent_labels, unsent, topics.input, settings.kafka_bootstrap)
    typer.echo(
        f"produced {stop} events to {topics.input} and {sent_labels} chargebacks to "
        f"{topics.labels} in {elapsed:.1f} s"
    )


FLUSH_TIMEOUT_S = 60.0


class Deliveries:
    """Counts the broker's acknowledgements (delivery callbacks): "produced" means acked."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0
        self.first_error: KafkaError | None = None

    def __call__(self, err: KafkaError | None, _message: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        self.first_error = self.first_error or err

    def check(self, expected: int, unsent: int, topic: str, bootstrap: str) -> None:
        """Raise BrokerUnavailable, naming the broker and the reason, unless all were acked."""
        if self.delivered == expected:
            return
        if self.first_error is not None:
            reason = f"{self.failed} failed: {self.first_error.str()}"
        else:
            reason = f"{unsent} still unacknowledged after {FLUSH_TIMEOUT_S:g} s"
        raise BrokerUnavailable(
            f"only {self.delivered} of {expected} events reached {topic} at {bootstrap} "
            f"({reason}); {BROKER_HINT}"
        )


def _produce(
    producer: Producer, topic: str, key: bytes, value: bytes, on_delivery: Deliveries
) -> None:
    while True:
        try:
            producer.produce(topic, value, key, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.05)


def review_command(
    reason: Annotated[
        str | None, typer.Option(help="Only items with a reason containing this.")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Only items answered by this level.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Stop after this many items.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    follow: Annotated[bool, typer.Option(help="Keep waiting for new items.")] = False,
    idle_s: Annotated[
        float, typer.Option(help="Without --follow: stop after this idle time.")
    ] = 3.0,
    degraded: Annotated[
        bool,
        typer.Option(
            "--degraded",
            help="Show the degraded topic instead: degraded answers kept apart for re-scoring.",
        ),
    ] = False,
) -> None:
    """Show the review topic: results a human should look at (decided review or block, by
    the thresholds or a decisive rule, or a flagged input), with their priority (expected
    loss: score x amount) and reasons. Review items of schema v1 and v2 are both read."""
    settings = command_settings()
    probe_broker(settings)
    items = ReviewItems(schema_registry(settings))
    consumer = Consumer(reader_config(settings, "fraud-review"))
    # Read every partition from its start without joining a group: no rebalance to wait for.
    topic, variable = (
        (settings.topics.degraded, "FRAUD_TOPICS__DEGRADED")
        if degraded
        else (settings.topics.review, "FRAUD_TOPICS__REVIEW")
    )
    partitions = _partitions(consumer, topic, variable)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    shown, last_seen = 0, time.monotonic()
    if not as_json:
        typer.echo(
            f"{'event time':<20} {'transaction':<26} {'source':<12} {'decision':<8} score "
            f"{'priority':>10}  reasons"
        )
    try:
        while shown < limit and (follow or time.monotonic() - last_seen < idle_s):
            for message in consumer.consume(200, 0.5):
                if message.error() is not None:
                    continue
                last_seen = time.monotonic()
                item = items.decode(message.value())
                if _matches(item, reason, source) and shown < limit:
                    typer.echo(_format(item, as_json))
                    shown += 1
    finally:
        consumer.close()


class ReviewItems:
    """Review items of any schema version, read as v2 records, each with the queue's
    priority (``ItemPriority``: a v1 item gets score x amount)."""

    def __init__(self, registry: SchemaRegistry) -> None:
        # Here, not at the top: the scoring ladder it pulls in is of no use to other commands.
        from worker.triage.items import REVIEW_ITEM_READER_SCHEMA, ItemPriority

        reader = load_schema(default_schemas_dir() / REVIEW_ITEM_READER_SCHEMA)
        self.decoder = EventDecoder(registry, reader)
        self.priority = ItemPriority(registry)

    def decode(self, value: bytes | None) -> dict[str, Any]:
        item = self.decoder.decode(value)
        item["priority"] = self.priority.of(value, item)
        return item


def _partitions(consumer: Consumer, topic: str, variable: str) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    if metadata.error is not None or not metadata.partitions:
        consumer.close()
        raise FraudWorkerError(
            f"topic {topic!r} ({variable}) does not exist; "
            "create it with: fraud-worker topics create"
        )
    return list(metadata.partitions)


def _matches(item: dict[str, Any], reason: str | None, source: str | None) -> bool:
    result = item["result"]
    if source and result["source"] != source:
        return False
    reasons = [*item["review_reasons"], *result["reasons"]]
    return not reason or any(reason in r for r in reasons)


def _format(item: dict[str, Any], as_json: bool) -> str:
    result = item["result"]
    if as_json:
        return json.dumps(item, default=lambda b: b.hex() if isinstance(b, bytes) else str(b))
    when = datetime.fromtimestamp(result["event_time_ms"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    reasons = ", ".join([*item["review_reasons"], *result["reasons"]])
    return (
        f"{when:<20} {result['transaction_id']:<26} {result['source']:<12} "
        f"{result['decision']:<8} {result['score']:.3f} {item['priority']:>10.2f}  {reasons}"
    )


def demo_command(
    events: Annotated[
        int, typer.Option(min=100, help="Simulated events to stream (about 1,900 a day).")
    ] = 60_000,
    rate: Annotated[float, typer.Option(min=10, help="Events per second.")] = 1_200,
    outage_s: Annotated[
        float,
        typer.Option(
            min=0,
            help="How long Redis is stopped (10 s into the stream): long enough for the "
            "degraded-share alert, 10 s at demo speed, to fire.",
        ),
    ] = 20,
    prometheus_port: Annotated[
        int, typer.Option(min=0, max=65535, help="The demo's Prometheus port (0: a free one).")
    ] = 0,
) -> None:
    """The main job: stream simulated events and their chargebacks through two workers, the
    labels consumer and the re-scorer, into the analysts' triage app; fail Redis midway;
    summarize the ladder and the loop; a real Prometheus watches it all with the chart's
    alerts and dashboard (summary and PNG timeline in the stack's demo/ folder)."""
    from worker.demo import run_demo

    settings = command_settings(level="WARNING")
    summary = run_demo(
        settings, events, rate, outage_s, announce=typer.echo, prometheus_port=prometheus_port
    )
    typer.echo(summary)
