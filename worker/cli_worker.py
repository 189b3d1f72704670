"""``fraud-worker run | simulate | review | check-config``."""

from __future__ import annotations

import json
import logging
import signal
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from worker.codec import EventDecoder, RecordEncoder, default_schemas_dir, load_schema
from worker.codec.configured import schema_registry
from worker.kafka.config import client_config
from worker.settings import load_settings, masked

log = logging.getLogger(__name__)


def run_command() -> None:
    """Run one worker: a member of the consumer group, until SIGTERM/SIGINT."""
    from worker.health import serve
    from worker.logs import configure_logging
    from worker.loop import Worker
    from worker.metrics import WorkerMetrics
    from worker.runtime import build_runtime

    settings = load_settings()
    configure_logging(settings.worker.log_level, settings.worker.log_json)
    early: list[int] = []  # a SIGTERM while starting up still means: stop cleanly
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda num, _frame: early.append(num))
    runtime = build_runtime(settings)
    metrics = WorkerMetrics()
    worker = Worker(settings, runtime, metrics)
    if settings.worker.metrics_port:
        server = serve(settings.worker.metrics_port, metrics.registry, worker.health)
        log.info("metrics, /healthz and /readyz on port %d", server.server_address[1])
    log.info(
        "model %s on %s%s",
        runtime.ladder.model_version,
        runtime.provider,
        f"; unavailable: {runtime.problems}" if runtime.problems else "",
    )
    worker.install_signal_handlers()
    if early:
        worker.stop(early[0])
    raise SystemExit(worker.run())


def check_config_command() -> None:
    """Print the effective configuration (secrets masked); exit 1 naming a bad key."""
    typer.echo(json.dumps(masked(load_settings()), indent=2, default=str))


def simulate_command(
    events: Annotated[int, typer.Option(min=1, help="How many events to produce.")] = 10_000,
    rate: Annotated[float, typer.Option(help="Events per second; 0 = as fast as possible.")] = 0,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 7,
    customers: Annotated[int, typer.Option(min=10)] = 5000,
    terminals: Annotated[int, typer.Option(min=10)] = 10000,
    days: Annotated[
        int, typer.Option(min=1, help="Days to simulate (events come in time order).")
    ] = 30,
    schema_id: Annotated[int, typer.Option(help="Writer schema id (1, 2 or 3).")] = 2,
) -> None:
    """Produce simulated card transactions (Confluent-framed Avro) into the input topic."""
    from worker.simulator import SimulationConfig, simulate, stream_events

    settings = load_settings()
    config = SimulationConfig(n_customers=customers, n_terminals=terminals, n_days=days, seed=seed)
    transactions = simulate(config)
    stop = min(events, len(transactions))
    encoder = RecordEncoder.for_schema_id(schema_registry(settings), schema_id)
    producer = Producer(client_config(settings, **{"linger.ms": 10, "compression.type": "lz4"}))
    started = time.monotonic()
    for batch in stream_events(transactions, rate or None, stop=stop):
        for event in batch:
            _produce(
                producer, settings.topics.input, event["card_id"].encode(), encoder.encode(event)
            )
        producer.poll(0)
    producer.flush(60)
    elapsed = time.monotonic() - started
    typer.echo(f"produced {stop} events to {settings.topics.input} in {elapsed:.1f} s")


def _produce(producer: Producer, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value, key)
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
) -> None:
    """Show the review topic: degraded, flagged, review and block results, with their reasons."""
    settings = load_settings()
    reader = load_schema(default_schemas_dir() / "review_item.v1.avsc")
    decoder = EventDecoder(schema_registry(settings), reader)
    consumer = Consumer(
        client_config(
            settings,
            **{
                "group.id": f"fraud-review-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            },
        )
    )
    # Read every partition from its start without joining a group: no rebalance to wait for.
    topic = settings.topics.review
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    shown, last_seen = 0, time.monotonic()
    if not as_json:
        typer.echo(
            f"{'event time':<20} {'transaction':<26} {'source':<12} {'decision':<8} score  reasons"
        )
    try:
        while shown < limit and (follow or time.monotonic() - last_seen < idle_s):
            for message in consumer.consume(200, 0.5):
                if message.error() is not None:
                    continue
                last_seen = time.monotonic()
                item = decoder.decode(message.value())
                if _matches(item, reason, source) and shown < limit:
                    typer.echo(_format(item, as_json))
                    shown += 1
    finally:
        consumer.close()


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
        f"{result['decision']:<8} {result['score']:.3f}  {reasons}"
    )


def demo_command(
    events: Annotated[int, typer.Option(min=100, help="Simulated events to stream.")] = 20_000,
    rate: Annotated[float, typer.Option(min=10, help="Events per second.")] = 1_000,
    outage_s: Annotated[float, typer.Option(min=0, help="How long Redis is stopped midway.")] = 5,
) -> None:
    """The main job: stream simulated events through two workers, fail Redis midway, summarize."""
    from worker.demo import run_demo
    from worker.logs import configure_logging

    configure_logging("WARNING", False)
    typer.echo(run_demo(load_settings(), events, rate, outage_s))
