"""The designs the end-to-end benchmark compares, each run as its own process over the
same prefilled input, each to its own output topic and consumer group:

- ``passthrough``: consume a batch, produce the bytes unchanged, wait for acks, store offsets
  — the I/O ceiling of a Python confluent-kafka worker here;
- ``per-message``: the textbook resilient predictor, one event at a time — decode, Redis GET
  of the cached score, feature-store read and update, the primary at batch size 1, LightGBM
  on one row when the primary fails, produce; offsets auto-committed at the usual interval;
- ``ours``: the worker (``worker.loop.Worker``) at its default settings;
- ``quix-passthrough``: a Quix Streams application that produces the input's bytes unchanged
  (no deserialization), at-least-once (Quix's default: a checkpoint commit every 5 s);
- ``quix-per-message``: Quix Streams doing ``per-message``'s work (``PerMessage.score_one``)
  in an ``sdf.apply``, so its scores are ours.

The Quix designs run in the benchmark's own venv (``worker.stack.benchtools``: quixstreams
pins an older confluent-kafka than ours); only they import it.

Each writes its figures (events, wall and CPU seconds from its first message, peak RSS) to a
JSON file when it has processed the number of events asked for.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, Producer

from worker.kafka.config import client_config
from worker.kafka.consumer import consumer_config, next_offsets
from worker.settings import Settings, load_settings

if TYPE_CHECKING:
    from worker.events import EventBatch

# Each design imports only what it uses, so peak RSS compares designs, not import lists.


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not ``getrusage``: on Linux its ``ru_maxrss``
    survives exec, so a child started by a big parent reports the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: kilobytes


def write_stats(path: Path, events: int, began: tuple[float, float]) -> None:
    wall0, cpu0 = began
    stats = {
        "events": events,
        "wall_s": time.monotonic() - wall0,
        "cpu_s": time.process_time() - cpu0,
        "peak_rss_mb": peak_rss_mb(),
    }
    path.write_text(json.dumps(stats))


def run_ours(settings: Settings, events: int, stats: Path) -> None:
    from worker.loop import Worker
    from worker.metrics import WorkerMetrics
    from worker.runtime import build_runtime

    worker = Worker(settings, build_runtime(settings), WorkerMetrics())
    worker.run(max_events=events)
    write_stats(stats, events, worker.first_batch_at or (time.monotonic(), time.process_time()))


def run_passthrough(settings: Settings, events: int, stats: Path) -> None:
    from worker.kafka.producer import producer_config

    consumer = Consumer(consumer_config(settings))
    producer = Producer(client_config(settings, **producer_config(30_000)))
    consumer.subscribe([settings.topics.input])
    done, began = 0, None
    out = settings.topics.scored
    while done < events:
        messages = [
            m for m in consumer.consume(settings.worker.batch_max, 0.02) if m.error() is None
        ]
        if not messages:
            continue
        began = began or (time.monotonic(), time.process_time())
        for message in messages:
            producer.produce(out, message.value(), message.key())
        producer.flush(30)
        consumer.store_offsets(offsets=next_offsets(messages))
        done += len(messages)
    write_stats(stats, done, began or (time.monotonic(), time.process_time()))
    consumer.close()


class PerMessage:
    """One event at a time, with the same models, store and cache keys as the worker."""

    def __init__(self, settings: Settings) -> None:
        from worker.codec import EventDecoder, RecordEncoder, default_schemas_dir, load_schema
        from worker.codec.avro import TRANSACTION_READER_SCHEMA
        from worker.codec.configured import schema_registry
        from worker.features.store import RedisFeatureStore
        from worker.models.fallback import FallbackModel
        from worker.models.manifest import load_manifest
        from worker.models.primary import PrimaryModel
        from worker.runtime import redis_client

        models = settings.worker.models_dir
        manifest = load_manifest(models)
        self.version = manifest.model_version
        self.primary = PrimaryModel.load(models, manifest, prefer_gpu=settings.worker.prefer_gpu)
        self.fallback = FallbackModel.load(models, manifest)
        self.redis = redis_client(settings)
        self.store = RedisFeatureStore(self.redis, f"{settings.redis.key_prefix}fs:")
        self.prefix = f"{settings.redis.key_prefix}score:{self.version}:"
        registry = schema_registry(settings)
        reader = load_schema(default_schemas_dir() / TRANSACTION_READER_SCHEMA)
        self.decoder = EventDecoder(registry, reader)
        self.encoder = RecordEncoder(registry, settings.schemas.scored_subject)

    def score_one(self, value: bytes) -> tuple[bytes, bytes]:
        import numpy as np

        from worker.events import EventBatch
        from worker.ladder.cache import cache_keys

        record = self.decoder.decode(value)
        event = EventBatch.from_records([record])
        key = cache_keys(event, np.arange(1), self.prefix)[0]
        cached = self.redis.get(key)
        if cached is not None:
            score, source = float(cached), "cache"
        else:
            score, source = self._model_score(event)
            self.redis.set(key, repr(score), ex=3600)
        result = {
            "transaction_id": record["transaction_id"],
            "card_id": record["card_id"],
            "event_time_ms": record["event_time_ms"],
            "score": score,
            "decision": "block" if score >= 0.9 else "review" if score >= 0.5 else "allow",
            "source": source,
            "model_version": self.version,
            "confidence": 1.0,
            "reasons": [],
            "degraded": source == "fallback",
            "failed_dependencies": [],
            "input_flags": [],
            "scoring_latency_ms": 0.0,
            "scored_at_ms": int(time.time() * 1000),
        }
        return record["card_id"].encode(), self.encoder.encode(result)

    def _model_score(self, event: EventBatch) -> tuple[float, str]:
        import numpy as np
        import redis

        from worker.features.event import event_features
        from worker.features.stateful import stateful_features
        from worker.ladder.level import valid_probabilities

        x_event = event_features(event)
        try:
            cards, terminals = self.store.aggregates(event)
            self.store.update(event)
            x = np.hstack([x_event, stateful_features(event, cards, terminals)])
            score = self.primary.predict(x).astype(np.float64)
            if valid_probabilities(score).all():
                return float(score[0]), "primary"
        except (redis.RedisError, RuntimeError):
            pass
        return float(self.fallback.predict(x_event)[0]), "fallback"


def run_per_message(settings: Settings, events: int, stats: Path) -> None:
    from worker.kafka.producer import producer_config

    scorer = PerMessage(settings)
    config: dict[str, Any] = {**consumer_config(settings), "enable.auto.offset.store": True}
    consumer = Consumer(config)
    producer = Producer(client_config(settings, **producer_config(30_000)))
    consumer.subscribe([settings.topics.input])
    done, began = 0, None
    while done < events:
        message = consumer.poll(0.1)
        if message is None or message.error() is not None:
            continue
        began = began or (time.monotonic(), time.process_time())
        key, value = scorer.score_one(message.value() or b"")
        producer.produce(settings.topics.scored, value, key)
        producer.poll(0)
        done += 1
    producer.flush(30)
    write_stats(stats, done, began or (time.monotonic(), time.process_time()))
    consumer.close()


def run_quix(settings: Settings, events: int, stats: Path, score: bool) -> None:
    """A Quix Streams application over the input: bytes in, bytes out (``score``: our
    per-message scoring in between); stops after ``events`` outputs."""
    # Only in the bench venv (worker.stack.benchtools), never in the project's.
    from quixstreams import Application  # type: ignore[import-not-found]

    state_dir = stats.parent / f"{stats.stem}.quix-state"
    app = Application(
        broker_address=settings.kafka_bootstrap,
        consumer_group=settings.worker.group_id,
        auto_offset_reset="earliest",
        consumer_extra_config=dict(settings.kafka.client_config),
        producer_extra_config=dict(settings.kafka.client_config),
        state_dir=state_dir,
        loglevel="WARNING",
        auto_create_topics=False,
        use_changelog_topics=False,
    )
    source = app.topic(settings.topics.input, key_deserializer="bytes", value_deserializer="bytes")
    sink = app.topic(settings.topics.scored, key_serializer="bytes", value_serializer="bytes")
    began: list[tuple[float, float]] = []

    def first_message(_value: bytes) -> None:
        if not began:
            began.append((time.monotonic(), time.process_time()))

    sdf = app.dataframe(source).update(first_message)
    if score:
        scorer = PerMessage(settings)
        # The input's key is the card id, which score_one would return as the key.
        sdf = sdf.apply(lambda value: scorer.score_one(value)[1])
    sdf.to_topic(sink)
    app.run(count=events, collect=False)
    write_stats(stats, events, began[0] if began else (time.monotonic(), time.process_time()))


def run_quix_passthrough(settings: Settings, events: int, stats: Path) -> None:
    run_quix(settings, events, stats, score=False)


def run_quix_per_message(settings: Settings, events: int, stats: Path) -> None:
    run_quix(settings, events, stats, score=True)


RUNNERS = {
    "ours": run_ours,
    "ours-exactly-once": run_ours,  # the same worker; its config asks for transactions
    "passthrough": run_passthrough,
    "per-message": run_per_message,
    "quix-passthrough": run_quix_passthrough,
    "quix-per-message": run_quix_per_message,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("design", choices=sorted(RUNNERS))
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the run here")
    args = parser.parse_args()
    settings = load_settings()
    if args.profile is None:
        RUNNERS[args.design](settings, args.events, args.stats)
        return
    import cProfile

    with cProfile.Profile() as profiler:
        RUNNERS[args.design](settings, args.events, args.stats)
    profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
