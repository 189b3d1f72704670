"""Level 2: the primary model on event + stateful features.

The stateful features come from the Redis feature store (one round-trip to read, one to
update). The model runs in its own thread so that its deadline is enforced: past it, the run
is told to terminate and the rows fall through; while a terminated run is still unwinding,
later batches skip the primary instead of queueing behind it.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
import onnxruntime as ort
import redis
from numpy.typing import NDArray
from redis.typing import EncodableT

from worker.breaker import BreakerState, CircuitBreaker
from worker.events import EventBatch
from worker.features.stateful import stateful_features
from worker.features.store import RedisFeatureStore
from worker.ladder.level import (
    BatchContext,
    CallFailed,
    LevelResult,
    Verdict,
    guarded,
    valid_probabilities,
)
from worker.ladder.types import SOURCES, ScoredBatch, Source
from worker.ladder.writes import WriteBehind, Writes
from worker.models.primary import PrimaryModel

# A batch whose every row the model answers with no probability counts against the model only
# from this many rows up: one or a few such rows (a lone event at a low rate) may owe it to
# their own values, which is their problem, not the model's.
MIN_ROWS_TO_JUDGE = 8
# Script calls of held terminal counts sent with each batch, at least (``_send_flush``).
FLUSH_CALLS_PER_BATCH = 4


def judge_scores(scores: NDArray[np.float64]) -> Verdict:
    """The primary's breaker rule for an answer of the right shape.

    A NaN or out-of-range score is that row's problem: the row falls through alone (tagged
    ``primary:invalid_output``) and the call is a success while any row got a probability.
    The model is broken for the batch as a whole — a failed call — only when no row of at
    least ``MIN_ROWS_TO_JUDGE`` got one; with fewer rows, all invalid, the call is no
    evidence either way and its permit is released. Errors, timeouts, a busy model and a
    wrong shape are always failed calls (``_predict``).
    """
    if valid_probabilities(scores).any():
        return Verdict.SUCCESS
    return Verdict.FAILURE if len(scores) >= MIN_ROWS_TO_JUDGE else Verdict.NO_EVIDENCE


class PrimaryLevel:
    source = Source.PRIMARY

    def __init__(
        self,
        model: PrimaryModel | None,
        store: RedisFeatureStore,
        store_breaker: CircuitBreaker,
        breaker: CircuitBreaker,
        timeout_s: float,
        writes: Writes | None = None,
        flushes: Writes | None = None,
    ) -> None:
        self.model = model
        self.writes = writes or WriteBehind(store.client)
        # The held terminal counts' writes (a burst a second: tens of script calls) go on a
        # connection of their own, so that the next batch's read waits for them only when
        # it could see them (``flush_could_be_seen``), not behind every burst.
        self.flushes = flushes or self.writes
        # Their script calls, sent a few with each batch (``_send_flush``) rather than all
        # at once: Redis runs a connection's pipelined calls back to back, and a burst of
        # them would hold the next batch's read behind it.
        self._queued: list[list[EncodableT]] = []
        self.store = store
        self.store_breaker = store_breaker
        self.breaker = breaker
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="primary")
        self._inflight: Future[NDArray[np.float32]] | None = None

    def read_ahead(self, ctx: BatchContext, rows: NDArray[np.intp]) -> None:
        if self.model is None or self.store_breaker.state is not BreakerState.CLOSED:
            return  # the read goes through the breaker when the level's turn comes
        part = ctx.batch.take(rows)
        self._settle_for_read(part)
        ctx.ahead[self.source] = (rows, self.store.read_ahead(part))

    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        if self.model is None:
            return LevelResult.failed("primary:unavailable")
        sent = ctx.ahead.get(self.source)
        if sent is not None:  # read for every ready row; these rows are some or all of them
            read_rows, ahead = sent
            positions = np.searchsorted(read_rows, rows)
            # All of them (no cache hit): the batch the read was made for.
            part = ahead.batch if len(rows) == len(read_rows) else ctx.batch.take(rows)

            def read() -> tuple[NDArray[np.int64], NDArray[np.int64]]:
                return self.store.aggregates(part, ahead, positions)
        else:
            part = ctx.batch.take(rows)
            self._settle_for_read(part)

            def read() -> tuple[NDArray[np.int64], NDArray[np.int64]]:
                return self.store.aggregates(part)

        aggregates, failure = guarded(self.store_breaker, read, (redis.RedisError,))
        if aggregates is None:
            return LevelResult.failed(failure or "feature_store:unavailable")
        features = np.hstack([ctx.event_x[rows], stateful_features(part, *aggregates)])
        model, timeout_s = self.model, ctx.budget.within(self.timeout_s)

        def predict() -> NDArray[np.float64]:
            return self._predict(model, features, timeout_s)

        # Unpacked apart: unpacking at once makes mypy infer T as Optional and refuse the judge.
        answer = guarded(self.breaker, predict, (), judge_scores)
        scores, failure = answer
        if scores is None:
            return LevelResult.failed(failure or "primary:error")
        valid = valid_probabilities(scores)
        failure = None if valid.all() else "primary:invalid_output"
        return LevelResult(rows[valid], scores[valid], failure)

    def _predict(
        self, model: PrimaryModel, features: NDArray[np.float32], timeout_s: float
    ) -> NDArray[np.float64]:
        """One score per row, under the deadline; raises ``CallFailed`` naming why not.

        Runs inside the breaker's guarded section: whatever fails here, from a run that
        cannot even start (an executor shut down) to a wrong shape, returns the permit.
        """
        if self._inflight is not None and not self._inflight.done():
            raise CallFailed("busy")  # a terminated run is still unwinding
        options = ort.RunOptions()
        try:
            future = self._executor.submit(model.predict, features, options)
            self._inflight = future
            out = future.result(timeout=timeout_s)
        except FutureTimeout:
            options.terminate = True
            raise CallFailed("timeout") from None
        except Exception as exc:  # onnxruntime raises untyped errors; the model is what failed
            raise CallFailed("error") from exc
        if out.shape != (len(features),):
            raise CallFailed("invalid_output")  # not per row: the batch as a whole is wrong
        return out.astype(np.float64)

    def _settle_for_read(self, part: EventBatch) -> None:
        """The store must hold every earlier batch's counts that this read could see."""
        self.writes.wait()
        if self.flushes is self.writes or self.store.flush_could_be_seen(part):
            self._flushes_landed()

    def _flushes_landed(self) -> None:
        self._send_flush([], everything=True)
        self.flushes.wait()
        self.store.flush_landed()

    def _count(self, part: EventBatch) -> None:
        """Send the counts of ``part``: the cards' writes now, the held terminal counts when
        they are due, a few calls with each batch."""
        # All of the batch's script calls on one permit: half-open keeps all or none of them.
        self.writes.send(self.store_breaker, self.store.update_commands(part, flush=False))
        self._send_flush(self.store.due_flush_commands())

    def _send_flush(self, commands: list[list[EncodableT]], everything: bool = False) -> None:
        """Queue ``commands`` and send the next few queued (a batch's share: at least
        ``FLUSH_CALLS_PER_BATCH``, more when many wait), or all of them."""
        self._queued += commands
        if not self._queued:
            return
        count = len(self._queued)
        if not everything:
            count = min(count, max(FLUSH_CALLS_PER_BATCH, -(-count // 8)))
        sent, self._queued = self._queued[:count], self._queued[count:]
        self.flushes.send(self.store_breaker, sent)

    def finish(self, ctx: BatchContext, outcome: ScoredBatch) -> None:
        """Count the batch's transactions in the feature store — except cache hits, which
        are redeliveries already counted, and rows whose inputs the models cannot use."""
        fresh = ctx.model_ready & (outcome.source != SOURCES.index(Source.CACHE))
        if fresh.any():
            self._count(ctx.batch.take(np.flatnonzero(fresh)))

    @property
    def skipped(self) -> dict[str, int]:
        """Write commands skipped per dependency (its breaker was open), both connections."""
        if self.flushes is self.writes:
            return self.writes.skipped
        merged = dict(self.writes.skipped)
        for name, count in self.flushes.skipped.items():
            merged[name] = merged.get(name, 0) + count
        return merged

    def idle(self) -> None:
        """Send the counts that wait in the store (their replies are read later)."""
        self._send_flush(self.store.flush_commands(), everything=True)

    def settle(self) -> None:
        """Send what waits and read every reply: the writes have landed (or failed)."""
        self.idle()
        self.writes.wait()
        self._flushes_landed()

    def close(self) -> None:
        self.idle()
        self.writes.close()
        if self.flushes is not self.writes:
            self.flushes.close()
        self.store.flush_landed()
        self._executor.shutdown(wait=False, cancel_futures=True)
