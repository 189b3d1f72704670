"""Read and write the real Redis server."""

from __future__ import annotations

import time
import uuid

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
