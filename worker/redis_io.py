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


class InFlight:
    """Commands sent on a connection of the pool whose replies are read later (``replies``),
    so that Redis works on them while the caller does something else. A send that failed
    raises at ``replies``; ``discard`` reads and drops replies nobody asked for, so the
    connection goes back to the pool clean."""

    def __init__(self, client: redis.Redis, commands: Sequence[Sequence[EncodableT]]) -> None:
        self._pool = client.connection_pool
        self._count = len(commands)
        self._error: BaseException | None = None
        self._replies: list[Any] | None = None
        self._connection: Any = None
        try:
            self._connection = self._pool.get_connection()
            self._connection.send_packed_command(packed(commands))
        except redis.RedisError as exc:
            # Without its traceback: kept frames would keep the failed socket alive.
            self._error = exc.with_traceback(None)
            self._drop()
        except BaseException:
            self._drop()
            raise

    def replies(self) -> list[Any]:
        """The replies, in order (read once). Raises ``redis.RedisError`` (the first error
        reply, or a connection problem)."""
        if self._replies is not None:
            return self._replies
        if self._error is not None:
            raise self._error
        replies: list[Any] = []
        failure: redis.ResponseError | None = None
        try:
            for _ in range(self._count):
                try:
                    replies.append(self._connection.read_response())
                except redis.ResponseError as exc:  # an error reply: read the rest all the same
                    failure = failure or exc
                    replies.append(None)
        except BaseException as exc:
            self._error = exc.with_traceback(None)
            self._drop()
            raise
        self._pool.release(self._connection)
        self._connection = None
        self._replies = replies
        if failure is not None:
            self._error = failure.with_traceback(None)
            raise failure
        return replies

    def discard(self) -> None:
        """Done with it, replies read or not."""
        if self._connection is not None:
            try:
                self.replies()
            except BaseException:  # nobody wants these replies; the connection is dropped
                self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()
            self._pool.release(self._connection)
            self._connection = None


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
