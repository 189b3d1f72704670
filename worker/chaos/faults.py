"""The faults, each by real means: signals to real processes, real Redis configuration, real
workers joining and leaving. A fault records when it began and ended (wall clock), which is
what "time back to the primary" is measured from.

Every fault undoes itself in ``finally``: a scenario that fails must not leave the next one a
paused Redis or a stopped broker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from worker.chaos.stack import ChaosStack
from worker.chaos.workers import WorkerPool, wait_for_members
from worker.stack import process

BROKER_READY_S = 120.0
STORM_CYCLES = 2
JOIN_TIMEOUT_S = 60.0


@dataclass
class FaultContext:
    """What a fault may act on, and the window it reports."""

    stack: ChaosStack
    pool: WorkerPool
    group: str
    hold_s: float
    good_models: Path
    workers_started_at: float = 0.0
    began: float | None = None
    ended: float | None = None

    def wait_members(self, members: int) -> bool:
        return wait_for_members(self.stack.new_admin(), self.group, members, JOIN_TIMEOUT_S)

    @contextlib.contextmanager
    def window(self, since: float | None = None) -> Iterator[None]:
        """Mark the fault's begin (now, or ``since``) and its end, even when it fails."""
        self.began = since or time.time()
        try:
            yield
        finally:
            self.ended = self.ended or time.time()

    def end_now(self) -> None:
        """The fault ends here, though its function goes on (e.g. to clean up)."""
        self.ended = time.time()


Fault = Callable[[FaultContext], None]


def no_fault(ctx: FaultContext) -> None:
    """Nothing breaks but the input: poison and oversized messages are the fault."""


def kill_worker(ctx: FaultContext) -> None:
    """SIGKILL one worker mid-stream (no commit, no leave), then start a replacement with the
    same instance id; its uncommitted batches are redelivered."""
    with ctx.window():
        ctx.pool.kill(0)
        time.sleep(1.0)
        ctx.pool.start(0)


def _sigkill_and_wait(record: process.ProcessRecord) -> None:
    os.kill(record.pid, signal.SIGKILL)
    while process.is_running(record):
        time.sleep(0.05)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(record.pid, 0)  # ours when this suite started it: reap it


def kill_broker(ctx: FaultContext) -> None:
    """SIGKILL the broker's JVM, leave it down for a while, start it again (log recovery)."""
    kafka = ctx.stack.stack.kafka
    with ctx.window():
        record = kafka.record()
        if record is not None:
            _sigkill_and_wait(record)
        try:
            time.sleep(ctx.hold_s)
        finally:
            kafka.start()
            kafka.wait_ready(BROKER_READY_S)


def restart_broker(ctx: FaultContext) -> None:
    """A clean broker restart (SIGTERM: controlled shutdown), as in a rolling upgrade."""
    kafka = ctx.stack.stack.kafka
    with ctx.window():
        try:
            kafka.stop()
        finally:
            kafka.start()
            kafka.wait_ready(BROKER_READY_S)


def stop_redis(ctx: FaultContext) -> None:
    """Stop Redis (SIGTERM), keep it down, start it again empty: cache and features gone."""
    node = ctx.stack.stack.redis
    with ctx.window():
        node.stop()
        try:
            time.sleep(ctx.hold_s)
        finally:
            node.start()
            node.wait_ready(30)


def pause_redis(ctx: FaultContext) -> None:
    """SIGSTOP Redis: connections stay open and nothing answers (a hung server, not a dead
    one: timeouts instead of refused connections), then SIGCONT."""
    record = ctx.stack.stack.redis.record()
    if record is None:
        raise RuntimeError("the chaos Redis is not running")
    with ctx.window():
        os.kill(record.pid, signal.SIGSTOP)
        try:
            time.sleep(ctx.hold_s)
        finally:
            os.kill(record.pid, signal.SIGCONT)


def redis_refuses_writes(ctx: FaultContext) -> None:
    """``maxmemory 1`` under ``noeviction``: every write is refused with OOM, reads still
    answer (the cache's HSET and the feature store's scripts fail, its MGET does not)."""
    client = ctx.stack.redis_client()
    with ctx.window():
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", 1)
        try:
            time.sleep(ctx.hold_s)
        finally:
            client.config_set("maxmemory", 0)
            client.close()


def rebalance_storm(ctx: FaultContext) -> None:
    """Members join and leave several times: each cycle two extra workers join (the group
    rebalances to four), then they and one of the original two leave together, and that one
    starts again: four rebalances a cycle, with the stream flowing."""
    pool = ctx.pool
    with ctx.window():
        for _cycle in range(STORM_CYCLES):
            pool.start(2)
            pool.start(3)
            ctx.wait_members(4)
            time.sleep(ctx.hold_s)
            pool.stop_many([2, 3, 1])
            pool.start(1)
            ctx.wait_members(2)


def fix_primary(ctx: FaultContext) -> None:
    """The primary was faulty from the start; the fix is a blue/green replacement: workers on
    the good models join beside the faulty ones, then the faulty ones leave. The fault ends
    when the fixed workers are launched: "back" then measures how soon they answer, "steady"
    how long the faulty ones still answered before they left."""
    pool = ctx.pool
    old = sorted(pool.slots)
    with ctx.window(since=ctx.workers_started_at):
        pool.env["FRAUD_WORKER__MODELS_DIR"] = str(ctx.good_models)
        new = [slot + len(old) for slot in old]
        for slot in new:
            pool.start(slot)
        ctx.end_now()
        ctx.wait_members(len(old) + len(new))
        pool.stop_many(old)
