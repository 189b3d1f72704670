"""The one settings object: environment variables (prefix ``FRAUD_``) and an optional YAML file.

Nested keys use ``__`` in the environment: ``FRAUD_KAFKA__BOOTSTRAP_SERVERS``. A YAML file is
read from ``FRAUD_CONFIG_FILE`` (environment wins over the file). Invalid values fail at once
with a :class:`ConfigError` naming the key, so a worker never starts half-configured.
"""

from __future__ import annotations

import json
import os
import re
import typing
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from confluent_kafka import KafkaException, Producer
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)
from redis import ConnectionPool

from worker.errors import ConfigError

ENV_PREFIX = "FRAUD_"
CONFIG_FILE_ENV = "FRAUD_CONFIG_FILE"

Port = Annotated[int, Field(ge=1, le=65535)]
# Kafka's own rule for topic names: 1 to 249 of these characters.
TopicName = Annotated[str, Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")]
# A wait that must end: infinity or NaN would make a breaker, or the stack, wait forever.
FiniteSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def packaged_path(*parts: str) -> Path:
    """A data file or folder shipped inside the ``worker`` package (``schemas``,
    ``rules/default.yaml``), found the same way in a checkout and in an installed wheel; the
    repository's top-level ``schemas/`` and ``rules/rules.yaml`` are links to these."""
    found = resources.files("worker").joinpath(*parts)
    if not isinstance(found, Path):  # imported from a zip: readers need files on disk
        raise ConfigError(
            f"the worker package's {'/'.join(parts)} is not a file on disk ({found}); "
            "install the wheel with pip, which unpacks it"
        )
    return found


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Frozen):
    """Where Kafka is. ``bootstrap_servers`` unset means: use the local stack's broker."""

    bootstrap_servers: str | None = None
    # Passed verbatim to librdkafka (security.protocol, sasl.*, ssl.*): secrets live here.
    client_config: dict[str, str] = Field(default_factory=dict)

    @field_validator("client_config")
    @classmethod
    def _known_to_librdkafka(cls, config: dict[str, str]) -> dict[str, str]:
        """librdkafka itself judges the keys and values: an unknown key or a bad value is
        refused at start, not when the first client is built."""
        if config:
            try:
                # Building a client checks every property; this one connects to nothing
                # (no bootstrap servers) and logs nothing (log_level 0).
                Producer({**config, "bootstrap.servers": "", "log_level": 0})
            except KafkaException as exc:
                raise ValueError(exc.args[0].str()) from None
        return config


class RedisSettings(_Frozen):
    """Where Redis is. ``url`` unset means: use the local stack's server. ``rediss://`` URLs
    use TLS; a password in the URL is masked wherever settings are printed."""

    url: str | None = None

    @field_validator("url")
    @classmethod
    def _a_redis_url(cls, url: str | None) -> str | None:
        if url is not None:
            ConnectionPool.from_url(url)  # connects to nothing; its ValueError names the problem
        return url

    # Short: a hung Redis must cost a batch milliseconds, not seconds (the ladder degrades).
    socket_timeout_ms: int = Field(default=100, ge=1)
    cache_ttl_s: int = Field(default=3600, ge=1)
    feature_ttl_days: int = Field(default=45, ge=39)
    # How long a worker keeps terminal counts before writing them, one call per terminal
    # (no window reads them for a week: ``worker/features/deferred.py``); 0: every batch.
    terminal_hold_s: float = Field(default=1.0, ge=0, le=60)
    # Who writes a card's windows. "owner": the input is keyed by card id, so only the member
    # that owns the card's partition writes them, with plain BITFIELDs decided from what its
    # batch read (``worker/features/owned.py``). "shared": any input keying; a script checks
    # every slot in Redis (several members may write one card at once).
    card_writes: Literal["owner", "shared"] = "owner"
    key_prefix: str = "fw:"
    # TLS (``rediss://`` only): the CA that signed the server's certificate (unset: the
    # system's CAs), and a client certificate and key where the server asks for one (mTLS).
    ssl_ca_certs: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> RedisSettings:
        given = {key: path for key, path in self.tls_files().items() if path is not None}
        if given and not (self.url or "").startswith("rediss://"):
            names = ", ".join(f"FRAUD_REDIS__{key.upper()}" for key in given)
            raise ValueError(f"{names} set, but FRAUD_REDIS__URL is not a rediss:// (TLS) URL")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together (a client certificate)")
        for key, path in given.items():
            if not path.is_file():
                raise ValueError(f"FRAUD_REDIS__{key.upper()}: no such file {path}")
        return self

    def tls_files(self) -> dict[str, Path | None]:
        """redis-py's ``ssl_*`` options as set here (None: unset)."""
        return {
            "ssl_ca_certs": self.ssl_ca_certs,
            "ssl_certfile": self.ssl_certfile,
            "ssl_keyfile": self.ssl_keyfile,
        }


class SchemaSettings(_Frozen):
    """Writer schemas resolve from a Schema Registry when one is configured, else from the
    local id map ``registry.json`` in ``local_dir``: unset, the schemas shipped inside the
    package (``worker/schemas``; ``schemas/`` in a checkout links to it).

    The registry speaks Confluent's API (Apicurio's is at ``/apis/ccompat/v7``); its TLS is
    checked against ``registry_ca_location`` (a PEM file or a folder of them; unset: the
    system's CAs), and a client certificate is sent when one is named."""

    registry_url: str | None = None
    registry_user: str | None = None
    registry_password: str | None = None
    registry_ca_location: Path | None = None
    registry_certificate_location: Path | None = None
    registry_key_location: Path | None = None
    registry_key_password: str | None = None
    local_dir: Path | None = None
    # The input's subject: what the simulator, the demo and the benchmarks write with (their
    # schema version resolved to the registry's id), and what ``schemas register`` fills.
    input_subject: str = "transactions-value"
    scored_subject: str = "transactions.scored-value"
    review_subject: str = "transactions.review-value"
    dead_letter_subject: str = "transactions.dlq-value"
    labels_subject: str = "transactions.labels-value"
    shadow_subject: str = "transactions.shadow-value"
    degraded_subject: str = "transactions.degraded-value"

    @field_validator("registry_url")
    @classmethod
    def _an_http_url(cls, url: str | None) -> str | None:
        """Refused at start: the client would otherwise fail at the first message."""
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    "must look like http(s)://host[:port][/path], e.g. "
                    "http://127.0.0.1:18081/apis/ccompat/v7"
                )
        return url

    @field_validator(
        "registry_ca_location", "registry_certificate_location", "registry_key_location"
    )
    @classmethod
    def _exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.exists():
            raise ValueError(f"no such file or folder: {path}")
        return path

    @model_validator(mode="after")
    def _pairs(self) -> SchemaSettings:
        """Half a credential is a typo, not a choice: say so instead of sending none."""
        if (self.registry_user is None) != (self.registry_password is None):
            raise ValueError(
                "set both FRAUD_SCHEMAS__REGISTRY_USER and FRAUD_SCHEMAS__REGISTRY_PASSWORD, "
                "or neither"
            )
        if self.registry_key_location and not self.registry_certificate_location:
            raise ValueError(
                "FRAUD_SCHEMAS__REGISTRY_KEY_LOCATION needs "
                "FRAUD_SCHEMAS__REGISTRY_CERTIFICATE_LOCATION"
            )
        in_url = self.registry_url and urlsplit(self.registry_url).username is not None
        if in_url and self.registry_user is not None:
            raise ValueError(
                "credentials both in FRAUD_SCHEMAS__REGISTRY_URL and in "
                "FRAUD_SCHEMAS__REGISTRY_USER: keep one"
            )
        return self

    def written_subjects(self) -> tuple[str, ...]:
        """The subjects the worker and its companions write with (labels: the simulator)."""
        return (
            self.scored_subject,
            self.review_subject,
            self.dead_letter_subject,
            self.labels_subject,
            self.shadow_subject,
            self.degraded_subject,
        )


class BreakerSettings(_Frozen):
    """Circuit breakers of the cache, the feature store and the primary (FACTS §5 semantics)."""

    window_size: int = Field(default=20, ge=1)
    minimum_calls: int = Field(default=10, ge=1)
    failure_rate_threshold: float = Field(default=0.5, gt=0, le=1)
    slow_call_rate_threshold: float = Field(default=1.0, gt=0, le=1)
    slow_call_ms: int = Field(default=250, ge=1)
    half_open_permits: int = Field(default=3, ge=1)
    open_wait_s: FiniteSeconds = 5.0
    max_open_wait_s: FiniteSeconds = 60.0

    @model_validator(mode="after")
    def _check(self) -> BreakerSettings:
        if self.minimum_calls > self.window_size:
            raise ValueError("minimum_calls must not exceed window_size (it could never open)")
        if self.max_open_wait_s < self.open_wait_s:
            raise ValueError("max_open_wait_s must be at least open_wait_s")
        return self


class WorkerSettings(_Frozen):
    """The consumer loop and the ladder."""

    group_id: str = Field(default="fraud-worker", min_length=1)
    # A batch is what has arrived, up to batch_max; with nothing there, the loop waits up
    # to batch_wait_ms for the first message (then takes whatever came with it). Bounded:
    # a stop signal is honoured between waits, so this bounds how long SIGTERM waits.
    batch_max: int = Field(default=1000, ge=1, le=100_000)
    batch_wait_ms: int = Field(default=100, ge=0, le=10_000)
    batch_budget_ms: int = Field(default=500, ge=1)
    primary_timeout_ms: int = Field(default=100, ge=1)
    flush_timeout_ms: int = Field(default=30_000, ge=100)
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    review_threshold: float = Field(default=0.5, ge=0, le=1)
    block_threshold: float = Field(default=0.9, ge=0, le=1)
    # Artifacts, not packaged: relative to the working directory (a checkout's models/).
    # Unset and missing, ``run`` stops with one line naming FRAUD_WORKER__MODELS_DIR.
    models_dir: Path = Path("models")
    # Unset: the default rules shipped inside the package (a checkout's rules/rules.yaml).
    rules_path: Path = Field(default_factory=lambda: packaged_path("rules", "default.yaml"))
    prefer_gpu: bool = True
    primary_threads: int = Field(default=1, ge=1)
    # /metrics, /healthz and /readyz; port 0 turns the endpoint off. Loopback unless told
    # (a container sets 0.0.0.0 so that probes and scrapes reach it).
    metrics_port: int = Field(default=9400, ge=0, le=65535)
    metrics_host: str = Field(default="127.0.0.1", min_length=1)
    log_json: bool = False
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    # at_least_once: outputs acknowledged, then offsets stored (duplicates possible after a
    # crash); exactly_once: outputs and input offsets in one Kafka transaction per batch.
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    # Names this member's transactional producer (exactly_once): a restarted member with the
    # same id fences its predecessor at once. Unset: group id, host name and process id.
    instance_id: str | None = None
    # Start (and report ready) even when a level's artifacts failed to load.
    allow_degraded_start: bool = False
    # Not ready while the member owns no partition this long after joining.
    assignment_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    # The largest record the worker produces (key + value + headers); librdkafka's own
    # message.max.bytes is set to it. A result that would not fit is dead-lettered instead.
    max_message_bytes: int = Field(default=1_000_000, ge=16_384, le=100_000_000)
    # A dead letter keeps at most this much of the raw input (the rest is fetched from the
    # source topic/partition/offset it names).
    dead_letter_raw_max_bytes: int = Field(default=65_536, ge=0)
    # Share of the events the primary answered that the fallback and the rules also score,
    # as shadow results (``topics.shadow``, never acted on): every level's live quality is
    # then known before it is needed. 0 turns shadow scoring off.
    shadow_sample_rate: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> WorkerSettings:
        if self.review_threshold > self.block_threshold:
            raise ValueError("review_threshold must not exceed block_threshold")
        worst_batch_ms = self.batch_budget_ms + self.flush_timeout_ms
        if self.max_poll_interval_ms <= worst_batch_ms:
            raise ValueError(
                f"max_poll_interval_ms must exceed the worst-case batch time "
                f"(batch_budget_ms + flush_timeout_ms = {worst_batch_ms})"
            )
        if self.dead_letter_raw_max_bytes > self.max_message_bytes // 2:
            raise ValueError("dead_letter_raw_max_bytes must be at most half of max_message_bytes")
        return self


class SecureStackSettings(_Frozen):
    """The local stack's ``secure`` profile (``fraud-worker stack up --profile secure``):
    Kafka over SASL_SSL and Redis over TLS, in a folder and on ports of their own."""

    dir: Path = Path(".stack-secure")
    kafka_port: Port = 30092
    controller_port: Port = 30093
    redis_port: Port = 30379
    # The CA and server certificate made at ``up``; made again a day before they expire.
    cert_valid_days: int = Field(default=30, ge=2, le=825)


class StackSettings(_Frozen):
    """The local development stack (a Kafka broker from Maven jars and a Redis server)."""

    dir: Path = Path(".stack")
    kafka_port: Port = 19092
    controller_port: Port = 19093
    redis_port: Port = 16379
    postgres_port: Port = 15432
    kafka_heap_mb: int = Field(default=512, ge=128)
    ready_timeout_s: FiniteSeconds = 90.0
    secure: SecureStackSettings = SecureStackSettings()


