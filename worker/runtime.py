"""Build the ladder and its dependencies from the settings, once, at start.

A model or rules file that cannot be loaded does not stop the worker: its level is left out
(it answers "unavailable" and rows fall through), and the reason is logged and exported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker.breaker import BreakerConfig, CircuitBreaker
from worker.errors import FraudWorkerError
from worker.features.store import RedisFeatureStore
from worker.ladder.cache import CacheLevel
from worker.ladder.core import Ladder
from worker.ladder.decision import DecisionPolicy
from worker.ladder.default import SafeDefaultLevel
from worker.ladder.fallback import FallbackLevel
from worker.ladder.level import Level
from worker.ladder.primary import PrimaryLevel
from worker.ladder.rules import RulesLevel
from worker.ladder.writes import WriteBehind
from worker.models.fallback import FallbackModel
from worker.models.manifest import ArtifactError, Manifest, load_manifest
from worker.models.primary import PrimaryModel
from worker.rules.engine import load_rules
from worker.settings import BreakerSettings, Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

UNKNOWN_VERSION = "unknown"
DEPENDENCIES = ("cache", "feature_store", "primary")


@dataclass
class Runtime:
    """The ladder plus what the loop reports about it (breakers, providers, load problems)."""

    ladder: Ladder
    redis: redis.Redis
    breakers: dict[str, CircuitBreaker]
    provider: str
    problems: list[str] = field(default_factory=list)
    primary_level: PrimaryLevel | None = None

    def close(self) -> None:
        if self.primary_level is not None:
            self.primary_level.close()
        self.redis.close()


def breaker_config(settings: BreakerSettings) -> BreakerConfig:
    return BreakerConfig(
        window_size=settings.window_size,
        minimum_calls=settings.minimum_calls,
        failure_rate_threshold=settings.failure_rate_threshold,
        slow_call_rate_threshold=settings.slow_call_rate_threshold,
        slow_call_duration_s=settings.slow_call_ms / 1000,
        half_open_permits=settings.half_open_permits,
        open_wait_s=settings.open_wait_s,
        max_open_wait_s=settings.max_open_wait_s,
    )


def redis_client(settings: Settings) -> redis.Redis:
    """No retries and short timeouts: the ladder, not the client, decides what a failure costs."""
    timeout_s = settings.redis.socket_timeout_ms / 1000
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )


def _load(what: str, loader: Callable[[], T], problems: list[str]) -> T | None:
    try:
        return loader()
    except FraudWorkerError as exc:
        problems.append(f"{what}: {exc}")
        log.error("%s is unavailable, its level will be skipped: %s", what, exc)
        return None


def load_models(
    settings: Settings, problems: list[str]
) -> tuple[Manifest | None, PrimaryModel | None, FallbackModel | None]:
    models_dir = settings.worker.models_dir
    try:
        manifest = load_manifest(models_dir)
    except ArtifactError as exc:
        problems.append(f"manifest: {exc}")
        log.error("no model manifest, both models are unavailable: %s", exc)
        return None, None, None
    primary = _load(
        "primary model",
        lambda: PrimaryModel.load(
            models_dir, manifest, settings.worker.prefer_gpu, settings.worker.primary_threads
        ),
        problems,
    )
    fallback = _load("fallback model", lambda: FallbackModel.load(models_dir, manifest), problems)
    return manifest, primary, fallback


def build_runtime(settings: Settings) -> Runtime:
    problems: list[str] = []
    manifest, primary, fallback = load_models(settings, problems)
    rules = _load("rules", lambda: load_rules(settings.worker.rules_path), problems)
    version = manifest.model_version if manifest else UNKNOWN_VERSION
    client = redis_client(settings)
    config = breaker_config(settings.breaker)
    breakers = {name: CircuitBreaker(name, config) for name in DEPENDENCIES}
    prefix = settings.redis.key_prefix
    store = RedisFeatureStore(client, f"{prefix}fs:", settings.redis.feature_ttl_days)
    writes = WriteBehind(client)  # one connection: cache and store writes keep their order
    primary_level = PrimaryLevel(
        primary,
        store,
        breakers["feature_store"],
        breakers["primary"],
        settings.worker.primary_timeout_ms / 1000,
        writes,
    )
    cache = CacheLevel(
        client, breakers["cache"], version, settings.redis.cache_ttl_s, f"{prefix}score:", writes
    )
    levels: list[Level] = [
        cache,
        primary_level,
        FallbackLevel(fallback),
        RulesLevel(),
        SafeDefaultLevel(),
    ]
    ladder = Ladder(
        levels=levels,
        rules=rules,
        policy=DecisionPolicy(settings.worker.review_threshold, settings.worker.block_threshold),
        model_version=version,
        batch_budget_s=settings.worker.batch_budget_ms / 1000,
    )
    provider = primary.provider if primary else "none"
    return Runtime(ladder, client, breakers, provider, problems, primary_level)
