"""``fraud-worker dlq replay`` on the real broker: events dead-lettered for an unknown schema
id are replayed after the fix (the id registered), byte for byte, and then scored; a dead
letter whose raw input was cut is reported, never replayed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from typer.testing import CliRunner

from tests.integration.harness import (
    encoded,
    read_topic,
    running_worker,
    simulated_events,
    worker_settings,
)
from tests.integration.test_ops_lag import config_env
from worker.cli import app
from worker.codec import default_schemas_dir, frame
from worker.kafka.config import client_config, reader_config
from worker.kafka.topics import topic_size
from worker.ops.dead_letters import DeadLetter, Selection
from worker.ops.replay import REPLAY_HEADER, replay_dead_letters
from worker.settings import Settings

UNKNOWN_ID = 999
RAW_MAX_BYTES = 512


def produce_at(settings: Settings, records: list[tuple[bytes, bytes]]) -> list[tuple[int, int]]:
    """Produce to the input topic; where each record landed (partition, offset)."""
    producer = Producer(client_config(settings))
    placed: dict[int, tuple[int, int]] = {}

    def delivered(index: int) -> Callable[[KafkaError | None, Message], None]:
        def note(error: KafkaError | None, message: Message) -> None:
            assert error is None, error
            placed[index] = (int(message.partition() or 0), int(message.offset() or 0))

        return note

    for i, (key, value) in enumerate(records):
        producer.produce(settings.topics.input, value, key, on_delivery=delivered(i))
    assert producer.flush(30) == 0
    return [placed[i] for i in range(len(records))]


def replayed_records(settings: Settings, expected: int) -> list[Message]:
    """The records of the input topic that carry the replay header."""
    consumer = Consumer(reader_config(settings, "replayed"))
    topic = settings.topics.input
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
    found: list[Message] = []
    try:
        for _ in range(40):  # until every record written so far was seen (about 20 s at most)
            for message in consumer.consume(500, 0.5):
                if message.error() is None and REPLAY_HEADER in dict(message.headers() or []):
                    found.append(message)
            if len(found) >= expected and not consumer.consume(500, 0.5):
                break
    finally:
        consumer.close()
    return found


def fixed_schemas(tmp_path: Path) -> Path:
    """The fix: the producers' unknown schema id registered (as the v2 transaction)."""
    schemas = tmp_path / "schemas"
    shutil.copytree(default_schemas_dir(), schemas)
    index = json.loads((schemas / "registry.json").read_text())
    index["schemas"][str(UNKNOWN_ID)] = "transaction.v2.avsc"
    index["subjects"]["transactions-value"].append(UNKNOWN_ID)
    (schemas / "registry.json").write_text(json.dumps(index))
    return schemas


def with_schemas(settings: Settings, local_dir: Path) -> Settings:
    data = settings.model_dump()
    data["schemas"] = {**data["schemas"], "local_dir": local_dir}
    return Settings.model_validate(data)


def test_dead_letters_are_replayed_after_the_fix_byte_for_byte(
    live_stack: Settings, make_topic: Callable[[int], str], tmp_path: Path
) -> None:
    settings = worker_settings(live_stack, make_topic, dead_letter_raw_max_bytes=RAW_MAX_BYTES)
    topic = settings.topics.input
    events = simulated_events(21, seed=17)
    good = encoded(events[:20])
    key, value = encoded(events[20:])[0]
    assert key is not None and value is not None
    unknown = (key, frame(UNKNOWN_ID, value[5:]))  # a producer's schema id we do not know yet
    too_big = (b"k-big", frame(UNKNOWN_ID, b"\x02" * 2_000))  # cut in its dead letter
    wrong_magic = (b"k-magic", b"\x07" + value[1:])
    placed = produce_at(settings, [*good, unknown, too_big, wrong_magic])  # type: ignore[list-item]
    with running_worker(settings):
        read_topic(settings, settings.topics.scored, "scored", 20)
        read_topic(settings, settings.topics.dead_letter, "dead_letter", 3)
    size = topic_size(settings, topic)

    selection = Selection(frozenset({"unknown_schema_id"}), source_topic=topic)
    listed: list[DeadLetter] = []
    dry = replay_dead_letters(settings, selection, topic, dry_run=True, on_selected=listed.append)
    assert (dry.read, dry.selected, dry.replayable, dry.acknowledged) == (3, 2, 1, 0)
    assert {d.error_code for d in listed} == {"unknown_schema_id"}, "--code selects only it"
    assert topic_size(settings, topic) == size, "a dry run produces nothing"
    [cut] = dry.truncated
    big_partition, big_offset = placed[21]
    assert cut.source == f"{topic} {big_partition}:{big_offset}" and cut.raw_size == 2_005

    summary = replay_dead_letters(settings, selection, topic)
    assert (summary.selected, summary.acknowledged, summary.failed) == (2, 1, 0)
    assert [s.source for s in summary.truncated] == [cut.source], "reported, not replayed"
    assert topic_size(settings, topic) == size + 1
    [replayed] = replayed_records(settings, 1)
    [whole] = [d for d in listed if not d.truncated]
    assert replayed.value() == unknown[1] and replayed.key() == unknown[0]
    assert dict(replayed.headers() or [])[REPLAY_HEADER] == whole.where.encode()
    assert replayed.partition() == placed[20][0], "back to the partition it came from"

    fixed = with_schemas(settings, fixed_schemas(tmp_path))
    with running_worker(fixed):
        scored = read_topic(fixed, settings.topics.scored, "scored", 21)
    assert events[20]["transaction_id"] in {r["transaction_id"] for r, _ in scored}
    assert len(scored) == 21, "only the replayed event was new to the worker's group"


def test_dlq_replay_through_the_cli_lists_no_payload(
    live_stack: Settings,
    make_topic: Callable[[int], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = worker_settings(live_stack, make_topic)
    key, value = encoded(simulated_events(1, seed=18))[0]
    assert key is not None and value is not None
    produce_at(settings, [(key, frame(UNKNOWN_ID, value[5:])), (b"k-magic", b"\x07" + value[1:])])
    with running_worker(settings):
        read_topic(settings, settings.topics.dead_letter, "dead_letter", 2)
    for name, setting in config_env(settings, tmp_path).items():
        monkeypatch.setenv(name, setting)
    runner = CliRunner()
    size = topic_size(settings, settings.topics.input)

    dry = runner.invoke(app, ["dlq", "replay", "--code", "unknown_schema_id", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    [line] = [row for row in dry.output.splitlines() if row.startswith("dlq ")]
    assert "unknown_schema_id" in line and f"from {settings.topics.input} " in line
    assert "would replay 1" in dry.output
    assert key.decode() not in dry.output and "wrong_magic_byte" not in dry.output

    done = runner.invoke(app, ["dlq", "replay", "--json", "--since-ms", "0", "--limit", "5"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output.splitlines()[-1])
    assert (summary["selected"], summary["replayed"], summary["truncated"]) == (2, 2, [])
    assert summary["codes"] == {"unknown_schema_id": 1, "wrong_magic_byte": 1}
    assert topic_size(settings, settings.topics.input) == size + 2
    later = runner.invoke(app, ["dlq", "replay", "--since-ms", str(summary["next_since_ms"])])
    assert later.exit_code == 0 and "selected 0 dead letters" in later.output
