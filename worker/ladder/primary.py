"""Level 2: the primary model on event + stateful features.

The stateful features come from the Redis feature store (one round-trip to read, one to
update). The model runs in its own thread so that its deadline is enforced: past it, the run
is told to terminate and the rows fall through; while a terminated run is still unwinding,
later batches skip the primary instead of queueing behind it.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
import onnxruntime as ort
import redis
from numpy.typing import NDArray

from worker.breaker import CircuitBreaker
from worker.features.stateful import stateful_features
from worker.features.store import RedisFeatureStore
from worker.ladder.level import BatchContext, LevelResult, guarded, valid_probabilities
from worker.ladder.types import SOURCES, ScoredBatch, Source
from worker.ladder.writes import WriteBehind, Writes
from worker.models.primary import PrimaryModel


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
    ) -> None:
        self.model = model
        self.writes = writes or WriteBehind(store.client)
        self.store = store
        self.store_breaker = store_breaker
        self.breaker = breaker
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="primary")
        self._inflight: Future[NDArray[np.float32]] | None = None

    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        if self.model is None:
            return LevelResult.failed("primary:unavailable")
        part = ctx.batch.take(rows)
        self.writes.wait()  # the store must hold every earlier batch before this read
        aggregates, failure = guarded(
            self.store_breaker, lambda: self.store.aggregates(part), (redis.RedisError,)
        )
        if aggregates is None:
            return LevelResult.failed(failure or "feature_store:unavailable")
        features = np.hstack([ctx.event_x[rows], stateful_features(part, *aggregates)])
        if not self.breaker.try_acquire():
            return LevelResult.failed("primary:circuit_open")
        scores, failure = self._predict(self.model, features, ctx.budget.within(self.timeout_s))
        if scores is None:
            return LevelResult.failed(failure or "primary:error")
        valid = valid_probabilities(scores)
        if not valid.all():
            failure = "primary:invalid_output"
        return LevelResult(rows[valid], scores[valid], failure)

    def _predict(
        self, model: PrimaryModel, features: NDArray[np.float32], timeout_s: float
    ) -> tuple[NDArray[np.float64] | None, str | None]:
        """Run the model under its deadline; record the outcome in the primary's breaker."""
        if self._inflight is not None and not self._inflight.done():
            self.breaker.record(self.timeout_s, failed=True)
            return None, "primary:busy"
        options = ort.RunOptions()
        started = time.monotonic()
        future = self._executor.submit(model.predict, features, options)
        self._inflight = future
        try:
            out = future.result(timeout=timeout_s).astype(np.float64)
        except FutureTimeout:
            options.terminate = True
            self.breaker.record(time.monotonic() - started, failed=True)
            return None, "primary:timeout"
        except Exception:  # onnxruntime raises untyped errors; the model is what failed
            self.breaker.record(time.monotonic() - started, failed=True)
            return None, "primary:error"
        if out.shape != (len(features),):
            self.breaker.record(time.monotonic() - started, failed=True)
            return None, "primary:invalid_output"
        ok = bool(valid_probabilities(out).all())
        self.breaker.record(time.monotonic() - started, failed=not ok)
        return out, None

    def finish(self, ctx: BatchContext, outcome: ScoredBatch) -> None:
        """Count the batch's transactions in the feature store — except cache hits, which
        are redeliveries already counted, and rows whose inputs the models cannot use."""
        fresh = ctx.model_ready & (outcome.source != SOURCES.index(Source.CACHE))
        if not fresh.any():
            return
        part = ctx.batch.take(np.flatnonzero(fresh))
        for command in self.store.update_commands(part):
            self.writes.send(self.store_breaker, command)

    def close(self) -> None:
        self.writes.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
