"""What every consumer-group member of this package shares (the worker, the labels consumer,
the re-scorer, the triage queue): a stop asked by SIGTERM/SIGINT finishes the batch in hand,
and stopping closes each part in order even when an earlier one fails."""

from __future__ import annotations

import faulthandler
import logging
import signal
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING

from worker.health import Health

if TYPE_CHECKING:  # the offset policy pulls in the sinks and the ladder: not for every command
    from confluent_kafka import Message

    from worker.kafka.consumer import BatchSource
    from worker.kafka.offsets import OffsetPolicy

log = logging.getLogger(__name__)


class GroupMember:
    """``stop`` and the signal handlers; the loop checks ``_stopping`` between batches."""

    health: Health
    _stopping: bool = False

    def stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """Ask the loop to finish the batch in hand and leave."""
        if not self._stopping:
            log.info("stopping (signal %s): finishing the batch in flight", signum)
        self._stopping = True
        self.health.stop()

    def install_signal_handlers(self, early: list[int] | None = None) -> None:
        """SIGTERM/SIGINT stop the member from now on; one that came while it was being
        built (``early``, from ``signals_while_starting``) stops it at once."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        if early:
            self.stop(early[0])


class BatchMember(GroupMember):
    """A member whose ``process`` holds a batch while a dependency is away (``Hold``), and
    gives None for a batch it did not finish (it stopped, or gave the partitions up, first):
    the re-scorer and the triage queue."""

    source: BatchSource
    policy: OffsetPolicy
    _report_lag: Callable[[], None]

    def process(self, messages: list[Message]) -> object | None:
        raise NotImplementedError

    def _consume(self, max_batches: int | None, batch_max: int, batch_wait_s: float) -> None:
        """Batch after batch until stopped, or until ``max_batches`` batches were finished."""
        batches = 0
        while not self._stopping and (max_batches is None or batches < max_batches):
            messages = self.source.next_batch(batch_max, batch_wait_s)
            self.health.beat()
            if messages:
                if self.process(messages) is not None:
                    batches += 1
            else:
                self.policy.settle()  # idle: what was acknowledged since counts as done now
            self._report_lag()


def signals_while_starting() -> list[int]:
    """Until the member installs its handlers: a SIGTERM/SIGINT still means stop cleanly,
    and is remembered (the returned list) instead of killing a half-built member. Also
    `kill -USR1 <pid>` prints every thread's stack: where a stuck member is stuck."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    early: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda num, _frame: early.append(num))
    return early


def close_in_order(steps: Sequence[Callable[[], None]], failed: bool) -> None:
    """Run every step (settle and commit, close the clients, …) even if an earlier one
    failed. After a failure in the loop (``failed``), that failure is what propagates and
    these are logged; otherwise the first of these is raised."""
    first: Exception | None = None
    for step in steps:
        try:
            step()
        except Exception as exc:
            if failed or first is not None:
                log.exception("while stopping")
            else:
                first = exc
    log.info("left the group")
    if first is not None:
        raise first
