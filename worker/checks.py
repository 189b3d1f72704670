"""What ``check-config`` checks beyond the settings, and the reachability probes that every
command talking to Kafka or Redis runs first, so that a down server is one clear line.

Loading checks (models, rules, schemas) read files only; network checks (the broker, Redis,
a Schema Registry) are skipped with ``--offline``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from worker.codec import RecordEncoder, default_schemas_dir, load_schema
from worker.codec.avro import TRANSACTION_READER_SCHEMA
from worker.codec.configured import schema_registry
from worker.errors import FraudWorkerError
from worker.kafka.config import client_config
from worker.settings import Settings, masked

BROKER_HINT = (
    "check FRAUD_KAFKA__BOOTSTRAP_SERVERS, or start the local stack: fraud-worker stack up"
)
REDIS_HINT = "check FRAUD_REDIS__URL, or start the local stack: fraud-worker stack up"


class BrokerUnavailable(FraudWorkerError):
    """The Kafka broker did not answer; the message names the address and the fix."""


class RedisUnavailable(FraudWorkerError):
    """Redis did not answer; the message names the (masked) URL and the fix."""


def probe_broker(settings: Settings, timeout_s: float = 5.0) -> int:
    """Ask the broker for its metadata; return how many brokers answered, or raise
    BrokerUnavailable with librdkafka's reason (connection refused, authentication, …).

    The probe's own client logs nothing: the reason goes into the one error line."""
    errors: list[KafkaError] = []
    admin = AdminClient(client_config(settings, log_level=0, error_cb=errors.append))
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        admin.poll(0)  # serves the error callbacks queued while it waited
        reason = _reason(errors) or exc.args[0].str()
        raise BrokerUnavailable(
            f"the Kafka broker at {settings.kafka_bootstrap} did not answer within "
            f"{timeout_s:g} s ({reason}); {BROKER_HINT}"
        ) from exc
    return len(metadata.brokers)


def _reason(errors: list[KafkaError]) -> str | None:
    """The most telling error: a connection or authentication failure, not the summary."""
    telling = [e for e in errors if e.code() != KafkaError._ALL_BROKERS_DOWN]
    return (telling or errors)[-1].str() if errors else None


def probe_redis(settings: Settings, timeout_s: float = 2.0) -> str:
    """PING Redis; return its version, or raise RedisUnavailable naming the masked URL."""
    url = masked(settings)["redis"]["url"] or settings.redis_url
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    try:
        client.ping()
        return str(client.info("server").get("redis_version", "?"))
    except redis.RedisError as exc:
        raise RedisUnavailable(f"Redis at {url} did not answer ({exc}); {REDIS_HINT}") from exc
    finally:
        client.close()


def check_schemas(settings: Settings) -> str:
    """The reader schema parses and every output subject resolves to a writer schema."""
    registry = schema_registry(settings)
    load_schema(default_schemas_dir() / TRANSACTION_READER_SCHEMA)
    subjects = settings.schemas
    ids = [
        RecordEncoder(registry, subject).schema_id
        for subject in (
            subjects.scored_subject,
            subjects.review_subject,
            subjects.dead_letter_subject,
        )
    ]
    return f"reader schema and output subjects resolve (ids {ids}) in {registry!r}"


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
