"""What every consumer-group member of this package shares (the worker, the labels consumer,
the re-scorer): a stop asked by SIGTERM/SIGINT finishes the batch in hand, and stopping closes
each part in order even when an earlier one fails."""

from __future__ import annotations

import faulthandler
import logging
import signal
from collections.abc import Callable, Sequence
from types import FrameType

from worker.health import Health

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
