"""Write-behind against the real Redis: replies read later, outcomes in the breaker."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
import redis

from tests.factories import free_port
from worker.breaker import BreakerConfig, BreakerState, CircuitBreaker
from worker.ladder.writes import WriteBehind
from worker.settings import Settings
from worker.stack.redis import RedisNode


def breaker() -> CircuitBreaker:
    return CircuitBreaker("cache", BreakerConfig(window_size=10, minimum_calls=10))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def opened_breaker(clock: FakeClock) -> CircuitBreaker:
    """A breaker just opened by two failures; half-open (2 trials) 5 s later."""
    config = BreakerConfig(window_size=2, minimum_calls=2, half_open_permits=2, open_wait_s=5)
    b = CircuitBreaker("feature_store", config, clock)
    for _ in range(2):
        b.record(0.0, failed=True)
    assert b.state is BreakerState.OPEN
    return b


def outcomes(b: CircuitBreaker) -> dict[str, int]:
    return {k: v for k, v in b.snapshot().calls_by_outcome.items() if v}


def test_writes_land_once_their_replies_are_read(redis_client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex[:8]}"
    writes, b = WriteBehind(redis_client), breaker()
    writes.send(b, [["SET", key, "1"]])
    writes.send(b, [["INCRBY", key, "2"]])
    writes.wait()
    assert redis_client.get(key) == b"3"
    assert outcomes(b) == {"success": 2}
    writes.close()


def test_a_failed_command_is_a_failure_and_the_next_one_still_works(
    redis_client: redis.Redis,
) -> None:
    key = f"test:{uuid.uuid4().hex[:8]}"
    writes, b = WriteBehind(redis_client), breaker()
    writes.send(b, [["SET", key, "x"]])
    writes.send(b, [["INCR", key]])  # not an integer: an error reply
    writes.send(b, [["APPEND", key, "y"]])
    writes.wait()
    assert redis_client.get(key) == b"xy"
    assert outcomes(b) == {"success": 2, "failure": 1}
    writes.close()


def test_an_unreachable_redis_is_recorded_not_raised() -> None:
    client = redis.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    writes, b = WriteBehind(client), breaker()
    writes.send(b, [["SET", "k", "v"], ["SET", "k2", "v"]])
    writes.wait()
    assert outcomes(b) == {"failure": 1}
    writes.close()


def test_the_first_write_after_a_redis_restart_lands(tmp_path: Path, live_stack: Settings) -> None:
    """The writer's own connection went stale with the restart: it is replaced before use,
    so a breaker's trial call after an outage finds Redis back instead of a dead socket."""
    node = RedisNode(tmp_path / "redis", free_port())
    node.start()
    node.wait_ready(10)
    try:
        client = redis.Redis.from_url(node.url, socket_timeout=1)
        writes, b = WriteBehind(client), breaker()
        writes.send(b, [["SET", "k", "1"]])
        writes.wait()
        node.stop()
        node.start()
        node.wait_ready(10)
        writes.send(b, [["SET", "k", "2"]])
        writes.wait()
        assert outcomes(b) == {"success": 2}
        assert client.get("k") == b"2"
        writes.close()
    finally:
        node.stop()


def test_a_batch_of_writes_is_one_call_one_permit_one_outcome(redis_client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex[:8]}"
    writes, b = WriteBehind(redis_client), breaker()
    writes.send(b, [["INCRBY", key, "1"] for _ in range(7)])
    writes.wait()
    assert redis_client.get(key) == b"7"
    assert outcomes(b) == {"success": 1}
    writes.send(b, [["SET", key, "x"], ["INCR", key], ["APPEND", key, "y"]])
    writes.wait()
    assert redis_client.get(key) == b"xy", "Redis runs the others all the same"
    assert outcomes(b) == {"success": 1, "failure": 1}
    writes.close()


def test_half_open_keeps_all_of_a_batchs_writes(redis_client: redis.Redis) -> None:
    """After an outage the first batch's writes go out whole on one trial permit: never a
    silent part of them (the issue saw 512 of 1,601 keys written)."""
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    clock = FakeClock()
    writes, b = WriteBehind(redis_client), opened_breaker(clock)
    clock.now += 5
    writes.send(b, [["SET", f"{prefix}{i}", str(i)] for i in range(7)])
    writes.wait()
    assert [redis_client.get(f"{prefix}{i}") for i in range(7)] == [
        str(i).encode() for i in range(7)
    ]
    assert b.state is BreakerState.HALF_OPEN, "one trial of two"
    writes.close()


def test_skipped_writes_are_counted_and_logged_once_per_open_period(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    key = f"test:{uuid.uuid4().hex[:8]}"
    clock = FakeClock()
    writes, b = WriteBehind(redis_client), opened_breaker(clock)
    with caplog.at_level(logging.WARNING, logger="worker.ladder.writes"):
        for _ in range(3):
            writes.send(b, [["SET", key, "1"], ["EXPIRE", key, "60"]])
        assert writes.skipped == {"feature_store": 6}
        assert len(caplog.records) == 1, "once per open period, not per batch"
        clock.now += 5  # half-open: the writes go out again
        writes.send(b, [["SET", key, "2"]])
        writes.wait()
        writes.send(b, [["SET", key, "3"]])
        writes.wait()
        assert b.state is BreakerState.CLOSED
        text = f"{key}:text"
        redis_client.set(text, "x")
        for _ in range(2):  # an error reply in each call: the breaker opens again
            writes.send(b, [["INCR", text]])
            writes.wait()
        assert b.state is BreakerState.OPEN
        writes.send(b, [["SET", key, "4"]])
    assert writes.skipped == {"feature_store": 7}
    assert redis_client.get(key) == b"3"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, "a second open period, a second warning"
    writes.close()
