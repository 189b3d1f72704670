"""Faults by real means: Redis stopped and restarted, undecodable input, a worker killed
with SIGKILL, a member leaving its group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.integration.harness import (
    encoded,
    produce,
    read_topic,
    running_worker,
    simulated_events,
    worker_settings,
)
from worker.codec import frame
from worker.settings import Settings
from worker.stack.redis import RedisNode


def _with_redis(settings: Settings, url: str) -> Settings:
    data = settings.model_dump()
    data["redis"]["url"] = url
    data["breaker"].update(minimum_calls=2, window_size=4, open_wait_s=0.5, max_open_wait_s=1.0)
    return Settings.model_validate(data)


def test_redis_stopped_then_back_moves_the_ladder_down_and_up(
    live_stack: Settings, make_topic: Callable[[int], str], own_redis: RedisNode
) -> None:
    settings = _with_redis(worker_settings(live_stack, make_topic), own_redis.url)
    events = simulated_events(900, seed=21)
    with running_worker(settings):
        produce(settings, encoded(events[:300]))
        before = read_topic(settings, settings.topics.scored, "scored", 300)
        own_redis.stop()
        produce(settings, encoded(events[300:600]))
        during = read_topic(settings, settings.topics.scored, "scored", 600)
        own_redis.start()
        own_redis.wait_ready(10)
        time.sleep(1.5)  # let the breakers' open wait pass, so the trial calls find Redis back
        produce(settings, encoded(events[600:]))
        after = read_topic(settings, settings.topics.scored, "scored", 900)
    assert {r["source"] for r, _ in before} == {"primary"}
    down_ids = {e["transaction_id"] for e in events[300:600]}
    down = [r for r, _ in during if r["transaction_id"] in down_ids]
    assert len(down) == 300 and {r["source"] for r in down} == {"fallback"}
    failed = {dep.split(":")[0] for r in down for dep in r["failed_dependencies"]}
    assert failed == {"cache", "feature_store"}
    back_ids = {e["transaction_id"] for e in events[600:]}
    back = [r for r, _ in after if r["transaction_id"] in back_ids]
    assert len(back) == 300 and "primary" in {r["source"] for r in back}
    assert len({r["transaction_id"] for r, _ in after}) == 900, "nothing lost, nothing doubled"


def test_undecodable_events_go_to_the_dead_letter_topic_and_the_rest_is_scored(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    settings = worker_settings(live_stack, make_topic)
    good = encoded(simulated_events(50))
    valid_body = good[0][1][5:]  # type: ignore[index]
    bad = [
        (b"k1", frame(2, b"\x04\xff\xfe garbage: a string that is not UTF-8")),
        (b"k2", b"\x07" + good[1][1][1:]),  # type: ignore[index]
        (b"k3", good[2][1][:-3]),  # type: ignore[index]
        (b"k4", frame(999, valid_body)),
    ]
    produce(settings, good[:25] + bad + good[25:])
    with running_worker(settings):
        scored = read_topic(settings, settings.topics.scored, "scored", 50)
        dead = read_topic(settings, settings.topics.dead_letter, "dead_letter", 4)
    assert len(scored) == 50
    codes = {record["error_code"] for record, _ in dead}
    assert codes == {"invalid_body", "wrong_magic_byte", "truncated_body", "unknown_schema_id"}
    for record, message in dead:
        headers = dict(message.headers())
        assert headers["error_code"].decode() == record["error_code"]
        assert headers["source_topic"].decode() == settings.topics.input
        assert record["raw_value"] and record["source_offset"] >= 0


def test_older_and_newer_producer_schemas_are_scored(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    settings = worker_settings(live_stack, make_topic)
    events = simulated_events(60)
    v1 = [
        {k: v for k, v in e.items() if k not in ("entry_mode", "cardholder_verified")}
        for e in events[:30]
    ]
    v3 = [{**e, "device_id": "d-1", "merchant_name": None} for e in events[30:]]
    produce(settings, encoded(v1, schema_id=1) + encoded(v3, schema_id=3))
    with running_worker(settings):
        scored = read_topic(settings, settings.topics.scored, "scored", 60)
    assert len(scored) == 60
    old = [
        r for r, _ in scored if r["transaction_id"] in {e["transaction_id"] for e in events[:30]}
    ]
    assert len(old) == 30
    assert not any(r["input_flags"] for r in old), "a v1 producer's default is not a bad value"


def _spawn_worker(settings: Settings, tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    env["FRAUD_CONFIG_FILE"] = str(config)
    with (tmp_path / f"{name}.log").open("wb") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "worker", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
        )


def _produce_slowly(
    settings: Settings, values: list[tuple[bytes | None, bytes | None]]
) -> threading.Thread:
    """Produce in small chunks over a few seconds, so that a kill lands mid-stream."""

    def run() -> None:
        for start in range(0, len(values), 100):
            produce(settings, values[start : start + 100])
            time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_worker_killed_mid_stream_loses_nothing_after_restart(
    live_stack: Settings, make_topic: Callable[[int], str], tmp_path: Path
) -> None:
    settings = worker_settings(live_stack, make_topic, batch_max=50)
    events = simulated_events(3000, seed=5)
    first = _spawn_worker(settings, tmp_path, "first")
    producing = _produce_slowly(settings, encoded(events))
    seen = read_topic(settings, settings.topics.scored, "scored", 800, timeout_s=60, quiet_s=0)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert len(seen) < 3000, "the kill must land mid-stream"
    second = _spawn_worker(settings, tmp_path, "second")
    try:
        producing.join(60)
        results = read_topic(settings, settings.topics.scored, "scored", 3000, timeout_s=120)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, "SIGTERM: finish, commit, leave, exit 0"
    by_id: dict[str, list[dict[str, object]]] = {}
    for record, _ in results:
        by_id.setdefault(str(record["transaction_id"]), []).append(record)
    assert set(by_id) == {e["transaction_id"] for e in events}, "every input has a result"
    for repeats in by_id.values():
        answers = {(r["score"], r["decision"], r["model_version"]) for r in repeats}
        assert len(answers) == 1, "a redelivered event gets the same answer"


def test_two_workers_share_partitions_and_a_leaving_one_hands_over(
    live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    settings = worker_settings(live_stack, make_topic, batch_max=50)
    events = simulated_events(1200, seed=8)
    with running_worker(settings) as one, running_worker(settings) as two:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (one.assigned and two.assigned):
            time.sleep(0.2)
        owned = [set(one.assigned), set(two.assigned)]
        assert owned[0] and owned[1] and owned[0].isdisjoint(owned[1])
        produce(settings, encoded(events[:600]))
        read_topic(settings, settings.topics.scored, "scored", 600)
        two.stop()
        time.sleep(2)
        produce(settings, encoded(events[600:]))
        results = read_topic(settings, settings.topics.scored, "scored", 1200)
        assert one.assigned == {0, 1, 2}
    assert {r["transaction_id"] for r, _ in results} == {e["transaction_id"] for e in events}