class LabelsSettings(_Frozen):
    """``fraud-worker labels``: the labels consumer (feature store, live quality)."""

    # Its own group: each label is applied once, by whichever member owns its partition.
    group_id: str = Field(default="fraud-worker-labels", min_length=1)
    batch_max: int = Field(default=1000, ge=1, le=100_000)
    batch_wait_ms: int = Field(default=200, ge=0, le=10_000)
    # A label applied once is remembered this long, so a redelivery counts once.
    dedupe_ttl_days: int = Field(default=60, ge=1)
    # While Redis is down a batch waits and is applied again (never skipped).
    retry_wait_s: FiniteSeconds = 1.0
    metrics_port: int = Field(default=9401, ge=0, le=65535)


class RescoreSettings(_Frozen):
    """``fraud-worker rescore``: degraded answers scored again once the primary is back."""

    group_id: str = Field(default="fraud-worker-rescore", min_length=1)
    batch_max: int = Field(default=1000, ge=1, le=100_000)
    batch_wait_ms: int = Field(default=200, ge=0, le=10_000)
    # Degraded answers older than this (since they were produced) are not re-scored.
    max_age_s: FiniteSeconds = 6 * 3600.0
    # While the primary or the feature store is down a batch waits and is tried again.
    retry_wait_s: FiniteSeconds = 1.0
    metrics_port: int = Field(default=9402, ge=0, le=65535)


class TriageSettings(_Frozen):
    """``fraud-worker triage``: the analysts' web app over the review queue."""

    # SQLAlchemy URL of the queue's database; unset: SQLite at ``data_dir/triage.db``.
    # PostgreSQL: ``postgresql+psycopg://user:password@host:5432/db``.
    database_url: str | None = None
    data_dir: Path = Path(".triage")
    # Loopback unless told (a container sets 0.0.0.0).
    host: str = Field(default="127.0.0.1", min_length=1)
    port: Port = 8400
    # Signs the session cookies; unset: generated once into ``data_dir/secret_key`` (0600).
    secret_key: str | None = Field(default=None, min_length=32)
    # Send the session cookie over HTTPS only (set behind a TLS-terminating proxy).
    https_only: bool = False
    session_max_age_s: int = Field(default=8 * 3600, ge=60)
    # A claim nobody renews is free again after this long.
    claim_ttl_s: int = Field(default=900, ge=10)
    # Its own consumer group over the review and degraded topics.
    group_id: str = Field(default="fraud-triage", min_length=1)
    batch_max: int = Field(default=500, ge=1, le=100_000)
    batch_wait_ms: int = Field(default=200, ge=0, le=10_000)
    # While the database is down a batch waits and is stored again (never skipped).
    retry_wait_s: FiniteSeconds = 1.0
    # Queue degraded answers too (``topics.degraded``), for a lead to close in bulk.
    include_degraded: bool = True
    # How often decisions waiting for the labels topic are published.
    publish_interval_ms: int = Field(default=500, ge=10, le=60_000)
    page_size: int = Field(default=50, ge=1, le=1000)

    @field_validator("database_url")
    @classmethod
    def _a_database_url(cls, url: str | None) -> str | None:
        if url is not None:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                parsed = make_url(url)
            except ArgumentError:
                raise ValueError(
                    "not a database URL; write sqlite:///path/to/triage.db or "
                    "postgresql+psycopg://user:password@host:5432/db"
                ) from None
            if parsed.get_backend_name() not in ("sqlite", "postgresql"):
                raise ValueError("only sqlite:/// and postgresql+psycopg:// URLs are supported")
        return url


