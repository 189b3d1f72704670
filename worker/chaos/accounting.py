"""What came out, for what went in: a read_committed reader of the scored and dead-letter
topics, and the ledger that matches every output to the input it answers.

A valid event is answered by a scored result with its transaction id; any input (valid or
not) by a dead letter that names its source partition and offset. Lost: an input with no
answer. Duplicates: records beyond one per input and topic (a valid event may have both a
result and a dead letter, e.g. for a review item too large to publish: not a duplicate).
In exactly-once mode the reader must see no duplicates: it reads committed records only, so
an aborted batch never counts.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from worker.chaos.stream import Delivered
from worker.codec import (
    DecodeError,
    EventDecoder,
    LocalSchemaRegistry,
    default_schemas_dir,
    load_schema,
)
from worker.kafka.config import reader_config
from worker.ladder.types import SOURCES as LADDER_SOURCES
from worker.settings import Settings

SOURCES = tuple(source.value for source in LADDER_SOURCES)


@dataclass(frozen=True)
class Result:
    transaction_id: str
    source: str
    scored_at_ms: int


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    error_code: str


@dataclass
class OutputReader:
    """Reads every partition of the scored and dead-letter topics from the start, without
    joining a group (no rebalance to wait for), committed records only."""

    settings: Settings
    results: list[Result] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    unreadable: int = 0

    def __post_init__(self) -> None:
        registry = LocalSchemaRegistry(default_schemas_dir())
        schemas = default_schemas_dir()
        topics = self.settings.topics
        self._decoders = {
            topics.scored: EventDecoder(registry, load_schema(schemas / "scored_result.v1.avsc")),
            topics.dead_letter: EventDecoder(
                registry, load_schema(schemas / "dead_letter.v1.avsc")
            ),
        }
        self._consumer = Consumer(reader_config(self.settings, "chaos-reader"))
        self._consumer.assign(
            [
                TopicPartition(topic, p, OFFSET_BEGINNING)
                for topic, partitions in (
                    (topics.scored, topics.output_partitions),
                    (topics.dead_letter, 1),
                )
                for p in range(partitions)
            ]
        )

    def poll(self, timeout_s: float = 0.5) -> int:
        """Read what has arrived; the number of records read."""
        messages = [m for m in self._consumer.consume(2000, timeout_s) if m.error() is None]
        for message in messages:
            self._take(message)
        return len(messages)

    def drain(self, idle_s: float = 3.0, limit_s: float = 60.0) -> None:
        """Read until nothing has come for ``idle_s`` (or ``limit_s`` in all)."""
        deadline = time.monotonic() + limit_s
        idle_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - idle_since < idle_s:
            if self.poll(0.5):
                idle_since = time.monotonic()

    def close(self) -> None:
        self._consumer.close()

    def _take(self, message: Message) -> None:
        topic = str(message.topic())
        try:
            record = self._decoders[topic].decode(message.value())
        except DecodeError:
            self.unreadable += 1
            return
        if topic == self.settings.topics.scored:
            self.results.append(
                Result(record["transaction_id"], record["source"], record["scored_at_ms"])
            )
        elif record["source_topic"] == self.settings.topics.input:
            self.dead.append(
                DeadLetter(
                    record["source_partition"], record["source_offset"], record["error_code"]
                )
            )


@dataclass(frozen=True)
class Tally:
    """The accounting of one scenario."""

    valid_in: int
    invalid_in: int
    distinct: int
    lost_valid: int
    lost_invalid: int
    duplicates: int
    by_source: dict[str, int]
    dead_letters: int
    valid_dead_lettered: int
    valid_scored_and_dead_lettered: int
    dead_letter_codes: dict[str, int]
    unexpected: int

    @property
    def events_in(self) -> int:
        return self.valid_in + self.invalid_in

    @property
    def lost(self) -> int:
        return self.lost_valid + self.lost_invalid


@dataclass(frozen=True)
class Answers:
    """The output records that answer one input."""

    valid: bool
    scored: int
    dead: int

    @property
    def total(self) -> int:
        return self.scored + self.dead


@dataclass
class Ledger:
    """The inputs that reached the broker, by where they landed."""

    delivered: list[Delivered]

    def answers(self, reader: OutputReader) -> tuple[list[Answers], int]:
        """Per input, the records that answer it; and the records that answer no input."""
        by_id = Counter(r.transaction_id for r in reader.results)
        by_offset = Counter((d.partition, d.offset) for d in reader.dead)
        answers = [
            Answers(
                item.input.valid,
                by_id.get(item.input.transaction_id or "", 0),
                by_offset.get((item.partition, item.offset), 0),
            )
            for item in self.delivered
        ]
        ids = {d.input.transaction_id for d in self.delivered if d.input.valid}
        offsets = {(d.partition, d.offset) for d in self.delivered}
        unexpected = sum(n for tid, n in by_id.items() if tid not in ids)
        unexpected += sum(n for where, n in by_offset.items() if where not in offsets)
        return answers, unexpected

    def unanswered(self, reader: OutputReader) -> int:
        return sum(1 for a in self.answers(reader)[0] if a.total == 0)

    def tally(self, reader: OutputReader) -> Tally:
        answers, unexpected = self.answers(reader)
        valid = [a for a in answers if a.valid]
        invalid = [a for a in answers if not a.valid]
        sources = Counter(r.source for r in reader.results)
        return Tally(
            valid_in=len(valid),
            invalid_in=len(invalid),
            distinct=sum(1 for a in answers if a.total),
            lost_valid=sum(1 for a in valid if not a.total),
            lost_invalid=sum(1 for a in invalid if not a.total),
            duplicates=sum(max(0, a.scored - 1) + max(0, a.dead - 1) for a in answers),
            by_source={s: sources.get(s, 0) for s in SOURCES},
            dead_letters=len(reader.dead),
            valid_dead_lettered=sum(1 for a in valid if a.dead and not a.scored),
            valid_scored_and_dead_lettered=sum(1 for a in valid if a.dead and a.scored),
            dead_letter_codes=dict(Counter(d.error_code for d in reader.dead)),
            unexpected=unexpected,
        )


def back_to_primary_s(results: list[Result], fault_ended: float | None) -> float | None:
    """Seconds from the fault's end to the first result the primary scored after it; None
    when the fault did not end or the primary never answered again."""
    if fault_ended is None:
        return None
    ended_ms = fault_ended * 1000
    after = [
        r.scored_at_ms for r in results if r.source == "primary" and r.scored_at_ms >= ended_ms
    ]
    return (min(after) - ended_ms) / 1000 if after else None


def steady_primary_s(results: list[Result], fault_ended: float | None) -> float | None:
    """Seconds from the fault's end to the last degraded result (below the primary and the
    cache) scored after it: from then on every answer came from the primary or the cache.
    0 when none came after the end; None when the fault did not end."""
    if fault_ended is None:
        return None
    ended_ms = fault_ended * 1000
    late = [
        r.scored_at_ms
        for r in results
        if r.source not in ("primary", "cache") and r.scored_at_ms >= ended_ms
    ]
    return (max(late) - ended_ms) / 1000 if late else 0.0


def degraded_results(results: list[Result]) -> int:
    """Results that came from below the primary (the cache answers with a primary score)."""
    return sum(1 for r in results if r.source not in ("primary", "cache"))
