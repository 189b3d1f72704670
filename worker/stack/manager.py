"""``up`` / ``down`` / ``status`` over the stack's Kafka broker, Redis and PostgreSQL servers.

``up`` is idempotent: a server this stack started that still answers is reused. A Kafka,
Redis or PostgreSQL address given in the settings is used as it is, and nothing is started
for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from confluent_kafka import KafkaException
from redis import RedisError

from worker.errors import StackError
from worker.redis_client import build_client
from worker.settings import Settings
from worker.stack import process
from worker.stack.kafka import KafkaNode, probe_broker
from worker.stack.postgres import PostgresNode, check_answers, external_postgres_url, masked_url
from worker.stack.redis import RedisNode
from worker.stack.secure import SecureProfile


@dataclass(frozen=True)
class ServiceStatus:
    """One line of ``status``: what runs where, and whether the stack owns it."""

    name: str
    address: str
    state: str  # "running" | "stopped" | "external"
    pid: int | None = None

    def describe(self) -> str:
        owner = f" (pid {self.pid})" if self.pid else ""
        return f"{self.name:<8} {self.state:<8} {self.address}{owner}"


@dataclass(frozen=True)
class StackStatus:
    kafka: ServiceStatus
    redis: ServiceStatus
    postgres: ServiceStatus | None  # None: a stack without one (the secure profile)

    def describe(self) -> str:
        services = (self.kafka, self.redis, self.postgres)
        return "\n".join(s.describe() for s in services if s is not None)


# Where the demo records the triage app it started (``worker.demo_triage``).
TRIAGE_PID = "triage/triage.pid"


class Stack:
    """The local stack described by ``settings.stack``.

    ``up`` starts PostgreSQL only ``with_postgres``: the chaos suite's and the manager tests'
    second stacks need no database, and would otherwise contend for its one port. With a
    ``profile`` (``worker.stack.secure``) Kafka runs SASL_SSL and Redis TLS with an ACL user.
    """

    def __init__(
        self, settings: Settings, with_postgres: bool = False, profile: SecureProfile | None = None
    ) -> None:
        self.settings = settings
        self.with_postgres = with_postgres
        self.profile = profile
        root = settings.stack.dir.resolve()
        self.kafka = KafkaNode(
            root / "kafka",
            settings.stack.kafka_port,
            settings.stack.controller_port,
            settings.stack.kafka_heap_mb,
            profile.kafka_security() if profile else None,
        )
        self.redis = RedisNode(
            root / "redis", settings.stack.redis_port, profile.redis_tls() if profile else None
        )
        self.postgres = PostgresNode(root / "postgres", settings.stack.postgres_port)
        # The demo's triage app, a client of the servers: stopped first.
        self.triage_pid_path = root / TRIAGE_PID

    def up(self) -> StackStatus:
        """Start what is not running yet, wait until each server answers, report."""
        timeout_s = self.settings.stack.ready_timeout_s
        if self.profile is not None and self.profile.pki.ensure(self.profile.cert_valid_days):
            # New certificates: servers still running hold the old ones.
            self.kafka.stop()
            self.redis.stop()
        if self.settings.kafka.bootstrap_servers:
            self._check_external_kafka()
        else:
            if self.kafka.record() is None:
                self.kafka.start()
            self.kafka.wait_ready(timeout_s)
        if self.settings.redis.url:
            self._check_external_redis()
        else:
            if self.redis.record() is None:
                self.redis.start()
            self.redis.wait_ready(timeout_s)
        if self.with_postgres:
            self._postgres_up(timeout_s)
        return self.status()

    def _postgres_up(self, timeout_s: float) -> None:
        if external_postgres_url(self.settings):
            self._check_external_postgres()
            return
        if self.postgres.record() is None:
            self.postgres.start()
        self.postgres.wait_ready(timeout_s)

    def down(self) -> StackStatus:
        """Stop only the processes this stack started; external servers are left alone."""
        app = process.read_pid_file(self.triage_pid_path)
        if app is not None:
            process.stop(app)
            self.triage_pid_path.unlink(missing_ok=True)
        self.kafka.stop()
        self.redis.stop()
        self.postgres.stop()
        return self.status()

    def status(self) -> StackStatus:
        return StackStatus(
            kafka=self._kafka_status(),
            redis=self._redis_status(),
            postgres=None if self.profile else self._postgres_status(),
        )

    def _kafka_status(self) -> ServiceStatus:
        if self.settings.kafka.bootstrap_servers:
            return ServiceStatus("kafka", self.settings.kafka.bootstrap_servers, "external")
        record = self.kafka.record()
        state = "running" if record else "stopped"
        return ServiceStatus("kafka", self.kafka.bootstrap, state, record.pid if record else None)

    def _redis_status(self) -> ServiceStatus:
        if self.settings.redis.url:
            return ServiceStatus("redis", _mask_url(self.settings.redis.url), "external")
        record = self.redis.record()
        state = "running" if record else "stopped"
        return ServiceStatus("redis", self.redis.url, state, record.pid if record else None)

    def _postgres_status(self) -> ServiceStatus:
        external = external_postgres_url(self.settings)
        if external:
            return ServiceStatus("postgres", masked_url(external), "external")
        record = self.postgres.record()
        state = "running" if record else "stopped"
        pid = record.pid if record else None
        return ServiceStatus("postgres", self.postgres.address, state, pid)

    def _check_external_kafka(self) -> None:
        bootstrap = self.settings.kafka_bootstrap
        try:
            probe_broker(bootstrap, timeout_s=10.0, config=dict(self.settings.kafka.client_config))
        except KafkaException as exc:
            raise StackError(
                f"the Kafka at FRAUD_KAFKA__BOOTSTRAP_SERVERS={bootstrap} does not answer: {exc}"
            ) from exc

    def _check_external_redis(self) -> None:
        try:
            client = build_client(self.settings, timeout_s=2.0)
            try:
                client.ping()
            finally:
                client.close()
        except RedisError as exc:
            raise StackError(
                f"the Redis at FRAUD_REDIS__URL={_mask_url(self.settings.redis_url)} does not "
                f"answer: {exc}"
            ) from exc

    def _check_external_postgres(self) -> None:
        url = external_postgres_url(self.settings) or ""
        try:
            check_answers(url, timeout_s=10.0)
        except psycopg.Error as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StackError(
                f"the PostgreSQL at FRAUD_TRIAGE__DATABASE_URL={masked_url(url)} does not "
                f"answer ({reason}); start it, or unset the variable to use the stack's own"
            ) from exc


def _mask_url(url: str) -> str:
    """Hide a password in a Redis URL before it is printed."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
