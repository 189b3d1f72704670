"""The one place a Redis client is built from the settings, so that every client (the worker's
ladder, the labels consumer, the probes, the smoke test, the stack's checks) honours the same
URL, TLS files and timeouts."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker.settings import RedisSettings, Settings


def tls_options(options: RedisSettings) -> dict[str, str]:
    """redis-py's ``ssl_*`` keywords for a ``rediss://`` URL (none for ``redis://``: a plain
    connection refuses them)."""
    return {key: str(path) for key, path in options.tls_files().items() if path is not None}


def build_client(settings: Settings, timeout_s: float, **options: Any) -> redis.Redis:
    """A client of the configured Redis with ``timeout_s`` for connecting and each reply;
    ``options``: more of redis-py's keywords (retries, health checks)."""
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        **tls_options(settings.redis),
        **options,
    )


def redis_client(settings: Settings, timeout_s: float | None = None) -> redis.Redis:
    """No retries and short timeouts: the ladder, not the client, decides what a failure costs.
    A consumer off the hot path (labels) gives a longer ``timeout_s``."""
    timeout_s = settings.redis.socket_timeout_ms / 1000 if timeout_s is None else timeout_s
    return build_client(
        settings,
        timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )
