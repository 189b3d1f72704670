"""Write-behind for the ladder's Redis writes (cache fill, feature-store update).

Batch N's writes run in a background thread while the loop encodes and produces batch N's
results and decodes batch N+1; the next read from Redis first waits for them, so a batch
always sees every earlier batch's writes — the same answers as writing inline, sooner.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class WriteBehind:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redis-writes")
        self._pending: list[Future[object]] = []

    def submit(self, write: Callable[[], object]) -> None:
        """Run ``write`` in the background (it must handle its own failures)."""
        self._pending.append(self._executor.submit(write))

    def wait(self) -> None:
        """Block until every submitted write has finished."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        self.wait()
        self._executor.shutdown(wait=True)
