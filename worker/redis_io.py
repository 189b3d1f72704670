"""Round-trips to Redis without redis-py's per-argument packing in Python.

A batch sends thousands of keys per command: hiredis packs them in C, and several commands
share one round-trip. Connections come from (and go back to) the client's pool, which
checks them before handing them out, as redis-py's own commands do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from hiredis import pack_command
from redis.typing import EncodableT


def packed(commands: Sequence[Sequence[EncodableT]]) -> list[bytes]:
    """The commands in the Redis protocol, packed in C."""
    return [pack_command(tuple(command)) for command in commands]  # type: ignore[arg-type]


def round_trip(client: redis.Redis, commands: Sequence[Sequence[EncodableT]]) -> list[Any]:
    """Send ``commands`` together and return their replies, in order.

    Raises ``redis.RedisError`` (the first error reply, or a connection problem)."""
    pool = client.connection_pool
    connection = pool.get_connection()
    replies: list[Any] = []
    failure: redis.ResponseError | None = None
    try:
        connection.send_packed_command(packed(commands))  # type: ignore[no-untyped-call]
        for _ in commands:
            try:
                replies.append(connection.read_response())
            except redis.ResponseError as exc:  # an error reply: read the rest all the same
                failure = failure or exc
                replies.append(None)
    except BaseException:
        connection.disconnect()  # type: ignore[no-untyped-call]
        pool.release(connection)
        raise
    pool.release(connection)
    if failure is not None:
        raise failure
    return replies
