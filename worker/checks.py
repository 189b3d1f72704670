"""What ``check-config`` checks beyond the settings, and the reachability probes that every
command talking to Kafka or Redis runs first, so that a down server is one clear line.

Loading checks (models, rules, schemas) read files only; network checks (the broker, Redis,
a Schema Registry) are skipped with ``--offline``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from worker.access import kafka_reason, kafka_refusal, redis_refusal
from worker.codec import (
    ConfluentSchemaRegistry,
    RecordEncoder,
    SchemaRegistryError,
    default_schemas_dir,
    load_schema,
)
from worker.codec.avro import TRANSACTION_READER_SCHEMA
from worker.codec.configured import schema_registry
from worker.codec.confluent import REGISTER_HINT
from worker.errors import FraudWorkerError
from worker.kafka.config import client_config
from worker.redis_client import build_client
from worker.settings import Settings, masked

BROKER_HINT = (
    "check FRAUD_KAFKA__BOOTSTRAP_SERVERS, or start the local stack: fraud-worker stack up"
)
REDIS_HINT = "check FRAUD_REDIS__URL, or start the local stack: fraud-worker stack up"


class BrokerUnavailable(FraudWorkerError):
    """The Kafka broker did not answer; the message names the address and the fix."""


class BrokerRefused(BrokerUnavailable):
    """The broker answered and refused this client (credentials, certificate): waiting does
    not help; the message names the setting."""


class RedisUnavailable(FraudWorkerError):
    """Redis did not answer; the message names the (masked) URL and the fix."""


class RedisRefused(RedisUnavailable):
    """Redis answered and refused this client (credentials, permissions, certificate)."""


log = logging.getLogger(__name__)
# How often the probe looks at librdkafka's errors while it waits for the metadata: a
# refusal is known after one handshake, long before the probe's timeout.
PROBE_STEP_S = 0.25


def probe_broker(settings: Settings, timeout_s: float = 5.0) -> int:
    """Ask the broker for its metadata; return how many brokers answered, or raise
    BrokerUnavailable with librdkafka's reason (connection refused, …) — BrokerRefused,
    at once, when the broker refused the credentials or its certificate is not trusted.
    It gives up as soon as every broker was found down (a refused connection says so at
    once: a user waits for nothing), else after ``timeout_s``.

    The probe's own client logs nothing: the reason goes into the one error line."""
    errors: list[KafkaError] = []
    admin = AdminClient(client_config(settings, log_level=0, error_cb=errors.append))
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            step = max(min(PROBE_STEP_S, deadline - time.monotonic()), 0.001)
            return len(admin.list_topics(timeout=step).brokers)
        except KafkaException as exc:
            admin.poll(0)  # serves the error callbacks queued while it waited
            refusal = kafka_refusal(errors)
            if refusal is not None:
                raise BrokerRefused(
                    f"the Kafka broker at {settings.kafka_bootstrap} refused this client "
                    f"({refusal[0]}); {refusal[1]}"
                ) from exc
            down = any(e.code() == KafkaError._ALL_BROKERS_DOWN for e in errors)
            timed_out = time.monotonic() >= deadline
            if timed_out or down:
                reason = _reason(errors) or exc.args[0].str()
                within = f" within {timeout_s:g} s" if timed_out else ""
                raise BrokerUnavailable(
                    f"the Kafka broker at {settings.kafka_bootstrap} did not answer{within} "
                    f"({reason}); {BROKER_HINT}"
                ) from exc


def _reason(errors: list[KafkaError]) -> str | None:
    """The most telling error: a connection or authentication failure, not the summary."""
    telling = [e for e in errors if e.code() != KafkaError._ALL_BROKERS_DOWN]
    return kafka_reason((telling or errors)[-1]) if errors else None


def probe_redis(settings: Settings, timeout_s: float = 2.0) -> str:
    """PING Redis; return its version, or raise RedisUnavailable naming the masked URL —
    RedisRefused when it refused the credentials or its certificate is not trusted."""
    url = masked(settings)["redis"]["url"] or settings.redis_url
    client = build_client(settings, timeout_s)
    try:
        client.ping()
        return str(client.info("server").get("redis_version", "?"))
    except redis.RedisError as exc:
        hint = redis_refusal(exc)
        if hint is not None:
            raise RedisRefused(f"Redis at {url} refused this client ({exc}); {hint}") from exc
        raise RedisUnavailable(f"Redis at {url} did not answer ({exc}); {REDIS_HINT}") from exc
    finally:
        client.close()


