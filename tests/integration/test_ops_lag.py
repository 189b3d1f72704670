"""``fraud-worker lag`` on the real broker: a group's committed lag before and after a worker
consumed, counted the way KEDA's Kafka scaler counts it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from typer.testing import CliRunner

from tests.integration.harness import (
    encoded,
    produce,
    running_worker,
    simulated_events,
    wait_for,
    worker_settings,
)
from tests.integration.test_cli_errors import FRAUD_WORKER, dead_address, one_error_line
from worker.cli import app
from worker.kafka.config import reader_config
from worker.kafka.topics import caught_up
from worker.ops.lag import group_lag
from worker.settings import Settings


def _commit(settings: Settings, group: str, offset: TopicPartition) -> None:
    """Commit one partition's offset for ``group``, as a member would have."""
    consumer = Consumer(reader_config(settings, "commit", **{"group.id": group}))
    try:
        consumer.commit(offsets=[offset], asynchronous=False)
    finally:
        consumer.close()


def test_lag_before_and_after_a_worker_consumed(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    settings = worker_settings(live_stack, make_topic)
    group, topic = settings.worker.group_id, settings.topics.input
    produce(settings, encoded(simulated_events(90, seed=3)))

    before = group_lag(settings, group, [topic])
    assert not before.known, "nothing ran in this group yet"
    assert [p.partition for p in before.partitions] == [0, 1, 2]
    assert all(p.committed is None and p.lag == p.end for p in before.partitions)
    assert before.lag == 90, "an uncommitted partition counts from its start"

    fullest = max(before.partitions, key=lambda p: p.end)
    half = fullest.end // 2
    _commit(settings, group, TopicPartition(topic, fullest.partition, half))
    partly = group_lag(settings, group, [topic])
    assert partly.known
    for p in partly.partitions:
        if p.partition == fullest.partition:
            assert (p.committed, p.lag) == (half, p.end - half)
        else:
            assert p.committed is None and p.lag == p.end
    assert partly.lag == 90 - half

    with running_worker(settings):
        wait_for(lambda: caught_up(settings, group, topic))
    after = group_lag(settings, group, [topic])
    assert after.lag == 0
    assert all(p.committed == p.end for p in after.partitions)


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The installed ``fraud-worker``, as the user runs it, with only ``env``'s FRAUD_ keys."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    return subprocess.run(
        [FRAUD_WORKER, *args], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def config_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """The environment that points a command at ``settings``."""
    config = tmp_path / "worker.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    return {"FRAUD_CONFIG_FILE": str(config)}


def test_lag_through_the_cli_for_one_group_and_for_all(
    live_stack: Settings,
    make_topic: Callable[[int], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = worker_settings(live_stack, make_topic)
    produce(settings, encoded(simulated_events(30, seed=4)))
    monkeypatch.setenv("FRAUD_CONFIG_FILE", config_env(settings, tmp_path)["FRAUD_CONFIG_FILE"])
    runner = CliRunner()

    table = runner.invoke(app, ["lag"])
    assert table.exit_code == 0, table.output
    assert f"group {settings.worker.group_id}" in table.output
    assert "total lag 30" in table.output
    assert "does not know group" in table.output, "a group nobody ran is named as such"

    shown = runner.invoke(app, ["lag", "--all", "--json"])
    assert shown.exit_code == 0, shown.output
    groups = {g["group"]: g for g in json.loads(shown.output.splitlines()[-1])["groups"]}
    topics = settings.topics
    assert {name: g["topics"] for name, g in groups.items()} == {
        settings.worker.group_id: [topics.input],
        settings.labels.group_id: [topics.labels],
        settings.rescore.group_id: [topics.degraded],
        settings.triage.group_id: [topics.review, topics.degraded],
    }
    assert groups[settings.worker.group_id]["lag"] == 30
    assert sum(p["lag"] for p in groups[settings.worker.group_id]["partitions"]) == 30
    assert groups[settings.labels.group_id]["lag"] == 0, "nothing written to the labels topic"


def test_lag_errors_are_one_line(
    live_stack: Settings, make_topic: Callable[[int], str], tmp_path: Path
) -> None:
    settings = worker_settings(live_stack, make_topic)
    env = config_env(settings, tmp_path)
    missing = one_error_line(run_cli(["lag", "--topic", "no.such.topic"], env))
    assert "'no.such.topic' does not exist" in missing and "fraud-worker topics create" in missing
    down = one_error_line(
        run_cli(["lag"], {**env, "FRAUD_KAFKA__BOOTSTRAP_SERVERS": dead_address()})
    )
    assert "did not answer" in down and "FRAUD_KAFKA__BOOTSTRAP_SERVERS" in down
    both = one_error_line(run_cli(["lag", "--all", "--group", "g"], env))
    assert "--all" in both