class TopicSettings(_Frozen):
    """Topic names and partition counts. The input's partitions cap a group's parallelism."""

    input: TopicName = "transactions"
    scored: TopicName = "transactions.scored"
    review: TopicName = "transactions.review"
    dead_letter: TopicName = "transactions.dlq"
    # What became known after scoring (chargebacks, analysts' decisions): the labels feed.
    labels: TopicName = "transactions.labels"
    # Shadow results of the fallback and the rules on a sample of primary answers.
    shadow: TopicName = "transactions.shadow"
    # Degraded answers that no human needs to see now, kept apart for re-scoring.
    degraded: TopicName = "transactions.degraded"
    input_partitions: int = Field(default=6, ge=1)
    output_partitions: int = Field(default=6, ge=1)

    def all_topics(self) -> dict[str, int]:
        """Every topic the worker uses, with its partition count."""
        return {
            self.input: self.input_partitions,
            self.scored: self.output_partitions,
            self.review: self.output_partitions,
            self.dead_letter: 1,
            self.labels: self.output_partitions,
            self.shadow: self.output_partitions,
            self.degraded: self.output_partitions,
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
    schemas: SchemaSettings = SchemaSettings()
    breaker: BreakerSettings = BreakerSettings()
    worker: WorkerSettings = WorkerSettings()
    stack: StackSettings = StackSettings()
    topics: TopicSettings = TopicSettings()
    labels: LabelsSettings = LabelsSettings()
    rescore: RescoreSettings = RescoreSettings()
    triage: TriageSettings = TriageSettings()

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
    def triage_database_url(self) -> str:
        """The queue's database: the configured URL, else SQLite in the triage data dir."""
        return self.triage.database_url or f"sqlite:///{self.triage.data_dir / 'triage.db'}"

    @property
    def redis_url(self) -> str:
        """The Redis URL in use: the configured one, else the local stack's."""
        return self.redis.url or f"redis://127.0.0.1:{self.stack.redis_port}/0"


SECRET_KEYS = ("password", "secret", "sasl", "ssl.key", "token")


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, with secrets (passwords, keys, URL credentials)
    masked, for ``check-config`` and logs."""
    data = settings.model_dump(mode="json")
    for section in data.values():
        if isinstance(section, dict):
            _mask_section(section)
    return data


def _mask_section(section: dict[str, Any]) -> None:
    for key, value in list(section.items()):
        if isinstance(value, dict):
            _mask_section(value)
        elif isinstance(value, str) and any(word in key.lower() for word in SECRET_KEYS):
            section[key] = "***"
        elif isinstance(value, str) and "://" in value and "@" in value:
            scheme, _, rest = value.partition("://")
            credentials, _, host = rest.rpartition("@")
            section[key] = f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def _key_name(loc: tuple[int | str, ...]) -> str:
    loc = tuple(part for part in loc if part != "_check")
    dotted = ".".join(str(part) for part in loc)
    env = ENV_PREFIX + "__".join(str(part) for part in loc).upper()
    return f"{dotted} ({env})"


def load_settings(**overrides: Any) -> Settings:
    """Build and validate the settings; a bad value raises ConfigError naming the key (or
    the variable, or the file)."""
    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file:
        _check_config_file(Path(config_file))
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_key_name(err['loc'])}: {_one_line(err['msg'])}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
    except SettingsError as exc:
        raise ConfigError(_unparsable_variable(exc)) from exc


def _one_line(text: str) -> str:
    return " ".join(text.removeprefix("Value error, ").split())


def _check_config_file(path: Path) -> None:
    """The file named by FRAUD_CONFIG_FILE exists and holds a YAML mapping."""
    where = f"{CONFIG_FILE_ENV}={path}"
    if not path.is_file():
        raise ConfigError(f"{where}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"{where}: not valid YAML{at}: {_one_line(str(problem))}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(
            f"{where}: the file must hold a mapping of sections (kafka:, worker:, …), "
            f"not a {type(data).__name__}"
        )


def _unparsable_variable(exc: SettingsError) -> str:
    """pydantic-settings names only the section; name the variable whose JSON is bad."""
    match = re.search(r'field "(\w+)"', str(exc))
    section = match.group(1) if match else ""
    for name, value in sorted(os.environ.items()):
        upper = name.upper()
        if upper not in _json_variables():
            continue
        if section and not upper.startswith(f"{ENV_PREFIX}{section.upper()}"):
            continue
        try:
            json.loads(value)
        except ValueError as error:
            return f"{upper}: not valid JSON ({error}); write it as a JSON object, e.g. '{{}}'"
    prefix = f"{ENV_PREFIX}{section.upper()}" if section else ENV_PREFIX
    return f"{prefix}…: a variable could not be parsed ({exc}); check its JSON"


def _json_variables() -> set[str]:
    """The variables that pydantic-settings reads as JSON: whole sections and dict fields."""
    names = set()
    for section, field in Settings.model_fields.items():
        names.add(f"{ENV_PREFIX}{section.upper()}")
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for key, inner in model.model_fields.items():
                if typing.get_origin(inner.annotation) in (dict, list):
                    names.add(f"{ENV_PREFIX}{section.upper()}__{key.upper()}")
    return names
