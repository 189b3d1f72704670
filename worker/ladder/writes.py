"""Write-behind for the ladder's Redis writes (cache fill, feature-store update).

Batch N's writes are sent on a connection of their own without waiting for the replies:
Redis runs them while the loop encodes and produces batch N's results and decodes batch N+1.
The next read from Redis first collects the replies (usually already there), so a batch always
sees every earlier batch's writes — the same answers as writing inline, sooner. No thread:
a writer thread would fight the loop for the GIL and make both slower.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol

import redis
from redis.connection import Connection
from redis.typing import EncodableT

from worker.breaker import CircuitBreaker
from worker.redis_io import packed

log = logging.getLogger(__name__)


class Writes(Protocol):
    def send(self, breaker: CircuitBreaker, command: Sequence[EncodableT]) -> None:
        """Send one command; its reply is read by ``wait``."""
        ...

    def wait(self) -> None:
        """Read the reply of every command sent, recording each outcome in its breaker."""
        ...

    def close(self) -> None: ...


class WriteBehind:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._connection: Connection | None = None
        self._pending: list[CircuitBreaker] = []

    def send(self, breaker: CircuitBreaker, command: Sequence[EncodableT]) -> None:
        if not breaker.try_acquire():
            return  # open: the write is skipped, as a read would be
        try:
            connection = self._usable_connection()
            connection.send_packed_command(packed([command]))  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            log.debug("write not sent: %s", exc)
            self._lose([*self._pending, breaker], 0.0)  # replies in flight die with it
            return
        self._pending.append(breaker)

    def wait(self) -> None:
        pending, self._pending = self._pending, []
        connection = self._connection
        for index, breaker in enumerate(pending):
            start = time.monotonic()
            try:
                if connection is None:
                    raise redis.ConnectionError("no connection")
                connection.read_response()
            except redis.ResponseError:  # the command failed; the connection is still fine
                breaker.record(time.monotonic() - start, failed=True)
            except redis.RedisError:  # connection lost or timed out: no more replies
                self._lose(pending[index:], time.monotonic() - start)
                return
            else:
                breaker.record(time.monotonic() - start, failed=False)

    def close(self) -> None:
        self.wait()
        self._drop()

    def _usable_connection(self) -> Connection:
        """The writer's connection, replaced first if it went stale (Redis restarted): with
        no reply due, anything to read on it — data or end of stream — means it is dead.
        The pool checks its connections the same way; this one never goes back to the pool."""
        connection = self._connection
        if connection is not None and not self._pending:
            try:
                stale = bool(connection.can_read())
            except (redis.RedisError, OSError):
                stale = True
            if stale:
                self._drop()
                connection = None
        return connection or self._connect()

    def _connect(self) -> Connection:
        self._connection = self.client.connection_pool.get_connection()
        return self._connection

    def _lose(self, breakers: list[CircuitBreaker], elapsed_s: float) -> None:
        for breaker in breakers:
            breaker.record(elapsed_s, failed=True)
        self._pending = []
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()  # type: ignore[no-untyped-call]
            self.client.connection_pool.release(self._connection)
            self._connection = None
