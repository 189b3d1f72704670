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
from dataclasses import dataclass
from typing import Protocol

import redis
from redis.connection import Connection
from redis.typing import EncodableT

from worker.breaker import CircuitBreaker
from worker.redis_io import packed

log = logging.getLogger(__name__)


class Writes(Protocol):
    skipped: dict[str, int]  # write commands skipped per dependency (its breaker was open)

    def send(self, breaker: CircuitBreaker, commands: Sequence[Sequence[EncodableT]]) -> None:
        """Send one batch's writes to one dependency as one call: one permit, one outcome.

        Their replies are read by ``wait``. With the breaker open nothing is sent."""
        ...

    def wait(self) -> None:
        """Read the replies of every call sent, recording each call's outcome in its breaker."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class _Call:
    """Commands sent on one permit; their replies are due in order."""

    breaker: CircuitBreaker
    replies: int


class WriteBehind:
    """The ``Writes`` of the worker: on a connection of its own, replies read by ``wait``.

    A batch's writes to one dependency are one guarded call, so a half-open breaker, which
    lets only a few calls through, keeps all of a batch's writes or none — never a silent
    part. Writes skipped because a breaker was open are counted in ``skipped`` (commands,
    per dependency) and logged once per open period.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._connection: Connection | None = None
        self._pending: list[_Call] = []
        # Commands not sent because their breaker was open, per breaker name (for metrics).
        self.skipped: dict[str, int] = {}
        self._skipping: set[str] = set()  # breakers whose skipping has been logged

    def send(self, breaker: CircuitBreaker, commands: Sequence[Sequence[EncodableT]]) -> None:
        if not commands:
            return
        payload = packed(commands)  # a bad argument is the caller's bug: raised, no permit taken
        if not breaker.try_acquire():
            self._skip(breaker.name, len(commands))
            return
        self._resume(breaker.name)
        call = _Call(breaker, len(commands))
        try:
            connection = self._usable_connection()
            connection.send_packed_command(payload)  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            log.debug("writes not sent: %s", exc)
            self._lose([*self._pending, call], 0.0)  # replies in flight die with it
            return
        except BaseException:
            self._lose([*self._pending, call], 0.0)  # what reached the socket is unknown
            raise
        self._pending.append(call)

    def wait(self) -> None:
        pending, self._pending = self._pending, []
        for index, call in enumerate(pending):
            start = time.monotonic()
            try:
                failed = self._read_replies(call.replies)
            except redis.RedisError:  # connection lost or timed out: no more replies
                self._lose(pending[index:], time.monotonic() - start)
                return
            except BaseException:
                self._lose(pending[index:], time.monotonic() - start)
                raise
            call.breaker.record(time.monotonic() - start, failed=failed)

    def _read_replies(self, count: int) -> bool:
        """Read ``count`` replies; True if any was an error reply. An error reply fails the
        call but not the connection: Redis ran the other commands all the same."""
        connection = self._connection
        if connection is None:
            raise redis.ConnectionError("no connection")
        failed = False
        for _ in range(count):
            try:
                connection.read_response()
            except redis.ResponseError:
                failed = True
        return failed

    def _skip(self, name: str, commands: int) -> None:
        self.skipped[name] = self.skipped.get(name, 0) + commands
        if name not in self._skipping:
            self._skipping.add(name)
            log.warning(
                "%s breaker is open: its writes are skipped until it lets a call through "
                "(counted in skipped writes)",
                name,
            )

    def _resume(self, name: str) -> None:
        if name in self._skipping:
            self._skipping.discard(name)
            log.info("%s writes resume; %d skipped so far", name, self.skipped[name])

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

    def _lose(self, calls: list[_Call], elapsed_s: float) -> None:
        for call in calls:
            call.breaker.record(elapsed_s, failed=True)
        self._pending = []
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()  # type: ignore[no-untyped-call]
            self.client.connection_pool.release(self._connection)
            self._connection = None
