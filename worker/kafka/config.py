"""librdkafka configuration built from the settings, security pass-through included."""

from __future__ import annotations

from typing import Any

from worker.settings import Settings


def client_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Base config for any client: bootstrap servers plus the user's pass-through keys."""
    config: dict[str, Any] = {"bootstrap.servers": settings.kafka_bootstrap}
    config.update(settings.kafka.client_config)
    config.update(overrides)
    return config
