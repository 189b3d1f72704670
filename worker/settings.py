"""The one settings object: environment variables (prefix ``FRAUD_``) and an optional YAML file.

Nested keys use ``__`` in the environment: ``FRAUD_KAFKA__BOOTSTRAP_SERVERS``. A YAML file is
read from ``FRAUD_CONFIG_FILE`` (environment wins over the file). Invalid values fail at once
with a :class:`ConfigError` naming the key, so a worker never starts half-configured.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from worker.errors import ConfigError

ENV_PREFIX = "FRAUD_"
CONFIG_FILE_ENV = "FRAUD_CONFIG_FILE"

Port = Annotated[int, Field(ge=1, le=65535)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Frozen):
    """Where Kafka is. ``bootstrap_servers`` unset means: use the local stack's broker."""

    bootstrap_servers: str | None = None
    # Passed verbatim to librdkafka (security.protocol, sasl.*, ssl.*): secrets live here.
    client_config: dict[str, str] = Field(default_factory=dict)


class RedisSettings(_Frozen):
    """Where Redis is. ``url`` unset means: use the local stack's server."""

    url: str | None = None


class StackSettings(_Frozen):
    """The local development stack (a Kafka broker from Maven jars and a Redis server)."""

    dir: Path = Path(".stack")
    kafka_port: Port = 19092
    controller_port: Port = 19093
    redis_port: Port = 16379
    kafka_heap_mb: int = Field(default=512, ge=128)
    ready_timeout_s: float = Field(default=90.0, gt=0)


class TopicSettings(_Frozen):
    """Topic names and partition counts. The input's partitions cap a group's parallelism."""

    input: str = "transactions"
    scored: str = "transactions.scored"
    review: str = "transactions.review"
    dead_letter: str = "transactions.dlq"
    input_partitions: int = Field(default=6, ge=1)
    output_partitions: int = Field(default=6, ge=1)

    def all_topics(self) -> dict[str, int]:
        """Every topic the worker uses, with its partition count."""
        return {
            self.input: self.input_partitions,
            self.scored: self.output_partitions,
            self.review: self.output_partitions,
            self.dead_letter: 1,
        }


class Settings(BaseSettings):
    """Everything configurable, validated at construction."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    stack: StackSettings = StackSettings()
    topics: TopicSettings = TopicSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    @property
    def kafka_bootstrap(self) -> str:
        """The bootstrap servers in use: the configured ones, else the local stack's."""
        return self.kafka.bootstrap_servers or f"127.0.0.1:{self.stack.kafka_port}"

    @property
    def redis_url(self) -> str:
        """The Redis URL in use: the configured one, else the local stack's."""
        return self.redis.url or f"redis://127.0.0.1:{self.stack.redis_port}/0"


def _key_name(loc: tuple[int | str, ...]) -> str:
    dotted = ".".join(str(part) for part in loc)
    env = ENV_PREFIX + "__".join(str(part) for part in loc).upper()
    return f"{dotted} ({env})"


def load_settings(**overrides: Any) -> Settings:
    """Build and validate the settings; a bad value raises ConfigError naming the key."""
    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file and not Path(config_file).is_file():
        raise ConfigError(f"{CONFIG_FILE_ENV}: no such file: {config_file}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_key_name(err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
