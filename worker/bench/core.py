"""The scoring-core benchmark: batches through the ladder in-process, no Kafka.

Times each level per batch size (median ms per call and rows/s), the primary on the CPU
provider and, when a GPU is present, on CUDA. Redis-backed stages (cache, feature store) are
timed when a Redis answers; on a machine without one (the lent GPU box) the primary gets its
stateful features from an in-process table of precomputed aggregates instead.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from worker.breaker import BreakerConfig, CircuitBreaker
from worker.events import EventBatch
from worker.features.event import event_features
from worker.features.stateful import offline_aggregates, stateful_features
from worker.ladder import Ladder, score_batch
from worker.ladder.decision import DecisionPolicy
from worker.ladder.default import SafeDefaultLevel
from worker.ladder.fallback import FallbackLevel
from worker.ladder.level import Level
from worker.ladder.primary import PrimaryLevel
from worker.ladder.rules import RulesLevel
from worker.models.fallback import FallbackModel
from worker.models.manifest import load_manifest
from worker.models.primary import CPU, CUDA, PrimaryModel
from worker.rules.engine import RuleSet, load_rules
from worker.simulator import SimulationConfig, simulate

BATCH_SIZES = (1, 64, 512, 4096)


@dataclass(frozen=True)
class Pool:
    """Precomputed rows to cut batches from."""

    batch: EventBatch
    event_x: NDArray[np.float32]
    primary_x: NDArray[np.float32]
    cards: NDArray[np.int64]
    terminals: NDArray[np.int64]


class TableStore:
    """Precomputed aggregates looked up by transaction id: the feature store's answers without
    Redis, so the ladder can run on a machine that has none (the GPU box)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.row = {tx: i for i, tx in enumerate(pool.batch.transaction_id.tolist())}

    def read_ahead(self, batch: EventBatch) -> NothingSent:
        return NothingSent(batch)

    def aggregates(
        self, batch: EventBatch, ahead: object = None, positions: object = None
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        rows = np.fromiter(
            (self.row[t] for t in batch.transaction_id.tolist()), np.intp, len(batch)
        )
        return self.pool.cards[rows], self.pool.terminals[rows]

    def update_commands(self, batch: EventBatch, flush: bool = True) -> list[list[str]]:
        return []

    def flush_commands(self) -> list[list[str]]:
        return []

    def due_flush_commands(self) -> list[list[str]]:
        return []

    def flush_could_be_seen(self, batch: EventBatch) -> bool:
        return False

    def flush_landed(self) -> None:
        return None


class NothingSent:
    """The table's read ahead: the batch it is for; nothing was sent, nothing to release."""

    def __init__(self, batch: EventBatch) -> None:
        self.batch = batch

    def discard(self) -> None:
        return None


class NoWrites:
    """Writes go nowhere: the table's answers never change (the ``Writes`` interface)."""

    skipped: dict[str, int] = {}  # noqa: RUF012 - never written

    def send(self, breaker: CircuitBreaker, commands: Sequence[Any]) -> None:
        return None

    def wait(self) -> None:
        return None

    def close(self) -> None:
        return None


def build_pool(rows: int = 20_000, seed: int = 3) -> Pool:
    transactions = simulate(
        SimulationConfig(n_customers=2000, n_terminals=4000, n_days=40, seed=seed)
    )
    batch = EventBatch.from_columns(transactions.columns())
    cards, terminals = offline_aggregates(batch, transactions.labels.is_fraud)
    take = np.arange(len(batch) - rows, len(batch))
    part = batch.take(take)
    event_x = event_features(part)
    stateful = stateful_features(part, cards[take], terminals[take])
    return Pool(part, event_x, np.hstack([event_x, stateful]), cards[take], terminals[take])


def median_ms(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up: first-call allocations and lazy initialisation are not steady state
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def repeats_for(size: int) -> int:
    return max(10, min(300, 20_000 // size))


def time_levels(
    pool: Pool, models_dir: Path, rules_path: Path, redis_url: str | None
) -> dict[str, Any]:
    manifest = load_manifest(models_dir)
    primaries = {CPU: PrimaryModel.load(models_dir, manifest, prefer_gpu=False)}
    gpu = PrimaryModel.load(models_dir, manifest, prefer_gpu=True)
    if gpu.provider == CUDA:
        primaries[CUDA] = gpu
    fallback = FallbackModel.load(models_dir, manifest, threads=1)
    rules = load_rules(rules_path)
    store = _redis_stages(redis_url)
    rows = {
        str(size): _time_batch(pool, size, primaries, fallback, rules, store)
        for size in BATCH_SIZES
    }
    return {
        "machine": machine_info(),
        "providers": sorted(primaries),
        "redis": bool(store),
        "median_ms_per_batch": rows,
        "rows_per_s": {
            size: {k: round(int(size) / (v / 1000)) for k, v in t.items() if v > 0}
            for size, t in rows.items()
        },
    }


def _time_batch(
    pool: Pool,
    size: int,
    primaries: dict[str, PrimaryModel],
    fallback: FallbackModel,
    rules: RuleSet,
    store: Callable[[EventBatch, int], dict[str, float]] | None,
) -> dict[str, float]:
    index = np.arange(size) % len(pool.event_x)
    batch = pool.batch.take(index)
    ex, px = pool.event_x[index], pool.primary_x[index]
    n = repeats_for(size)
    timings = {
        "event_features": median_ms(lambda: event_features(batch), n),
        "fallback_lightgbm_1thread": median_ms(lambda: fallback.predict(ex), n),
        "rules": median_ms(lambda: rules.score(batch), n),
    }
    for provider, model in primaries.items():
        name = "primary_onnx_" + provider.removesuffix("ExecutionProvider").lower()
        timings[name] = median_ms(lambda model=model: model.predict(px), n)  # type: ignore[misc]
    for provider, model in primaries.items():
        name = "ladder_total_" + provider.removesuffix("ExecutionProvider").lower()
        ladder = _ladder(pool, model, fallback, rules)
        timings[name] = median_ms(lambda ladder=ladder: score_batch(batch, ladder), n)  # type: ignore[misc]
    if store is not None:
        timings.update(store(batch, n))
    return {k: round(v, 4) for k, v in timings.items()}


def _ladder(pool: Pool, model: PrimaryModel, fallback: FallbackModel, rules: RuleSet) -> Ladder:
    """Primary (features from the table), fallback, rules, safe default; no cache (Redis)."""
    store: Any = TableStore(pool)  # the RedisFeatureStore interface, answered from memory
    store_breaker = CircuitBreaker("feature_store", BreakerConfig())
    primary_breaker = CircuitBreaker("primary", BreakerConfig())
    primary = PrimaryLevel(
        model, store, store_breaker, primary_breaker, timeout_s=1.0, writes=NoWrites()
    )
    levels: list[Level] = [primary, FallbackLevel(fallback), RulesLevel(), SafeDefaultLevel()]
    return Ladder(levels, rules, DecisionPolicy(), "bench", batch_budget_s=2.0)


def _redis_stages(url: str | None) -> Callable[[EventBatch, int], dict[str, float]] | None:
    """Feature-store read and update, cache read and write, when a Redis answers."""
    if not url:
        return None
    import redis

    from worker.features.store import RedisFeatureStore
    from worker.ladder.cache import CacheLevel, cache_keys

    client = redis.Redis.from_url(url, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        return None
    store = RedisFeatureStore(client, prefix="bench:fs:")
    cache = CacheLevel(client, CircuitBreaker("cache", BreakerConfig()), "bench", 3600, "bench:")

    def stages(batch: EventBatch, n: int) -> dict[str, float]:
        rows = np.arange(len(batch))
        fields = cache_keys(batch, rows, "")
        return {
            "feature_store_read": median_ms(lambda: store.aggregates(batch), n),
            "feature_store_update": median_ms(lambda: store.update(batch), n),
            "cache_keys": median_ms(lambda: cache_keys(batch, rows, ""), n),
            "cache_read": median_ms(lambda: cache.read(fields), n),
        }

    return stages


def machine_info() -> dict[str, Any]:
    import os

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        **_library_versions(),
    }


def _library_versions() -> dict[str, str]:
    """Versions of the libraries on the hot path (those importable here)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("confluent-kafka", "fastavro", "redis", "hiredis", "lightgbm"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    try:
        from confluent_kafka import libversion

        versions["librdkafka"] = libversion()[0]
    except ImportError:
        pass
    return versions


def markdown(report: dict[str, Any]) -> str:
    rows = report["median_ms_per_batch"]
    stages = list(next(iter(rows.values())))
    head = "| stage | " + " | ".join(f"{size} rows" for size in rows) + " |"
    lines = [head, "|---|" + "---|" * len(rows)]
    for stage in stages:
        cells = []
        for size, timings in rows.items():
            ms = timings[stage]
            cells.append(f"{ms:.3f} ms ({int(size) / ms * 1000:,.0f}/s)" if ms else "-")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(out: Path | None, models_dir: Path, rules_path: Path, redis_url: str | None) -> str:
    report = time_levels(build_pool(), models_dir, rules_path, redis_url)
    text = f"machine: {report['machine']}\nproviders: {report['providers']}\n\n{markdown(report)}"
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "core.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "core.md").write_text(text + "\n")
    return text


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--rules", type=Path, default=Path("rules/rules.yaml"))
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    print(main(args.out, args.models, args.rules, args.redis_url))
