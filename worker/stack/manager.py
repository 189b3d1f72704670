"""``up`` / ``down`` / ``status`` over the stack's Kafka broker and Redis server.

``up`` is idempotent: a server this stack started that still answers is reused. A Kafka or
Redis address given in the settings is used as it is, and nothing is started for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException
from redis import RedisError

from worker.errors import StackError
from worker.settings import Settings
from worker.stack.kafka import KafkaNode, probe_broker
from worker.stack.redis import RedisNode, ping


@dataclass(frozen=True)
class ServiceStatus:
    """One line of ``status``: what runs where, and whether the stack owns it."""

    name: str
    address: str
    state: str  # "running" | "stopped" | "external"
    pid: int | None = None

    def describe(self) -> str:
        owner = f" (pid {self.pid})" if self.pid else ""
        return f"{self.name:<6} {self.state:<8} {self.address}{owner}"


@dataclass(frozen=True)
class StackStatus:
    kafka: ServiceStatus
    redis: ServiceStatus

    def describe(self) -> str:
        return f"{self.kafka.describe()}\n{self.redis.describe()}"


class Stack:
    """The local stack described by ``settings.stack``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        root = settings.stack.dir.resolve()
        self.kafka = KafkaNode(
            root / "kafka",
            settings.stack.kafka_port,
            settings.stack.controller_port,
            settings.stack.kafka_heap_mb,
        )
        self.redis = RedisNode(root / "redis", settings.stack.redis_port)

    def up(self) -> StackStatus:
        """Start what is not running yet, wait until each server answers, report."""
        timeout_s = self.settings.stack.ready_timeout_s
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
        return self.status()

    def down(self) -> StackStatus:
        """Stop only the processes this stack started; external servers are left alone."""
        self.kafka.stop()
        self.redis.stop()
        return self.status()

    def status(self) -> StackStatus:
        return StackStatus(kafka=self._kafka_status(), redis=self._redis_status())

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

    def _check_external_kafka(self) -> None:
        bootstrap = self.settings.kafka_bootstrap
        try:
            probe_broker(bootstrap, timeout_s=10.0)
        except KafkaException as exc:
            raise StackError(
                f"the Kafka at FRAUD_KAFKA__BOOTSTRAP_SERVERS={bootstrap} does not answer: {exc}"
            ) from exc

    def _check_external_redis(self) -> None:
        try:
            ping(self.settings.redis_url)
        except RedisError as exc:
            raise StackError(
                f"the Redis at FRAUD_REDIS__URL={_mask_url(self.settings.redis_url)} does not "
                f"answer: {exc}"
            ) from exc


def _mask_url(url: str) -> str:
    """Hide a password in a Redis URL before it is printed."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
