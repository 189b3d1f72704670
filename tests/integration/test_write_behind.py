"""Write-behind against the real Redis: replies read later, outcomes in the breaker."""

from __future__ import annotations

import uuid
from pathlib import Path

import redis

from tests.factories import free_port
from worker.breaker import BreakerConfig, CircuitBreaker
from worker.ladder.writes import WriteBehind
from worker.settings import Settings
from worker.stack.redis import RedisNode


def breaker() -> CircuitBreaker:
    return CircuitBreaker("cache", BreakerConfig(window_size=10, minimum_calls=10))


def outcomes(b: CircuitBreaker) -> dict[str, int]:
    return {k: v for k, v in b.snapshot().calls_by_outcome.items() if v}


def test_writes_land_once_their_replies_are_read(redis_client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex[:8]}"
    writes, b = WriteBehind(redis_client), breaker()
    writes.send(b, ["SET", key, "1"])
    writes.send(b, ["INCRBY", key, "2"])
    writes.wait()
    assert redis_client.get(key) == b"3"
    assert outcomes(b) == {"success": 2}
    writes.close()


def test_a_failed_command_is_a_failure_and_the_next_one_still_works(
    redis_client: redis.Redis,
) -> None:
    key = f"test:{uuid.uuid4().hex[:8]}"
    writes, b = WriteBehind(redis_client), breaker()
    writes.send(b, ["SET", key, "x"])
    writes.send(b, ["INCR", key])  # not an integer: an error reply
    writes.send(b, ["APPEND", key, "y"])
    writes.wait()
    assert redis_client.get(key) == b"xy"
    assert outcomes(b) == {"success": 2, "failure": 1}
    writes.close()


def test_an_unreachable_redis_is_recorded_not_raised() -> None:
    client = redis.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    writes, b = WriteBehind(client), breaker()
    writes.send(b, ["SET", "k", "v"])
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
        writes.send(b, ["SET", "k", "1"])
        writes.wait()
        node.stop()
        node.start()
        node.wait_ready(10)
        writes.send(b, ["SET", "k", "2"])
        writes.wait()
        assert outcomes(b) == {"success": 2}
        assert client.get("k") == b"2"
        writes.close()
    finally:
        node.stop()
