"""Build the ladder and its dependencies from the settings, once, at start.

A model or rules file that cannot be loaded does not stop the worker: its level is left out
(it answers "unavailable" and rows fall through). Each failure is logged at WARNING, kept in
``Runtime.load_failures`` (artifact → reason: the ``fraud_artifact_load_failed`` gauge) and in
``Runtime.problems`` (what ``/readyz`` names). Breaker transitions are logged at WARNING with
the rates that caused them.

One exception: models are artifacts, not packaged, and a ``models_dir`` left at its default
(``models`` in the working directory) that is not there means nobody configured them (an
installed wheel run outside a checkout). That stops ``build_runtime`` with one line naming
``FRAUD_WORKER__MODELS_DIR``, unless a degraded start is allowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import redis

from worker.breaker import BreakerConfig, BreakerState, CircuitBreaker
from worker.errors import ConfigError, FraudWorkerError
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
from worker.redis_client import redis_client as redis_client  # where its users import it
from worker.rules.engine import RuleSet, load_rules
from worker.settings import BreakerSettings, Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

UNKNOWN_VERSION = "unknown"
DEPENDENCIES = ("cache", "feature_store", "primary")
# What build_runtime loads from files; each one that fails leaves a level out.
ARTIFACTS = ("manifest", "primary", "fallback", "rules")
MODELS_DIR_HINT = "set FRAUD_WORKER__MODELS_DIR to the folder that holds manifest.json"
DEGRADED_HINT = "or FRAUD_WORKER__ALLOW_DEGRADED_START=true to serve without models"


@dataclass
class Runtime:
    """The ladder plus what the loop reports about it (breakers, providers, load problems)."""

    ladder: Ladder
    redis: redis.Redis
    breakers: dict[str, CircuitBreaker]
    provider: str
    problems: list[str] = field(default_factory=list)
    primary_level: PrimaryLevel | None = None
    # Artifact (one of ARTIFACTS) → why it failed to load; absent when it loaded.
    load_failures: dict[str, str] = field(default_factory=dict)

    def idle(self) -> None:
        """Nothing to score: write what waits (pending terminal counts)."""
        if self.primary_level is not None:
            self.primary_level.idle()

    def settle(self) -> None:
        """Write what waits and wait until every write has landed (before partitions go to
        another member, which reads them)."""
        if self.primary_level is not None:
            self.primary_level.settle()

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


def _load(what: str, loader: Callable[[], T], failures: dict[str, str]) -> T | None:
    try:
        return loader()
    except FraudWorkerError as exc:
        _failed(what, str(exc), failures)
        return None


def _failed(what: str, reason: str, failures: dict[str, str]) -> None:
    failures[what] = reason
    log.warning("%s failed to load, its level is skipped: %s", what, reason)


def problems_of(failures: dict[str, str]) -> list[str]:
    """One line per failed artifact, in ladder order, for logs and ``/readyz``."""
    return [f"{what}: {failures[what]}" for what in ARTIFACTS if what in failures]


def missing_models_dir(models_dir: Path) -> str | None:
    """Why the models folder is not there, naming the setting that fixes it; None if it is."""
    if models_dir.is_dir():
        return None
    seen_from = "" if models_dir.is_absolute() else f" (relative to {Path.cwd()})"
    return f"models folder {models_dir}{seen_from} does not exist; {MODELS_DIR_HINT}"


def require_models_dir(settings: Settings) -> None:
    """Stop at once when ``models_dir`` is unset and its default folder is missing (see the
    module docstring); a configured folder that is missing is left to readiness."""
    worker = settings.worker
    if "models_dir" in worker.model_fields_set or worker.allow_degraded_start:
        return
    reason = missing_models_dir(worker.models_dir)
    if reason:
        raise ConfigError(f"{reason}, {DEGRADED_HINT}")


def load_models(
    settings: Settings, failures: dict[str, str]
) -> tuple[Manifest | None, PrimaryModel | None, FallbackModel | None]:
    """The manifest and both models; each one that fails is named in ``failures`` (without a
    manifest, neither model can load, and both are named)."""
    models_dir = settings.worker.models_dir
    try:
        reason = missing_models_dir(models_dir)
        if reason:
            raise ArtifactError(reason)
        manifest = load_manifest(models_dir)
    except ArtifactError as exc:
        _failed("manifest", str(exc), failures)
        for model in ("primary", "fallback"):
            _failed(model, "no valid model manifest", failures)
        return None, None, None
    primary = _load(
        "primary",
        lambda: PrimaryModel.load(
            models_dir, manifest, settings.worker.prefer_gpu, settings.worker.primary_threads
        ),
        failures,
    )
    fallback = _load("fallback", lambda: FallbackModel.load(models_dir, manifest), failures)
    return manifest, primary, fallback


def log_transition(breaker: CircuitBreaker) -> Callable[[str, BreakerState, BreakerState], None]:
    """A breaker listener that logs each transition at WARNING with its reason, e.g.
    ``breaker cache closed -> open (failure rate 0.60, slow-call rate 0.00 over 10 calls;
    open for 5 s)``. Called under the breaker's lock, which snapshot() may take again."""

    def listener(name: str, old: BreakerState, new: BreakerState) -> None:
        log.warning("breaker %s %s -> %s (%s)", name, old, new, transition_reason(breaker, new))

    return listener