def require_access(settings: Settings, with_redis: bool = True) -> None:
    """The start-up check of the long-running members (worker, labels consumer, re-scorer,
    triage app): stop with one line when Kafka or Redis refuses this client. A server that
    is down is only logged: the member starts, waits for it, and is not ready meanwhile."""
    try:
        probe_broker(settings)
    except BrokerRefused:
        raise
    except BrokerUnavailable as exc:
        log.warning("starting without the broker: %s", exc)
    if not with_redis:
        return
    try:
        probe_redis(settings)
    except RedisRefused:
        raise
    except RedisUnavailable as exc:
        log.warning("starting without Redis: %s", exc)


def check_schemas(settings: Settings) -> str:
    """The reader schema parses and every subject written resolves to a writer schema; a
    Schema Registry's missing subjects are named all at once, with the command that adds them."""
    registry = schema_registry(settings)
    load_schema(default_schemas_dir() / TRANSACTION_READER_SCHEMA)
    subjects = settings.schemas.written_subjects()
    held = ""
    if isinstance(registry, ConfluentSchemaRegistry):
        there = registry.subjects()
        missing = [subject for subject in subjects if subject not in there]
        if missing:
            raise SchemaRegistryError(
                f"subjects {missing} are not registered at {registry.url}; {REGISTER_HINT}"
            )
        held = f"; the registry holds {len(there)} subjects"
    ids = [RecordEncoder(registry, subject).schema_id for subject in subjects]
    return f"reader schema and output subjects resolve (ids {ids}) in {registry!r}{held}"


def check_topics(settings: Settings, timeout_s: float = 5.0) -> str:
    """The worker's topics exist (a missing one is named, with the command that makes it)."""
    admin = AdminClient(client_config(settings, log_level=0))
    existing = admin.list_topics(timeout=timeout_s).topics
    missing = [name for name in settings.topics.all_topics() if name not in existing]
    if missing:
        raise FraudWorkerError(
            f"missing topics {missing}; create them with: fraud-worker topics create"
        )
    return f"{len(settings.topics.all_topics())} topics present"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name:<10} {self.detail}"


def _run(name: str, check: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(name, True, check())
    except FraudWorkerError as exc:
        return CheckResult(name, False, str(exc))


def artifact_checks(settings: Settings) -> list[CheckResult]:
    """Load the models and the rules exactly as the worker does; one result per artifact."""
    from worker.runtime import ARTIFACTS, load_artifacts  # heavy: onnxruntime, lightgbm

    loaded = load_artifacts(settings)
    models = settings.worker.models_dir
    found = {
        "manifest": loaded.manifest and f"{models}: model version {loaded.manifest.model_version}",
        "primary": loaded.primary and f"loads, runs on {loaded.primary.provider}",
        "fallback": loaded.fallback and "loads",
        "rules": loaded.rules and f"{loaded.rules.source}: {len(loaded.rules.rules)} rules",
    }
    return [
        CheckResult(
            name, name not in loaded.failures, loaded.failures.get(name) or found[name] or ""
        )
        for name in ARTIFACTS
    ]


def run_checks(settings: Settings, offline: bool) -> list[CheckResult]:
    """Every check, in order; a failed check does not stop the next ones."""
    results = artifact_checks(settings)
    if offline and settings.schemas.registry_url:
        results.append(CheckResult("schemas", True, "skipped (--offline: a Schema Registry)"))
    else:
        results.append(_run("schemas", lambda: check_schemas(settings)))
    if offline:
        return [*results, CheckResult("network", True, "skipped (--offline)")]
    broker = _run("broker", lambda: f"{probe_broker(settings)} broker(s) answered")
    results.append(broker)
    if broker.ok:
        results.append(_run("topics", lambda: check_topics(settings)))
    results.append(_run("redis", lambda: f"Redis {probe_redis(settings)} answered"))
    return results
