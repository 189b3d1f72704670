"""The chaos suite's own Kafka broker and Redis: a second stack in its own folder and ports.

The project's local stack (``.stack/``) serves other engineers' tests while the suite runs, so
the suite never signals it: every fault lands on servers this module started, and ``down``
stops only those. The broker's jars are hard-linked from the local stack when it has them
(no download, no copy), else resolved by Maven as the local stack does.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from confluent_kafka.admin import AdminClient

from worker.kafka.config import LIBRDKAFKA_LOGGER
from worker.settings import Settings
from worker.stack import Stack

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCAL_JARS = PROJECT_ROOT / ".stack" / "kafka" / "jars"
DEFAULT_DIR = PROJECT_ROOT / ".stack-chaos"


@dataclass(frozen=True)
class StackPorts:
    """Loopback ports of a chaos stack; the defaults sit beside the local stack's 1909x."""

    kafka: int = 29092
    controller: int = 29093
    redis: int = 26379


def chaos_settings(stack_dir: Path = DEFAULT_DIR, ports: StackPorts | None = None) -> Settings:
    """Settings that point at the chaos stack only: validated from data, so that no FRAUD_*
    variable of the caller's shell can redirect a fault to someone else's server."""
    ports = ports or StackPorts()
    return Settings.model_validate(
        {
            "stack": {
                "dir": stack_dir,
                "kafka_port": ports.kafka,
                "controller_port": ports.controller,
                "redis_port": ports.redis,
                "ready_timeout_s": 120,
            }
        }
    )


def link_jars(target: Path, source: Path = LOCAL_JARS) -> None:
    """Hard-link the local stack's Kafka jars (and its pom stamp) into ``target``; a copy when
    the folders are on different file systems. Nothing is done when ``target`` has jars."""
    if any(target.glob("kafka_2.13-*.jar")) or not source.is_dir():
        return
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file():
            try:
                os.link(path, target / path.name)
            except OSError:
                shutil.copy2(path, target / path.name)


class ChaosStack:
    """A broker and a Redis that the suite may kill, pause and restart at will."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stack = Stack(settings)

    @property
    def bootstrap(self) -> str:
        return self.stack.kafka.bootstrap

    def new_admin(self) -> AdminClient:
        """A fresh admin client for one operation, gone right after it. librdkafka 2.16 is
        fragile with admin clients that live through a killed broker: their destroy can
        wait forever on a broker thread (seen: the suite stuck in Admin_dealloc), and an
        idle one aborted the process once (``rd_kafka_enq_once_del_source_return``
        assertion). A client that lives seconds, between faults, meets neither."""
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "logger": LIBRDKAFKA_LOGGER}
        return AdminClient(config)

    @property
    def redis_url(self) -> str:
        return self.stack.redis.url

    def up(self, fresh: bool = True) -> None:
        """Start both servers; ``fresh`` wipes the broker's data first when it is not running
        (old scenarios' topics only slow a restart's log recovery)."""
        kafka = self.stack.kafka
        if fresh and kafka.record() is None:
            shutil.rmtree(kafka.data_dir, ignore_errors=True)
        link_jars(kafka.jar_dir)
        self.stack.up()

    def heal(self) -> None:
        """Undo whatever a failed fault left behind, before the next scenario starts."""
        for node in (self.stack.kafka, self.stack.redis):
            record = node.record()
            if record is not None:
                os.kill(record.pid, 18)  # SIGCONT: a no-op unless a pause was left over
        self.stack.up()
        client = self.redis_client()
        try:
            client.config_set("maxmemory", 0)
            client.flushdb()
        finally:
            client.close()

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=5)

    def down(self) -> None:
        self.stack.down()
