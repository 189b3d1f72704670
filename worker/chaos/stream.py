"""The stream a scenario sends: simulated events with undecodable and oversized messages mixed
in, produced at a steady rate; each delivery report says where an input landed.

Where an input landed (partition, offset) is how the accounting finds an answer for it: a
valid event by its transaction id on the scored topic, any input by the source offset that
its dead letter names.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import KafkaError, Message, Producer

from worker.codec import RecordEncoder, frame
from worker.kafka.config import client_config
from worker.settings import Settings
from worker.simulator import SimulationConfig, simulate

ONE_MB = 1_000_000
# The producer's own cap: a 1 MB value plus its key and record overhead must still leave,
# and the broker's default per-batch limit (1,048,588 bytes) is what really bounds it.
PRODUCER_MAX_BYTES = 1_048_576
POISON_KINDS = ("garbage", "wrong_magic", "truncated", "unknown_schema", "empty")


@dataclass(frozen=True)
class Input:
    """One message to send; ``transaction_id`` is set for a decodable event."""

    key: bytes | None
    value: bytes
    kind: str
    transaction_id: str | None = None

    @property
    def valid(self) -> bool:
        return self.transaction_id is not None


@dataclass(frozen=True)
class Delivered:
    input: Input
    partition: int
    offset: int


def simulated_events(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` simulated events in time order (about 2,000 a simulated day)."""
    days = math.ceil(count / 1500) + 2
    config = SimulationConfig(n_customers=1000, n_terminals=2000, n_days=days, seed=seed)
    transactions = simulate(config)
    if len(transactions) < count:
        raise ValueError(f"the simulation gave {len(transactions)} events, {count} wanted")
    return transactions.event_dicts(0, count)


def valid_input(encoder: RecordEncoder, event: dict[str, Any], kind: str = "valid") -> Input:
    return Input(event["card_id"].encode(), encoder.encode(event), kind, event["transaction_id"])


def poison(kind: str, template: bytes, rng: np.random.Generator) -> Input:
    """An undecodable message of ``kind``, made from a valid framed event ``template``."""
    values = {
        "garbage": rng.bytes(64),
        "wrong_magic": b"\x07" + template[1:],
        "truncated": template[: len(template) // 2],
        "unknown_schema": frame(999, template[5:]),
        "empty": b"",
    }
    return Input(b"poison", values[kind], kind)


def oversized(
    encoder: RecordEncoder, event: dict[str, Any], rng: np.random.Generator
) -> list[Input]:
    """1,000,000 random bytes (undecodable), and a valid event whose merchant category is a
    1,000,000-character string: it decodes and scores, but its review item cannot fit the
    worker's 1 MB output limit. It gets a transaction id of its own: answers are matched by it."""
    big = {
        **event,
        "transaction_id": f"{event['transaction_id']}-big",
        "merchant_category": "x" * ONE_MB,
    }
    return [
        Input(b"oversized", rng.bytes(ONE_MB), "oversized_random"),
        valid_input(encoder, big, "oversized_field"),
    ]


def build_inputs(
    events: list[dict[str, Any]], mix: str, encoder: RecordEncoder, seed: int
) -> list[Input]:
    """The scenario's messages. ``mix``: ``sprinkle`` (one of each poison kind midway),
    ``poison`` (also one message in 20 undecodable), ``oversized`` (sprinkle plus 1 MB
    messages at a quarter, half and three quarters of the stream)."""
    rng = np.random.default_rng(seed)
    inputs = [valid_input(encoder, event) for event in events]
    template = inputs[0].value
    extras: dict[int, list[Input]] = {
        len(inputs) // 2: [poison(k, template, rng) for k in POISON_KINDS]
    }
    if mix == "poison":
        for n, at in enumerate(range(10, len(inputs), 19)):
            extras.setdefault(at, []).append(
                poison(POISON_KINDS[n % len(POISON_KINDS)], template, rng)
            )
    elif mix == "oversized":
        for quarter in (1, 2, 3):
            event = events[len(events) * quarter // 4]
            extras.setdefault(len(inputs) * quarter // 4 + 1, []).extend(
                oversized(encoder, event, rng)
            )
    return [item for at, one in enumerate(inputs) for item in (*extras.get(at, []), one)]


@dataclass
class StreamProducer:
    """Produces the inputs at ``rate`` per second in a thread of its own; an idempotent
    producer, so a broker killed mid-stream never doubles an input."""

    settings: Settings
    topic: str
    inputs: list[Input]
    rate: float
    delivered: list[Delivered] = field(default_factory=list)
    failed: list[tuple[Input, str]] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chaos-producer", daemon=True)

    def start(self) -> None:
        self.started_at = time.time()
        self._thread.start()

    def join(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self.finished_at > 0

    def _report(self, item: Input, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed.append((item, str(error)))
        else:
            self.delivered.append(
                Delivered(item, int(message.partition() or 0), int(message.offset() or 0))
            )

    def _run(self) -> None:
        producer = Producer(
            client_config(
                self.settings,
                **{
                    "enable.idempotence": True,
                    "linger.ms": 5,
                    "message.max.bytes": PRODUCER_MAX_BYTES,
                    "delivery.timeout.ms": 300_000,
                },
            )
        )
        start = time.monotonic()
        for i, item in enumerate(self.inputs):
            delay = start + i / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._produce(producer, item)
        producer.flush(300)
        self.finished_at = time.time()

    def _produce(self, producer: Producer, item: Input) -> None:
        def report(error: KafkaError | None, message: Message) -> None:
            self._report(item, error, message)

        while True:
            try:
                producer.produce(self.topic, item.value, item.key, on_delivery=report)
                producer.poll(0)
                return
            except BufferError:  # the broker is away and the queue is full: wait for room
                producer.poll(0.1)
