"""Read and write the real Redis server."""

from __future__ import annotations

import time
import uuid

import pytest
import redis


def test_pipelined_writes_are_read_back_in_one_round_trip(redis_client: redis.Redis) -> None:
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    keys = [f"{prefix}{i}" for i in range(50)]
    pipe = redis_client.pipeline(transaction=False)
    for i, key in enumerate(keys):
        pipe.set(key, f"value-{i}", ex=30)
    assert all(pipe.execute())
    assert redis_client.mget(keys) == [f"value-{i}".encode() for i in range(50)]
    assert redis_client.delete(*keys) == 50


def test_keys_expire_after_their_ttl(redis_client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex[:8]}"
    redis_client.set(key, b"x", px=50)
    assert 0 < redis_client.pttl(key) <= 50
    time.sleep(0.2)
    assert redis_client.get(key) is None


def test_the_server_is_a_real_redis(redis_client: redis.Redis) -> None:
    info = redis_client.info("server")
    assert info["redis_version"] and info["tcp_port"] > 0


def test_round_trip_returns_replies_in_order_and_stays_in_step_after_an_error(
    redis_client: redis.Redis,
) -> None:
    from worker.redis_io import round_trip

    key = f"test:{uuid.uuid4().hex[:8]}"
    assert round_trip(redis_client, [["SET", key, "x"], ["GET", key]]) == [b"OK", b"x"]
    with pytest.raises(redis.ResponseError):
        round_trip(redis_client, [["INCR", key], ["APPEND", key, "y"]])  # x is no integer
    assert round_trip(redis_client, [["GET", key]]) == [b"xy"], "the rest was still read"


def test_round_trip_to_nowhere_is_a_connection_error() -> None:
    from tests.factories import free_port
    from worker.redis_io import round_trip

    client = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    with pytest.raises(redis.ConnectionError):
        round_trip(client, [["PING"]])