def transition_reason(breaker: CircuitBreaker, new: BreakerState) -> str:
    snap = breaker.snapshot()
    if new is BreakerState.HALF_OPEN:
        permits = breaker.config.half_open_permits
        return f"open wait of {snap.open_wait_s:g} s over; {permits} trial calls let through"
    if new is BreakerState.CLOSED:  # the trials' window is gone with the state: name the rule
        permits = breaker.config.half_open_permits
        return f"{permits} trial calls under the failure and slow-call thresholds"
    return (
        f"failure rate {snap.failure_rate:.2f}, slow-call rate {snap.slow_call_rate:.2f} "
        f"over {snap.buffered_calls} calls; open for {snap.open_wait_s:g} s"
    )


@dataclass(frozen=True)
class Artifacts:
    """What the ladder loads from files; ``failures``: artifact → why it did not load."""

    manifest: Manifest | None
    primary: PrimaryModel | None
    fallback: FallbackModel | None
    rules: RuleSet | None
    failures: dict[str, str]


def load_artifacts(settings: Settings) -> Artifacts:
    """Load every artifact as the worker does (``check-config`` runs the same code)."""
    failures: dict[str, str] = {}
    manifest, primary, fallback = load_models(settings, failures)
    rules = _load("rules", lambda: load_rules(settings.worker.rules_path), failures)
    return Artifacts(manifest, primary, fallback, rules, failures)


def feature_store(settings: Settings, client: redis.Redis) -> RedisFeatureStore:
    """The feature store the workers read and the labels consumer writes labels into."""
    prefix = settings.redis.key_prefix
    redis_settings = settings.redis
    return RedisFeatureStore(
        client,
        f"{prefix}fs:",
        redis_settings.feature_ttl_days,
        redis_settings.terminal_hold_s,
        owner_writes=redis_settings.card_writes == "owner",
    )


def build_runtime(settings: Settings) -> Runtime:
    require_models_dir(settings)
    artifacts = load_artifacts(settings)
    manifest, primary, fallback = artifacts.manifest, artifacts.primary, artifacts.fallback
    rules, failures = artifacts.rules, artifacts.failures
    version = manifest.model_version if manifest else UNKNOWN_VERSION
    client = redis_client(settings)
    config = breaker_config(settings.breaker)
    breakers = {name: CircuitBreaker(name, config) for name in DEPENDENCIES}
    for breaker in breakers.values():
        breaker.add_listener(log_transition(breaker))
    prefix = settings.redis.key_prefix
    store = feature_store(settings, client)
    writes = WriteBehind(client)  # one connection: cache and store writes keep their order
    primary_level = PrimaryLevel(
        primary,
        store,
        breakers["feature_store"],
        breakers["primary"],
        settings.worker.primary_timeout_ms / 1000,
        writes,
        WriteBehind(client),
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
        shadow_sample_rate=settings.worker.shadow_sample_rate,
    )
    provider = primary.provider if primary else "none"
    return Runtime(
        ladder, client, breakers, provider, problems_of(failures), primary_level, failures
    )
