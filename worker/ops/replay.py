"""Re-publish selected dead letters' raw input, after the fix that makes them decodable.

Exactly the original bytes and key go back, with one header marking the replay
(``fraud-replayed-from: <dead-letter partition>:<offset>``); to the partition they came from
when they go back to their source topic (a card's events keep to one partition), else where
their key falls. Idempotent producer, acks from all in-sync replicas, flushed before the
summary.

Nothing remembers what was replayed: a replay is an explicit operator action, bounded by its
selection (``--since-ms``/``--until-ms``, ``--code``, ``--limit``), and the worker dedupes
nothing — replaying a dead letter twice gives its event two answers. The summary names the
``--since-ms`` that leaves this replay's dead letters out of the next one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from worker.errors import FraudWorkerError
from worker.kafka.config import client_config
from worker.kafka.producer import producer_config
from worker.ops.dead_letters import DeadLetter, ReadCounts, Selection, read_dead_letters
from worker.ops.lag import MissingTopic
from worker.settings import Settings

REPLAY_HEADER = "fraud-replayed-from"
QUEUE_FULL_WAIT_S = 60.0


class ReplayError(FraudWorkerError):
    """Replayed records were not all acknowledged."""


@dataclass(frozen=True)
class Skipped:
    """A selected dead letter that cannot be replayed (its raw input was cut), and where its
    input can be fetched whole."""

    where: str  # in the dead-letter topic, partition:offset
    error_code: str
    source: str  # topic partition:offset of the input
    raw_size: int


@dataclass
class ReplaySummary:
    source_topic: str
    target: str
    dry_run: bool
    read: int = 0  # records read from the dead-letter topic
    unreadable: int = 0  # records there that are not dead letters
    selected: int = 0
    replayable: int = 0  # selected and whole (sent, or would be in a dry run)
    acknowledged: int = 0
    failed: int = 0
    first_error: str | None = None
    truncated: list[Skipped] = field(default_factory=list)
    codes: Counter[str] = field(default_factory=Counter)
    last_failed_at_ms: int | None = None

    @property
    def next_since_ms(self) -> int | None:
        """A ``--since-ms`` that leaves every dead letter selected here out of the next replay
        (later dead letters — a replayed event that failed again among them — stay in)."""
        return None if self.last_failed_at_ms is None else self.last_failed_at_ms + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_topic": self.source_topic,
            "target": self.target,
            "dry_run": self.dry_run,
            "read": self.read,
            "unreadable": self.unreadable,
            "selected": self.selected,
            "replayable": self.replayable,
            "replayed": self.acknowledged,
            "failed": self.failed,
            "first_error": self.first_error,
            "codes": dict(self.codes),
            "truncated": [vars(s) for s in self.truncated],
            "next_since_ms": self.next_since_ms,
        }


def replay_topics(settings: Settings, to: str | None, source_topic: str | None) -> tuple[str, str]:
    """(source topic, target): dead letters of the input topic unless ``source_topic`` names
    another; they go back where they came from unless ``to`` names a topic."""
    source = source_topic or settings.topics.input
    return source, to or source


def replay_dead_letters(
    settings: Settings,
    selection: Selection,
    target: str,
    dry_run: bool = False,
    on_selected: Callable[[DeadLetter], object] = lambda _letter: None,
) -> ReplaySummary:
    """Replay the selected dead letters' raw input to ``target`` (nothing in a dry run);
    ``on_selected`` sees each selected one, in dead-letter order."""
    source = selection.source_topic or "*"
    summary = ReplaySummary(source, target, dry_run)
    counts = ReadCounts()
    sender = None if dry_run else _Sender(settings, target, summary)
    if dry_run:
        _check_target(Producer(client_config(settings)), target, settings)
    try:
        for letter in selection.select(read_dead_letters(settings, counts)):
            on_selected(letter)
            _count(summary, letter)
            if not letter.truncated and sender is not None:
                sender.send(letter)
    finally:
        if sender is not None:
            sender.flush(settings.worker.flush_timeout_ms / 1000)
    summary.read, summary.unreadable = counts.read, counts.unreadable
    return summary


def _count(summary: ReplaySummary, letter: DeadLetter) -> None:
    summary.selected += 1
    summary.codes[letter.error_code] += 1
    last = summary.last_failed_at_ms
    summary.last_failed_at_ms = max(last or letter.failed_at_ms, letter.failed_at_ms)
    if letter.truncated:
        skipped = Skipped(letter.where, letter.error_code, letter.source, letter.raw_size)
        summary.truncated.append(skipped)
    else:
        summary.replayable += 1


def _check_target(producer: Producer, target: str, settings: Settings) -> int:
    """The partition count of ``target``; MissingTopic when it does not exist (the broker
    might create it on the first record, with its defaults)."""
    metadata = producer.list_topics(target, timeout=10).topics.get(target)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise MissingTopic(
            f"topic {target!r} does not exist on the broker at {settings.kafka_bootstrap}; "
            "name an existing topic with --to, or create ours with `fraud-worker topics create`"
        )
    return len(metadata.partitions)


class _Sender:
    """The idempotent producer of the replay and its acknowledgements."""

    def __init__(self, settings: Settings, target: str, summary: ReplaySummary) -> None:
        worker = settings.worker
        config = producer_config(worker.flush_timeout_ms, worker.max_message_bytes)
        self.producer = Producer(client_config(settings, **config))
        self.target = target
        self.partitions = _check_target(self.producer, target, settings)
        self.summary = summary
        self.sent = 0

    def send(self, letter: DeadLetter) -> None:
        headers = [(REPLAY_HEADER, letter.where.encode())]
        kwargs: dict[str, Any] = {"headers": headers, "on_delivery": self._delivered}
        if letter.source_topic == self.target and letter.source_partition < self.partitions:
            kwargs["partition"] = letter.source_partition
        for _ in range(int(QUEUE_FULL_WAIT_S / 0.05)):
            try:
                self.producer.produce(self.target, letter.raw_value, letter.raw_key, **kwargs)
                self.sent += 1
                self.producer.poll(0)
                return
            except BufferError:  # the local queue is full: let deliveries drain
                self.producer.poll(0.05)
        raise ReplayError(f"the producer's queue stayed full for {QUEUE_FULL_WAIT_S:g} s")

    def flush(self, timeout_s: float) -> None:
        unsent = self.producer.flush(timeout_s)
        if unsent:
            self._failed(f"{unsent} records still unacknowledged after {timeout_s:g} s", unsent)

    def _delivered(self, error: KafkaError | None, _message: Message) -> None:
        if error is None:
            self.summary.acknowledged += 1
        else:
            self._failed(error.str())

    def _failed(self, reason: str, count: int = 1) -> None:
        self.summary.failed += count
        self.summary.first_error = self.summary.first_error or reason
